package sudoers

import (
	"testing"

	"github.com/goprov/goprov/resources"
)

// TestMissingVisudoNamesItsPackage: on a host without sudo the plan still
// writes nothing unchecked, and tells the planner which package brings
// visudo, so a package resource installing sudo makes this known after
// apply instead of unchecked.
func TestMissingVisudoNamesItsPackage(t *testing.T) {
	d, diags := decode(t, `name = "devops"`+okRule)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	h := &resources.Host{Root: "/"}
	ch, err := d.Diff(h, multi("absent\n", "unchecked "+Visudo+" not found\n", "yes\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m := ch.ToolMissing; m == nil || m.Tool != "visudo" || len(m.Packages) != 1 || m.Packages[0] != "sudo" {
		t.Fatalf("ToolMissing %+v", m)
	}
	ch, err = d.Diff(h, multi("absent\n", "unchecked visudo cannot read stdin\n", "yes\n"))
	if err != nil || ch.ToolMissing != nil {
		t.Fatalf("sudo-rs visudo is there: %+v %v", ch.ToolMissing, err)
	}
}
