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

// FactsProbe prints the facts, one per line. sudo drops SSH_CONNECTION from
// the environment, so the sshd port is read from the nearest ancestor
// process that still has it (the login session).
const FactsProbe = `uname -s; uname -m; id -u
p=$$ n=0 port=0
while [ "${p:-0}" -gt 1 ] && [ $n -lt 64 ]; do
	c=$(tr '\000' '\n' < /proc/$p/environ 2>/dev/null | sed -n 's/^SSH_CONNECTION=.* \([0-9][0-9]*\)$/\1/p')
	if [ -n "$c" ]; then port=$c; break; fi
	p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status 2>/dev/null)
	n=$((n+1))
done
echo "$port"
uname -r
if command -v getenforce >/dev/null 2>&1; then getenforce 2>/dev/null || echo disabled
elif [ -r /sys/fs/selinux/enforce ]; then
	case $(cat /sys/fs/selinux/enforce 2>/dev/null) in 1) echo enforcing ;; 0) echo permissive ;; *) echo disabled ;; esac
else echo disabled; fi
if [ -r /sys/module/apparmor/parameters/enabled ]; then cat /sys/module/apparmor/parameters/enabled; else echo absent; fi
if [ -r /sys/kernel/security/apparmor/profiles ]; then wc -l < /sys/kernel/security/apparmor/profiles; else echo -; fi`

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
