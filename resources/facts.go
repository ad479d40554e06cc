package resources

import (
	"fmt"
	"strconv"
	"strings"
)

// Facts are what the planner learns about a host in the same batched read as
// the resources' state.
type Facts struct {
	OS   string `json:"os"`   // "linux"
	Arch string `json:"arch"` // Go's name: "amd64", "arm64", …
	UID  string `json:"uid"`  // uid the privileged commands run as
	// SSHDPort is the port sshd accepted this session on, as the host sees
	// it (0 when not over SSH): behind port forwarding (Vagrant's 2222 → 22)
	// it differs from the port goprov dialled.
	SSHDPort int `json:"sshd_port,omitempty"`
	// Kernel is `uname -r`: hardening baselines check it first.
	Kernel string `json:"kernel"`
	// SELinux is "enforcing", "permissive" or "disabled" (also when the
	// kernel or the host has no SELinux at all).
	SELinux string `json:"selinux"`
	// AppArmor is "enabled" or "disabled" (also when not in the kernel);
	// AppArmorProfiles is how many profiles are loaded, nil when the list
	// cannot be read (securityfs not mounted, not root).
	AppArmor         string `json:"apparmor"`
	AppArmorProfiles *int   `json:"apparmor_profiles,omitempty"`
}

// FactsProbe prints the facts, one per line, from /proc and /sys with the
// shell's own read where that is what the tools print (uname reads the
// same kernel strings, id -u the effective uid of /proc/self/status,
// getenforce selinuxfs's enforce file): every program a read starts costs
// the host CPU. sudo drops SSH_CONNECTION from the environment, so the sshd
// port is read from the nearest ancestor process that still has it (the
// login session); environ is NUL-separated, which the shell's read cannot
// split, so one tr turns that one ancestor's into lines.
const FactsProbe = `rd() { IFS= read -r v <"$1" && printf '%s\n' "$v"; } 2>/dev/null
rd /proc/sys/kernel/ostype || uname -s
rd /proc/sys/kernel/arch || uname -m
while read -r k _ e _; do [ "$k" = Uid: ] && break; done </proc/self/status
echo "$e"
p=$$ n=0 port=0
while [ "${p:-0}" -gt 1 ] && [ $n -lt 64 ]; do
	h=
	while IFS= read -r l || [ -n "$l" ]; do case $l in *SSH_CONNECTION=*) h=1; break ;; esac; done </proc/$p/environ 2>/dev/null
	if [ -n "$h" ]; then
		c=$(tr '\000' '\n' </proc/$p/environ 2>/dev/null)
		while IFS= read -r l; do case $l in SSH_CONNECTION=*) port=${l##* } ;; esac; done <<GOPROV_ENV
$c
GOPROV_ENV
		case $port in ''|*[!0-9]*) port=0 ;; *) break ;; esac
	fi
	q=$p p=
	while read -r k v; do [ "$k" = PPid: ] && { p=$v; break; }; done </proc/$q/status 2>/dev/null
	n=$((n+1))
done
echo "$port"
rd /proc/sys/kernel/osrelease || uname -r
if [ -r /sys/fs/selinux/enforce ]; then
	case $(rd /sys/fs/selinux/enforce) in 1) echo enforcing ;; 0) echo permissive ;; *) echo disabled ;; esac
elif command -v getenforce >/dev/null 2>&1; then getenforce 2>/dev/null || echo disabled
else echo disabled; fi
rd /sys/module/apparmor/parameters/enabled || echo absent
if [ -r /sys/kernel/security/apparmor/profiles ]; then
	i=0; while IFS= read -r l; do i=$((i+1)); done </sys/kernel/security/apparmor/profiles; echo $i
else echo -; fi`

// ParseFacts reads FactsProbe's output.
func ParseFacts(out []byte) (Facts, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 3 {
		return Facts{}, fmt.Errorf("facts: unexpected output %q", out)
	}
	f := Facts{OS: strings.ToLower(strings.TrimSpace(lines[0])), Arch: goArch(strings.TrimSpace(lines[1])), UID: strings.TrimSpace(lines[2])}
	if len(lines) > 3 {
		if n, err := strconv.Atoi(strings.TrimSpace(lines[3])); err == nil && n > 0 && n < 65536 {
			f.SSHDPort = n
		}
	}
	if err := parseSecurity(&f, lines); err != nil {
		return Facts{}, fmt.Errorf("facts: %w", err)
	}
	return f, nil
}

// parseSecurity reads the kernel and security-module lines (5th on); an
// older probe's output without them leaves the states "" (unknown). An
// answer the probe never gives is an error, not a guess.
func parseSecurity(f *Facts, lines []string) error {
	at := func(i int) string {
		if i < len(lines) {
			return strings.TrimSpace(lines[i])
		}
		return ""
	}
	if len(lines) < 7 {
		return nil
	}
	f.Kernel = at(4)
	switch m := strings.ToLower(at(5)); m {
	case "enforcing", "permissive", "disabled":
		f.SELinux = m
	default:
		return fmt.Errorf("getenforce: unrecognised answer %q", at(5))
	}
	switch at(6) {
	case "Y":
		f.AppArmor = "enabled"
	case "N", "absent":
		f.AppArmor = "disabled"
	default:
		return fmt.Errorf("/sys/module/apparmor/parameters/enabled: unrecognised answer %q", at(6))
	}
	if n, err := strconv.Atoi(at(7)); err == nil && n >= 0 {
		f.AppArmorProfiles = &n
	}
	return nil
}

func goArch(machine string) string {
	switch machine {
	case "x86_64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	case "i386", "i486", "i586", "i686":
		return "386"
	case "armv6l", "armv7l":
		return "armv6l"
	case "ppc64le":
		return "ppc64le"
	case "s390x":
		return "s390x"
	case "riscv64":
		return "riscv64"
	}
	return machine
}
