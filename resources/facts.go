package resources

import (
	"fmt"
	"strconv"
	"strings"
)

// Facts are what the planner learns about a host in the same batched read as
// the resources' state.
type Facts struct {
	OS   string // "linux"
	Arch string // Go's name: "amd64", "arm64", …
	UID  string // uid the privileged commands run as
	// SSHDPort is the port sshd accepted this session on, as the host sees
	// it (0 when not over SSH): behind port forwarding (Vagrant's 2222 → 22)
	// it differs from the port goprov dialled.
	SSHDPort int
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
echo "$port"`

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
	return f, nil
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
