package firewall

import (
	"fmt"
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

// probeScript reads the whole firewall of h. root is where the host's "/"
// is; live says whether commands may ask the running system (firewall-cmd,
// iptables) or only files and offline tools.
func probeScript(h *resources.Host) string {
	live := h.Root == "" || h.Root == "/"
	p := func(path string) string { return shell.Quote(h.Path(path)) }
	cat := func(path string) string { return "cat -- " + p(path) + " 2>/dev/null || true" }
	var facts strings.Builder
	fmt.Fprintf(&facts, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n")
	fmt.Fprintf(&facts, "[ -x %s ] && echo ufw-installed\n", p("/usr/sbin/ufw"))
	fmt.Fprintf(&facts, "[ -x %s ] && echo firewalld-installed\n", p("/usr/sbin/firewalld"))
	if live {
		facts.WriteString("command -v iptables >/dev/null && iptables -w -n -L ufw-user-input >/dev/null 2>&1 && echo ufw-loaded\n")
	}
	if live && h.SSHPort != 0 {
		// Which address families SSH sessions use here, so the lockout
		// guard judges the family goprov's own session uses (families
		// only: the set of sessions changes, the digest should not).
		fmt.Fprintf(&facts, "command -v ss >/dev/null && ss -Htn state established '( sport = :%d )' | awk '{ if ($3 ~ /^\\[/ && $3 !~ /^\\[::ffff:/) print \"ssh-ipv6\"; else print \"ssh-ipv4\" }' | sort -u\n", h.SSHPort)
	}
	facts.WriteString("true")
	// firewalld: the daemon when it runs (permanent and runtime), else the
	// offline tool on the files (in a throwaway sandbox for image roots).
	fwd := fmt.Sprintf(`[ -x %s ] || exit 0
PATH=/usr/sbin:/usr/bin:/sbin:/bin
# firewalld answers on the system bus only: without its socket, skip the
# slow firewall-cmd start-up. --get-default-zone doubles as the state check.
if %s [ -S /run/dbus/system_bus_socket ] && z=$(firewall-cmd --get-default-zone 2>/dev/null); then
  echo live; echo "$z"; echo '%%%%permanent'; firewall-cmd --permanent --list-all-zones
  echo '%%%%runtime'; firewall-cmd --list-all-zones
else
  # The default zone as firewall-offline-cmd reads it (firewalld.conf,
  # else firewalld's own default), without paying its start-up twice.
  echo offline; z=$(sed -n 's/^DefaultZone=//p' %s 2>/dev/null | tail -n 1); echo "${z:-public}"
%s
fi`, p("/usr/sbin/firewalld"), boolSh(live), p("/etc/firewalld/firewalld.conf"), zoneFilesScript(h))
	rb := fmt.Sprintf(`d=%s; [ -f "$d/saved.tar" ] || exit 0; pid=$(cat "$d/pid" 2>/dev/null)
case $pid in ''|*[!0-9]*) echo stale; exit 0;; esac
if [ -d /proc/$pid ] && grep -q goprov-firewall-rollback /proc/$pid/cmdline 2>/dev/null; then echo "armed $pid"; else echo stale; fi`, p(rollbackDir))
	if !live {
		rb = "true" // a rollback only ever runs on a live host
	}
	return resources.MultiProbe(
		facts.String(),
		cat("/etc/ufw/ufw.conf"),
		cat("/etc/default/ufw"),
		cat("/etc/ufw/user.rules"),
		cat("/etc/ufw/user6.rules"),
		cat("/etc/services"),
		fwd,
		resources.PendingProbe(h, pendingFirewalld),
		resources.PendingProbe(h, pendingUFW),
		rb,
		// resources.SplitMulti trims trailing newlines, so an empty last
		// part would vanish: end with one that never is empty.
		"echo end",
	)
}

// zoneFilesScript sends firewalld's zone files as they are ("%%xml", read
// on the controller by parseZoneFiles) when every element in them is one
// parseZoneXML reads exactly and every port is a number; anything else
// (zone directories, nflog, mark, service names as ports…) still asks
// firewall-offline-cmd ("%%permanent"). grep and sed cost the host about a
// millisecond; the Python tool about 0.3 s.
func zoneFilesScript(h *resources.Host) string {
	dirs := shell.Quote(h.Path("/usr/lib/firewalld/zones")) + " " + shell.Quote(h.Path("/etc/firewalld/zones"))
	return fmt.Sprintf(`exact=yes
for d in %s; do
  for f in "$d"/*; do
    [ -e "$f" ] || continue
    case $f in *.xml) [ -f "$f" ] || exact=no;; *) [ -d "$f" ] && exact=no;; esac
  done
done
if [ $exact = yes ]; then
  for d in %s; do for f in "$d"/*.xml; do [ -f "$f" ] && cat -- "$f"; done; done |
    grep -o -e '<[A-Za-z_-][A-Za-z_-]*' -e '[a-z-]*port="[^"]*"' | sort -u | grep -qvxE '<(%s)|[a-z-]*port="[0-9]+([-:][0-9]+)?"' && exact=no
fi
if [ $exact = yes ]; then
  echo '%%%%xml'
  for d in %s; do for f in "$d"/*.xml; do
    [ -f "$f" ] || continue
    echo "%%%%file ${f##*/} $(wc -c < "$f")"; cat -- "$f"; echo
  done; done
else
  echo '%%%%permanent'; %s
fi`, dirs, dirs, strings.Join(zoneXMLTags, "|"), dirs, offlineCmd(h, "--list-all-zones"))
}

func boolSh(b bool) string {
	if b {
		return "true &&"
	}
	return "false &&"
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

// ParseState reads probeScript's output.
func ParseState(out []byte) (*State, error) {
	parts, err := resources.SplitMulti(out, 11)
	if err != nil {
		return nil, fmt.Errorf("firewall probe: %w", err)
	}
	st := &State{Pending: map[string]string{}}
	for _, f := range strings.Fields(string(parts[0])) {
		switch f {
		case "ufw-installed":
			st.UFWInstalled = true
		case "firewalld-installed":
			st.FirewalldInstalled = true
		case "ufw-loaded":
			st.UFW.Loaded = true
		case "ssh-ipv4":
			st.SSHOverV4 = true
		case "ssh-ipv6":
			st.SSHOverV6 = true
		}
	}
	st.UFW.Enabled = confValue(string(parts[1]), "ENABLED") == "yes"
	def := string(parts[2])
	st.UFW.IPv6 = confValue(def, "IPV6") == "yes"
	st.UFW.DefaultIn = policyWord(confValue(def, "DEFAULT_INPUT_POLICY"))
	st.UFW.DefaultOut = policyWord(confValue(def, "DEFAULT_OUTPUT_POLICY"))
	for i, content := range [][]byte{parts[3], parts[4]} {
		rules, err := ParseUFWTuples(string(content), i == 1)
		if err != nil {
			return nil, err
		}
		st.UFW.Rules = append(st.UFW.Rules, rules...)
	}
	st.Services = ParseServices(string(parts[5]))
	if st.FirewalldRunning, err = parseFirewalld(string(parts[6]), &st.FWD); err != nil {
		return nil, err
	}
	for i, key := range []string{pendingFirewalld, pendingUFW} {
		ok, why, err := resources.ParsePending(parts[7+i])
		if err != nil {
			return nil, err
		}
		if ok {
			st.Pending[key] = why
		}
	}
	switch rb := strings.TrimSpace(string(parts[9])); {
	case rb == "stale":
		st.RollbackStale = true
	case strings.HasPrefix(rb, "armed "):
		st.RollbackArmed = strings.TrimPrefix(rb, "armed ")
	}
	return st, nil
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

// parseFirewalld reads the firewalld part of the probe, and whether the
// daemon answered.
func parseFirewalld(out string, fs *FirewalldState) (bool, error) {
	if strings.TrimSpace(out) == "" {
		return false, nil
	}
	// "live|offline", the default zone, then "%%xml" + zone files or
	// "%%permanent" + firewall-cmd's listing (and "%%runtime" + another).
	lines := strings.SplitN(out, "\n", 4)
	if len(lines) < 3 {
		return false, fmt.Errorf("firewalld probe: no default zone in %q", out)
	}
	mode, marker, rest := lines[0], lines[2], ""
	fs.DefaultZone = strings.TrimSpace(lines[1])
	if len(lines) == 4 {
		rest = lines[3]
	}
	switch {
	case marker == "%%xml" && mode == "offline":
		zones, err := parseZoneFiles([]byte(rest))
		if err != nil {
			return false, err
		}
		fs.Permanent = zones
		return false, nil
	case marker != "%%permanent":
		return false, fmt.Errorf("firewalld probe: unexpected %q", marker)
	}
	perm, run, hasRun := strings.Cut("\n"+rest, "\n%%runtime\n")
	fs.Permanent = ParseZones(perm)
	if mode == "live" && hasRun {
		fs.Runtime = ParseZones(run)
	}
	return mode == "live", nil
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
