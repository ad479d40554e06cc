package resources

import (
	"fmt"
	"strings"
)

// Facts are what the planner learns about a host in the same batched read as
// the resources' state.
type Facts struct {
	OS   string // "linux"
	Arch string // Go's name: "amd64", "arm64", …
	UID  string // uid the privileged commands run as
}

// FactsProbe prints the facts, one per line.
const FactsProbe = `uname -s; uname -m; id -u`

// ParseFacts reads FactsProbe's output.
func ParseFacts(out []byte) (Facts, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 3 {
		return Facts{}, fmt.Errorf("facts: unexpected output %q", out)
	}
	return Facts{OS: strings.ToLower(strings.TrimSpace(lines[0])), Arch: goArch(strings.TrimSpace(lines[1])), UID: strings.TrimSpace(lines[2])}, nil
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
