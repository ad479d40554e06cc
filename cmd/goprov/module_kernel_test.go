package main

import (
	"os"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
)

// TestKernelHardeningModuleInLab applies modules/kernel-hardening-baseline
// to a lab host through the binary: validate clean, apply, every value
// live, the next plan empty. One host: lab hosts share the machine's
// kernel, so a second host's plan would go stale when the first applies.
func TestKernelHardeningModuleInLab(t *testing.T) {
	labtest.HoldMachineSysctls(t, "kernel/kptr_restrict", "kernel/dmesg_restrict", "kernel/yama/ptrace_scope",
		"fs/suid_dumpable", "fs/protected_symlinks", "fs/protected_hardlinks")
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	// Kernels without the Yama LSM have no ptrace_scope: the module
	// leaves it out when given null.
	ptrace := "2"
	if _, err := os.Stat("/proc/sys/kernel/yama/ptrace_scope"); err != nil {
		ptrace = "null"
	}
	main := `module "kernel" {
  source       = "../modules/kernel-hardening-baseline"
  ptrace_scope = ` + ptrace + `
  extra        = { "net.ipv4.conf.all.log_martians" = 1 }
}
`
	applyModuleInLab(t, lab, "kernel-hardening-baseline", main)
	want := "2\n1\n0\n1\n0\n0\n1\n1\n"
	keys := "kernel.kptr_restrict kernel.dmesg_restrict fs.suid_dumpable net.ipv4.conf.all.rp_filter net.ipv4.conf.all.accept_redirects net.ipv4.conf.all.send_redirects net.ipv4.tcp_syncookies net.ipv4.conf.all.log_martians"
	if ptrace != "null" {
		keys += " kernel.yama.ptrace_scope"
		want += "2\n"
	}
	for _, h := range lab.Hosts {
		if got := h.Sh(t, "sysctl -n "+keys); got != want {
			t.Errorf("%s: %s = %q, want %q", h.Name, keys, got, want)
		}
		if got := h.Sh(t, "head -n 1 /etc/sysctl.d/60-kernel-hardening.conf"); !strings.Contains(got, "module.kernel.sysctl.baseline") {
			t.Errorf("%s: %q", h.Name, got)
		}
	}
}
