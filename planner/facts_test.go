package planner

import (
	"context"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// The kernel and security-module state come with the one batched read and
// land in the host's plan.
func TestPlanCarriesFacts(t *testing.T) {
	ts, _ := targets(t, []string{"a"}, 1)
	conn := &fakeConnector{runs: map[string]*atomic.Int32{"a": new(atomic.Int32)}}
	p := (&Engine{Connector: conn}).Plan(context.Background(), ts)
	h := p.Hosts[0]
	if h.Status != StatusPlanned {
		t.Fatalf("%s %s", h.Status, h.Error)
	}
	if got := conn.runs["a"].Load(); got != 1 {
		t.Errorf("plan ran %d commands, want 1", got)
	}
	uname, err := exec.Command("uname", "-r").Output()
	if err != nil {
		t.Fatal(err)
	}
	if h.Facts == nil || h.Facts.Kernel != strings.TrimSpace(string(uname)) || h.Facts.SELinux == "" || h.Facts.AppArmor == "" {
		t.Fatalf("facts %+v, want kernel %q and SELinux/AppArmor states", h.Facts, uname)
	}
}
