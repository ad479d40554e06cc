package firewall

import (
	"strconv"
	"strings"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// Pending-reload keys (resources/pending.go).
const (
	pendingFirewalld = "firewalld-reload"
	pendingUFW       = "ufw-reload"
)

// rollbackDir holds the saved firewall config and the PID of an armed
// dead-man rollback while a change is being proven.
const rollbackDir = "/var/lib/goprov/firewall-rollback"

// State is everything goprov reads of a host's firewall, in one probe.
type State struct {
	UFWInstalled       bool
	FirewalldInstalled bool
	FirewalldRunning   bool
	UFW                UFWState
	FWD                FirewalldState
	Services           map[string]int // "https/tcp" → 443, from /etc/services
	Pending            map[string]string
	RollbackArmed      string // PID of an armed rollback still running, "" if none
	// RollbackStale: a saved config whose timer is gone (the host restarted
	// while a change was unconfirmed).
	RollbackStale bool
	// Address families of the established sessions to the SSH port (both
	// false when unknown: the guard then checks every family).
	SSHOverV4, SSHOverV6 bool
}

// UFWState is ufw's configuration as its files hold it: ufw.conf,
// /etc/default/ufw and the rule tuples of user.rules and user6.rules (what
// `ufw show added` prints). `ufw status` only echoes ufw.conf's ENABLED, so
// whether the rules are really loaded is read from the kernel (Loaded).
type UFWState struct {
	Enabled    bool
	Loaded     bool
	IPv6       bool
	DefaultIn  string // allow, deny, reject
	DefaultOut string
	Rules      []UFWRule
}

// FirewalldState is firewalld's permanent configuration and, when it runs,
// its runtime one.
type FirewalldState struct {
	DefaultZone string
	Permanent   map[string]*Zone
	Runtime     map[string]*Zone // nil when firewalld is not running
}

// Zone is one zone as `firewall-cmd --list-all-zones` prints it.
type Zone struct {
	Name       string
	Target     string
	Interfaces []string
	Sources    []string
	Services   []string
	Ports      []string // "443/tcp", "8000-8100/udp"
	RichRules  []string
}

// offlineCmd runs firewall-offline-cmd with args: directly on a live host
// (firewalld stopped), and in the local transport's sandbox on an image
// root (the image as "/", its own /proc, no network: nothing it might do
// can reach this machine's own netfilter).
func offlineCmd(h *resources.Host, args ...string) string {
	return inRoot(h, "firewall-offline-cmd "+shell.Join(args...))
}

// inRoot runs a command line in the host's root: as is on a live host and
// in an image's sandbox; an image host without the sandbox (test doubles
// only) gets a command that fails, never the image's tools run here.
func inRoot(h *resources.Host, cmdline string) string {
	if !isLive(h) && !h.Sandboxed() {
		return "false"
	}
	return cmdline
}

// confValue reads KEY=value (optionally quoted) from a shell-style file.
func confValue(content, key string) string {
	val := ""
	for _, l := range strings.Split(content, "\n") {
		l = strings.TrimSpace(l)
		if k, v, ok := strings.Cut(l, "="); ok && k == key {
			val = strings.Trim(v, `"'`)
		}
	}
	return val
}

func policyWord(p string) string {
	switch p {
	case "ACCEPT":
		return "allow"
	case "REJECT":
		return "reject"
	case "DROP":
		return "deny"
	}
	return strings.ToLower(p)
}

// ParseServices reads /etc/services into "name/proto" → port (aliases too).
func ParseServices(content string) map[string]int {
	m := map[string]int{}
	for _, l := range strings.Split(content, "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		num, proto, ok := strings.Cut(f[1], "/")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			continue
		}
		for _, name := range append([]string{f[0]}, f[2:]...) {
			if _, dup := m[name+"/"+proto]; !dup {
				m[name+"/"+proto] = n
			}
		}
	}
	return m
}

// ParseZones reads `firewall-cmd --list-all-zones` output.
func ParseZones(out string) map[string]*Zone {
	zones := map[string]*Zone{}
	var z *Zone
	inRich := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.TrimSpace(l) == "":
			inRich = false
		case !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "\t"):
			f := strings.Fields(l)
			z = &Zone{Name: f[0]}
			zones[z.Name] = z
			inRich = false
		case z == nil:
		case strings.HasPrefix(l, "\t") && inRich:
			z.RichRules = append(z.RichRules, strings.TrimSpace(l))
		default:
			k, v, _ := strings.Cut(strings.TrimSpace(l), ":")
			v = strings.TrimSpace(v)
			inRich = false
			switch k {
			case "target":
				z.Target = v
			case "interfaces":
				z.Interfaces = strings.Fields(v)
			case "sources":
				z.Sources = strings.Fields(v)
			case "services":
				z.Services = strings.Fields(v)
			case "ports":
				z.Ports = strings.Fields(v)
			case "rich rules":
				inRich = true
			}
		}
	}
	return zones
}
