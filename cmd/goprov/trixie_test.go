package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/testinfra/base"
)

// TestSeedBaselinesOnTrixie applies the kernel and SSH baselines (sysctl
// and sshd_config) to a Debian 13 host through the binary — trixie is
// Debian's stable and Kali's nearest relative, with OpenSSH 10 and procps
// 4 — and requires every value live and the next plan empty. The same
// modules' bookworm tests are TestKernelHardeningModuleInLab and
// TestSSHHardeningModuleInLab.
func TestSeedBaselinesOnTrixie(t *testing.T) {
	labtest.HoldMachineSysctls(t, "kernel/kptr_restrict", "kernel/dmesg_restrict", "kernel/yama/ptrace_scope",
		"fs/suid_dumpable", "fs/protected_symlinks", "fs/protected_hardlinks")
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1, Suite: base.Trixie})
	tree := copyTree(t, "modules")
	dir := filepath.Join(tree, "cfg")
	ptrace := "2"
	if _, err := os.Stat("/proc/sys/kernel/yama/ptrace_scope"); err != nil {
		ptrace = "null" // a kernel without Yama
	}
	main := `module "kernel" {
  source       = "../modules/kernel-hardening-baseline"
  ptrace_scope = ` + ptrace + `
}

module "ssh" {
  source       = "../modules/ssh-hardening"
  allow_groups = "deploy sudo"
}
`
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"main.hcl": main, "inventory.hcl": labtest.Inventory(lab, testinfra.UserDeploy)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := lab.Hosts[0]
	if got := h.Sh(t, ". /etc/os-release; echo $VERSION_CODENAME"); got != "trixie\n" {
		t.Fatalf("host release: %q", got)
	}
	if r := goprov(t, "apply", "-auto-approve", dir); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := goprov(t, "plan", "-detailed-exitcode", dir); r.code != 0 {
		t.Fatalf("plan after apply: want exit 0, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := h.Sh(t, "sysctl -n kernel.kptr_restrict kernel.dmesg_restrict net.ipv4.tcp_syncookies"); got != "2\n1\n1\n" {
		t.Errorf("live sysctls: %q", got)
	}
	got := h.Sh(t, "sshd -T -C user=deploy,host=x,addr=10.0.0.1 | grep -E '^(passwordauthentication|maxauthtries|allowgroups) ' | sort")
	if want := "allowgroups deploy\nallowgroups sudo\nmaxauthtries 3\npasswordauthentication no\n"; got != want {
		t.Errorf("effective sshd settings:\n%s\nwant:\n%s", got, want)
	}
	// A new login still works after the reload.
	if got := h.Sh(t, "echo ok"); got != "ok\n" {
		t.Errorf("login after apply: %q", got)
	}
}
