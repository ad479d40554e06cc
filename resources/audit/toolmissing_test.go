package audit

import (
	"testing"

	"github.com/goprov/goprov/resources"
)

// TestMissingAuditctlNamesItsPackage: a host without auditd plans the
// file "written, NOT loaded" as before, and tells the planner that
// auditctl comes from auditd, so a package resource installing auditd
// makes the rules known after apply (loaded and verified in the same run).
func TestMissingAuditctlNamesItsPackage(t *testing.T) {
	r := sudoRules(t)
	h := &resources.Host{Root: "/"}
	ch, err := r.Diff(h, multi("absent\n", "absent\n", "missing auditctl is not installed\n", boot1))
	if err != nil {
		t.Fatal(err)
	}
	if m := ch.ToolMissing; m == nil || m.Tool != "auditctl" || len(m.Packages) != 1 || m.Packages[0] != "auditd" {
		t.Fatalf("ToolMissing %+v", m)
	}
	ch, err = r.Diff(h, multi("absent\n", "absent\n", "refused Error sending status request (Operation not permitted)\n", boot1))
	if err != nil || ch.ToolMissing != nil {
		t.Fatalf("a refusing kernel is no missing tool: %+v %v", ch.ToolMissing, err)
	}
}
