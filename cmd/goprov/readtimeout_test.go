package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
)

// A host whose read hangs (its stat never returns, as over a dead NFS
// mount) fails alone once -read-timeout passes; the other hosts are
// planned, or applied, and the run ends. Without the bound the whole run
// waited for that one host for ever.
func TestReadTimeoutFailsTheHungHostAlone(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3})
	h1 := lab.Hosts[0]
	hang := "#!/bin/sh\n# goprov-hang: a stat that never returns\nexec sleep 3600\n"
	if err := os.WriteFile(filepath.Join(h1.RootDir, "usr/bin/stat"), []byte(hang), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h1.Exec(context.Background(), "pkill -f 'sleep 3600' || :") })
	cfg := labtest.Write(t, labtest.Inventory(lab, testinfra.UserDeploy), `
resource "profile_script" "p" {
  name = "readtimeout"
  env  = { A = "1" }
}
`)
	for _, args := range [][]string{
		{"plan", "-json", "-read-timeout", "3s", cfg},
		{"apply", "-json", "-auto-approve", "-read-timeout", "3s", cfg},
	} {
		t.Run(args[0], func(t *testing.T) {
			// The bound on the test, not on goprov: a hang shows as a
			// failure instead of the suite's own timeout.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, goprovBin, args...)
			r := runCmd(t, cmd, args)
			if ctx.Err() != nil {
				t.Fatalf("goprov %s did not return within 3 minutes: the hung host held up the run", args[0])
			}
			if r.code != 1 {
				t.Errorf("exit %d, want 1 (one host failed)\n%s", r.code, r.stderr)
			}
			var doc struct {
				Hosts []struct{ Name, Status, Error string }
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("%s -json: %v\n%.2000s", args[0], err, r.stdout)
			}
			ok := map[string]string{"plan": "planned", "apply": "applied"}[args[0]]
			for _, h := range doc.Hosts {
				switch {
				case h.Name == "h1" && (h.Status != "failed" || !strings.Contains(h.Error, "did not finish within 3s")):
					t.Errorf("h1: status %s, error %q; want failed, the read did not finish within 3s", h.Status, h.Error)
				case h.Name != "h1" && h.Status != ok:
					t.Errorf("%s: status %s (%s), want %s", h.Name, h.Status, h.Error, ok)
				}
			}
			if len(doc.Hosts) != 3 {
				t.Errorf("%d hosts in the report, want 3", len(doc.Hosts))
			}
		})
	}
}
