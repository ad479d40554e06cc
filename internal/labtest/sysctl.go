package labtest

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// machineSysctlLock serialises the tests (of any package) that change
// machine-wide kernel settings: lab hosts share the machine's kernel for
// every key outside /proc/sys/net, so two such tests running at once would
// see and restore each other's values.
const machineSysctlLock = "/run/goprov-lab/machine-sysctl.lock"

// HoldMachineSysctls takes the machine-wide sysctl lock (waiting for
// another test holding it), saves the listed keys (paths under /proc/sys,
// e.g. "kernel/kptr_restrict"; keys this kernel lacks are skipped), and
// when the test ends restores them, then releases the lock.
func HoldMachineSysctls(t testing.TB, rels ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(machineSysctlLock), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(machineSysctlLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			t.Fatalf("lock %s: %v", machineSysctlLock, err)
		}
		if time.Since(start) > 10*time.Minute {
			f.Close()
			t.Fatalf("another test holds %s for 10 minutes", machineSysctlLock)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := time.Since(start); d > time.Second {
		t.Logf("waited %s for another test's hold on machine-wide sysctls", d.Round(time.Millisecond))
	}
	t.Cleanup(func() { f.Close() }) // releases the lock, after the restores below
	for _, rel := range rels {
		p := filepath.Join("/proc/sys", rel)
		old, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		t.Cleanup(func() {
			if err := os.WriteFile(p, old, 0o644); err != nil {
				t.Errorf("restore %s to %q: %v", p, strings.TrimSpace(string(old)), err)
			}
		})
	}
}
