package labtest

import (
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/testinfra"
)

// ApplyCutDuring applies p on h while the host's tool (an absolute path,
// e.g. /usr/sbin/augenrules) hangs: the tool is replaced by a stand-in that
// says it started and then sleeps, and as soon as it has started, h's sshd
// and its sessions are killed — the cut lands after goprov's write and
// before the tool did anything. sshd is started again and the real tool put
// back before ApplyCutDuring returns the applied plan.
func ApplyCutDuring(t *testing.T, s *Session, p *planner.Plan, h *testinfra.Host, tool string) *planner.Plan {
	t.Helper()
	q, mark := shell.Quote(tool), shell.Quote("/run/goprov-test-started-"+strings.ReplaceAll(strings.TrimPrefix(tool, "/"), "/", "_"))
	h.Sh(t, `mv `+q+` `+q+`.real && printf '#!/bin/sh\ntouch %s\nsleep 60\nexec %s.real "$@"\n' `+mark+` `+q+` > `+q+` && chmod 0755 `+q)
	restore := func() {
		h.Sh(t, `if [ -f `+q+`.real ]; then mv -f `+q+`.real `+q+`; fi; rm -f `+mark)
	}
	t.Cleanup(restore)
	done := make(chan *planner.Plan, 1)
	go func() { done <- s.Apply(p) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(h.Sh(t, "ls "+mark+" 2>/dev/null || true"), "started") {
		if time.Now().After(deadline) {
			t.Fatalf("%s never started", tool)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := h.KillSSHD(); err != nil {
		t.Fatal(err)
	}
	p = <-done
	if err := h.StartSSHD(); err != nil {
		t.Fatal(err)
	}
	restore()
	return p
}
