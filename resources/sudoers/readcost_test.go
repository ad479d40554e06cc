package sudoers

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/resources"
)

// A read of a drop-in whose live file already holds the candidate asks
// visudo nothing (its verdict cannot change what the plan does); any other
// live content, byte for byte, is still checked. The host is a directory
// root holding a visudo that records its calls.
func TestProbeAsksVisudoOnlyForContentNotLive(t *testing.T) {
	d, diags := decode(t, `name = "devops"`+okRule)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := d.Render()
	root := t.TempDir()
	calls := filepath.Join(root, "visudo-calls")
	for p, c := range map[string]string{
		Visudo:         "#!/bin/sh\necho \"$*\" >> " + calls + "\ncat >/dev/null\n",
		"/etc/sudoers": "@includedir /etc/sudoers.d\n",
	} {
		must(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		must(t, os.WriteFile(filepath.Join(root, p), []byte(c), 0o755))
	}
	// The recording visudo runs in place of the image's own.
	h := &resources.Host{Root: root}
	live := filepath.Join(root, d.Path())
	must(t, os.MkdirAll(filepath.Dir(live), 0o755))
	for _, tc := range []struct {
		name, content string
		symlink       bool
		action        resources.Action
		asked         bool
	}{
		{"live", want, false, resources.NoOp, false},
		{"one more newline", want + "\n", false, resources.Update, true},
		{"one byte short", want[:len(want)-1], false, resources.Update, true},
		{"empty", "", false, resources.Update, true},
		{"longer", want + strings.Repeat("x", 1<<16), false, resources.Update, true},
		// read drops the NUL: the probe skips visudo, the exact bytes
		// still make the change an update, checked at apply.
		{"NUL inside", want[:5] + "\x00" + want[5:], false, resources.Update, false},
		{"symlink to it", want, true, resources.Update, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(live)
			os.Remove(calls)
			if tc.symlink {
				must(t, os.WriteFile(live+".real", []byte(tc.content), 0o440))
				must(t, os.Symlink(live+".real", live))
			} else {
				must(t, os.WriteFile(live, []byte(tc.content), 0o440))
			}
			script := strings.ReplaceAll(d.Probe(h), "false", "'"+filepath.Join(root, Visudo)+"'")
			out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s\n%s", err, out, script)
			}
			_, statErr := os.Stat(calls)
			if asked := statErr == nil; asked != tc.asked {
				t.Errorf("visudo asked: %v, want %v", asked, tc.asked)
			}
			ch, err := d.Diff(h, out)
			if err != nil || ch.Action != tc.action {
				t.Errorf("diff: %v %v, want %v", ch.Action, err, tc.action)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
