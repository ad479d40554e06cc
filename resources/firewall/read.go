package firewall

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// The read of a host's firewall starts a handful of processes, whatever
// the number of files: every file it needs (ufw's, /etc/services,
// firewalld's zone files and config, the pending-reload marks, the kernel's
// TCP tables) goes through one awk, found and chosen with shell built-ins,
// and is parsed here. Then only what the plan needs: iptables when ufw's
// kernel state matters, a running firewalld asked over D-Bus with busctl
// (no Python start-up), firewalld skipped when nothing declares it and it
// does not run.
//
// Output: header lines start with "=", content lines with " " (awk
// prefixes every line it copies), so no byte of a file is taken for
// framing; "=end" last, so a cut read is an error, not a smaller state.

// probeNeeds is what the host's declarations ask of the read.
type probeNeeds struct {
	firewalld bool // a firewall declares backend = "firewalld"
	services  bool // a rule names a service (resolved with /etc/services)
	loaded    bool // an enabled firewall is declared: ufw's kernel state matters
}

func needsOf(d decl) probeNeeds {
	var n probeNeeds
	for _, s := range d.Settings {
		n.firewalld = n.firewalld || s.Backend == "firewalld"
		n.loaded = n.loaded || s.Enabled
	}
	for _, r := range d.Rules {
		n.services = n.services || r.Service != ""
	}
	return n
}

const (
	fwdDest  = "org.fedoraproject.FirewallD1"
	fwdPath  = "/org/fedoraproject/FirewallD1"
	fwdIface = "org.fedoraproject.FirewallD1"
)

// busctl calls firewalld on the system bus, never starting it (D-Bus
// activation would start the service).
func busctl(json bool, iface, method string, args ...string) string {
	cmd := "busctl --auto-start=no"
	if json {
		cmd += " --json=short"
	}
	return cmd + " call " + shell.Join(append([]string{fwdDest, fwdPath, iface, method}, args...)...)
}

// readAwk copies each file behind an "=f KEY" header (KEY is set by the
// k=KEY operand before it), every line prefixed with a space. The kernel's
// TCP tables give only the address families of established sessions to
// the SSH port (families only: sessions come and go, the digest should
// not). Zone files are scanned like firewalld's reader would need them:
// any element but the known ones, or a port that is not numeric, ends awk
// with status 3 (the offline tool then lists the zones instead).
const readAwk = `BEGIN { n = split(tags, t, "|"); for (i = 1; i <= n; i++) known[t[i]] = 1 }
FNR == 1 { print "=f " k }
k ~ /^tcp/ {
  if (FNR > 1 && $4 == "01" && substr($2, length($2) - 3) == port) {
    fam = "ipv6"
    if (k == "tcp4" || substr($2, 1, 24) == "0000000000000000FFFF0000") fam = "ipv4"
    if (!(fam in seen)) { seen[fam] = 1; print " " fam }
  }
  next
}
k ~ /^zone / {
  s = $0
  while (match(s, /<[A-Za-z_-]+|[a-z-]*port="[^"]*"/)) {
    tok = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
    if (tok ~ /^</) { if (!(substr(tok, 2) in known)) bad = 1 }
    else if (tok !~ /^[a-z-]*port="[0-9]+([-:][0-9]+)?"$/) bad = 1
  }
}
{ print " " $0 }
END { if (bad) exit 3 }`

// probeScript reads the whole firewall of h. Commands that ask the running
// system (iptables, busctl, firewall-cmd, /proc) run on a live host only.
func probeScript(h *resources.Host, n probeNeeds) string {
	live := isLive(h)
	q := func(path string) string { return shell.Quote(h.Path(path)) }
	var b strings.Builder
	b.WriteString("PATH=/usr/sbin:/usr/bin:/sbin:/bin\nufw= fwd= mode=skip exact=yes rc=0\nset --\n")
	fmt.Fprintf(&b, "[ -x %s ] && { ufw=1; echo =ufw-installed; }\n", q("/usr/sbin/ufw"))
	fmt.Fprintf(&b, "[ -x %s ] && { fwd=1; echo =firewalld-installed; }\n", q("/usr/sbin/firewalld"))
	b.WriteString(fwdModeScript(live, n.firewalld))
	addFile := func(key, path string) {
		fmt.Fprintf(&b, "[ -f %s ] && set -- \"$@\" %s %s\n", q(path), shell.Quote("k="+key), q(path))
	}
	addFile("ufw.conf", "/etc/ufw/ufw.conf")
	addFile("default", "/etc/default/ufw")
	addFile("user.rules", "/etc/ufw/user.rules")
	addFile("user6.rules", "/etc/ufw/user6.rules")
	if n.services {
		addFile("services", "/etc/services")
	} else {
		fmt.Fprintf(&b, "if [ $mode != skip ]; then\n")
		addFile("services", "/etc/services")
		b.WriteString("fi\n")
	}
	b.WriteString("if [ $mode = offline ]; then\n")
	addFile("firewalld.conf", "/etc/firewalld/firewalld.conf")
	b.WriteString("fi\n")
	fmt.Fprintf(&b, "[ $mode != skip ] && for d in %s %s; do\n%s\ndone\n", q("/usr/lib/firewalld/zones"), q("/etc/firewalld/zones"), zoneFilesLoop)
	for _, key := range []string{pendingFirewalld, pendingUFW} {
		p := q(resources.PendingDir + "/" + key) // keys are constants (resources/pending.go)
		fmt.Fprintf(&b, "if [ -f %s ]; then echo '=pending %s'; set -- \"$@\" 'k=pending %s' %s\nelif [ -e %s ] || [ -L %s ]; then echo '=pending %s'; fi\n", p, key, key, p, p, p, key)
	}
	if live && h.SSHPort != 0 {
		b.WriteString("set -- \"$@\" k=tcp4 /proc/net/tcp\n[ -f /proc/net/tcp6 ] && set -- \"$@\" k=tcp6 /proc/net/tcp6\n")
	}
	if live && n.loaded {
		b.WriteString(ufwLoadedScript(q("/etc/ufw/ufw.conf")))
	}
	fmt.Fprintf(&b, "if [ $# -gt 0 ]; then awk -v port=%04X -v tags=%s %s \"$@\"; rc=$?; fi\n",
		h.SSHPort, shell.Quote(strings.Join(zoneXMLTags, "|")), shell.Quote(readAwk))
	b.WriteString("case $rc in 0|3) ;; *) echo \"=error reading the firewall's files: awk exited $rc\";; esac\n")
	b.WriteString(fwdListScript(h))
	if live {
		b.WriteString(rollbackScript(q(rollbackDir)))
	}
	b.WriteString("echo =end\n")
	return b.String()
}

// zoneFilesLoop lists the zone files of directory $d ("=zf NAME", in the
// order firewalld reads them: /usr/lib, then /etc replacing) and adds them
// to awk's files. Anything the file reader does not read as firewalld
// does (a zone directory, an odd name) sends the read to the listing.
const zoneFilesLoop = `  for f in "$d"/*; do
    [ -e "$f" ] || continue
    case $f in *.xml) [ -f "$f" ] || exact=no;; *) [ -d "$f" ] && exact=no;; esac
  done
  for f in "$d"/*.xml; do
    [ -f "$f" ] || continue
    z=${f##*/}
    case $z in *[!A-Za-z0-9_.+-]*) exact=no; continue;; esac
    echo "=zf $z"; set -- "$@" "k=zone $z" "$f"
  done`

// fwdModeScript decides how firewalld is read: "dbus" (running, asked with
// busctl), "cmd" (running, no busctl: firewall-cmd), "offline" (its
// files), or "skip" (not running, and nothing needs it: ufw decides).
func fwdModeScript(live, declared bool) string {
	var b strings.Builder
	b.WriteString("if [ -n \"$fwd\" ]; then\n")
	if live {
		// firewalld checks each caller with polkit, which D-Bus starts on
		// demand; a call that meets polkitd going away fails once
		// ("The name :1.N was not provided…"). Only an answer naming
		// firewalld's own bus name says it does not run: else ask again.
		call := busctl(false, fwdIface, "getDefaultZone")
		fmt.Fprintf(&b, `  if [ -S /run/dbus/system_bus_socket ]; then
    if command -v busctl >/dev/null 2>&1; then
      if z=$(%s 2>&1); then mode=dbus
      else case $z in *FirewallD1*) ;; *) z=$(%s 2>/dev/null) && mode=dbus;; esac
      fi
    else
      z=$(firewall-cmd --get-default-zone 2>/dev/null) && mode=cmd
    fi
  fi
`, call, call)
	}
	fmt.Fprintf(&b, "  [ $mode = skip ] && { %s || [ -z \"$ufw\" ]; } && mode=offline\nfi\necho \"=fwd $mode\"\n", boolSh(declared))
	b.WriteString("case $mode in dbus|cmd) printf '=fwd-default %s\\n' \"$z\";; esac\n")
	return b.String()
}

func boolSh(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// ufwLoadedScript asks the kernel whether ufw's rules are loaded, only
// when ufw.conf may say ENABLED=yes (read with built-ins): otherwise the
// plan does not look at it.
func ufwLoadedScript(conf string) string {
	return fmt.Sprintf(`en=
[ -n "$ufw" ] && [ -f %s ] && while IFS= read -r l || [ -n "$l" ]; do case $l in *ENABLED*yes*) en=1;; esac; done < %s
[ -n "$en" ] && command -v iptables >/dev/null && iptables -w -n -L ufw-user-input >/dev/null 2>&1 && echo =ufw-loaded
`, conf, conf)
}

// fwdListScript lists what the files cannot give: a running firewalld's
// runtime zones (one busctl per zone; firewall-cmd without busctl), and
// the permanent zones through firewalld's own tools when a zone file holds
// what the file reader does not read exactly.
func fwdListScript(h *resources.Host) string {
	// Each call is asked twice before it counts as failed (polkit, see
	// fwdModeScript); the second substitution only runs after a failure,
	// so a read is one process per call.
	return fmt.Sprintf(`if [ $mode = dbus ]; then
  zs=$(%[1]s) || zs=$(%[1]s) || echo '=error busctl getZones failed'
  set -f
  for w in $zs; do
    case $w in \"*\") n=${w#\"}; n=${n%%\"}; echo "=zone $n"
      j=$(%[2]s s "$n") || j=$(%[2]s s "$n") || echo "=error busctl getZoneSettings2 $n failed"
      printf ' %%s\n' "$j";;
    esac
  done
  set +f
elif [ $mode = cmd ]; then
  echo =runtime; firewall-cmd --list-all-zones | sed 's/^/ /'
fi
if [ $mode != skip ] && { [ $exact = no ] || [ $rc = 3 ]; }; then
  echo =permanent
  case $mode in
    offline) %[3]s | sed 's/^/ /';;
    *) firewall-cmd --permanent --list-all-zones | sed 's/^/ /';;
  esac
fi
`, busctl(false, fwdIface+".zone", "getZones"), busctl(true, fwdIface+".zone", "getZoneSettings2"), offlineCmd(h, "--list-all-zones"))
}

// rollbackScript reports an armed rollback (its timer process still runs)
// or a stale one (saved config, no timer).
func rollbackScript(dir string) string {
	return fmt.Sprintf(`d=%s
if [ -f "$d/saved.tar" ]; then
  pid=; [ -f "$d/pid" ] && { read -r pid < "$d/pid" || true; }
  case $pid in
    ''|*[!0-9]*) echo '=rollback stale';;
    *) if [ -d /proc/$pid ] && grep -q goprov-firewall-rollback /proc/$pid/cmdline 2>/dev/null; then echo "=rollback armed $pid"; else echo '=rollback stale'; fi;;
  esac
fi
`, dir)
}

// probeRead is the read's output, split.
type probeRead struct {
	flags      map[string]bool // ufw-installed, firewalld-installed, ufw-loaded
	fwdMode    string
	fwdDefault string
	files      map[string]string // by key: "ufw.conf", "zone public.xml", "tcp4"…
	zoneFiles  []string          // zone file names in reading order
	pending    []string
	runtime    []string // zone names in getZones order
	zoneJSON   map[string]string
	lists      map[string]string // "runtime", "permanent": a tool's listing
	rollback   string
}

// splitRead splits the read into its parts; an "=error" line, a line
// outside the framing or a missing "=end" is an error.
func splitRead(out string) (*probeRead, error) {
	r := &probeRead{flags: map[string]bool{}, files: map[string]string{}, zoneJSON: map[string]string{}, lists: map[string]string{}}
	var cur *strings.Builder
	blocks := map[string]*strings.Builder{}
	block := func(kind, key string) {
		cur = &strings.Builder{}
		blocks[kind+"\x00"+key] = cur
	}
	ended := false
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if ended {
			return nil, fmt.Errorf("firewall read: output after its end: %q", l)
		}
		if c, ok := strings.CutPrefix(l, " "); ok {
			if cur == nil {
				return nil, fmt.Errorf("firewall read: content outside a section: %q", l)
			}
			cur.WriteString(c + "\n")
			continue
		}
		head, arg, _ := strings.Cut(l, " ")
		cur = nil
		switch head {
		case "=ufw-installed", "=firewalld-installed", "=ufw-loaded":
			r.flags[head[1:]] = true
		case "=fwd":
			r.fwdMode = arg
		case "=fwd-default":
			r.fwdDefault = arg
		case "=zf":
			r.zoneFiles = append(r.zoneFiles, arg)
		case "=pending":
			r.pending = append(r.pending, arg)
		case "=f":
			block("f", arg)
		case "=zone":
			r.runtime = append(r.runtime, arg)
			block("zone", arg)
		case "=runtime", "=permanent":
			block("list", head[1:])
		case "=rollback":
			r.rollback = arg
		case "=error":
			return nil, fmt.Errorf("firewall read: %s", arg)
		case "=end":
			ended = true
		default:
			return nil, fmt.Errorf("firewall read: unexpected line %q", l)
		}
	}
	if !ended {
		return nil, fmt.Errorf("firewall read: cut short (no end mark)")
	}
	for k, v := range blocks {
		kind, key, _ := strings.Cut(k, "\x00")
		switch kind {
		case "f":
			r.files[key] = v.String()
		case "zone":
			r.zoneJSON[key] = v.String()
		case "list":
			r.lists[key] = v.String()
		}
	}
	return r, nil
}

// ParseState reads probeScript's output.
func ParseState(out []byte) (*State, error) {
	r, err := splitRead(string(out))
	if err != nil {
		return nil, err
	}
	st := &State{
		UFWInstalled:       r.flags["ufw-installed"],
		FirewalldInstalled: r.flags["firewalld-installed"],
		Pending:            map[string]string{},
	}
	st.UFW.Loaded = r.flags["ufw-loaded"]
	st.UFW.Enabled = confValue(r.files["ufw.conf"], "ENABLED") == "yes"
	def := r.files["default"]
	st.UFW.IPv6 = confValue(def, "IPV6") == "yes"
	st.UFW.DefaultIn = policyWord(confValue(def, "DEFAULT_INPUT_POLICY"))
	st.UFW.DefaultOut = policyWord(confValue(def, "DEFAULT_OUTPUT_POLICY"))
	for i, key := range []string{"user.rules", "user6.rules"} {
		rules, err := ParseUFWTuples(r.files[key], i == 1)
		if err != nil {
			return nil, err
		}
		st.UFW.Rules = append(st.UFW.Rules, rules...)
	}
	st.Services = ParseServices(r.files["services"])
	for _, fam := range strings.Fields(r.files["tcp4"] + r.files["tcp6"]) {
		st.SSHOverV4 = st.SSHOverV4 || fam == "ipv4"
		st.SSHOverV6 = st.SSHOverV6 || fam == "ipv6"
	}
	for _, key := range r.pending {
		st.Pending[key] = strings.TrimSpace(r.files["pending "+key])
	}
	switch rb := r.rollback; {
	case rb == "stale":
		st.RollbackStale = true
	case strings.HasPrefix(rb, "armed "):
		st.RollbackArmed = strings.TrimPrefix(rb, "armed ")
	}
	if st.FirewalldRunning, err = r.firewalld(&st.FWD); err != nil {
		return nil, err
	}
	return st, nil
}

// firewalld fills fs from the read, and says whether firewalld runs.
func (r *probeRead) firewalld(fs *FirewalldState) (bool, error) {
	running := r.fwdMode == "dbus" || r.fwdMode == "cmd"
	switch r.fwdMode {
	case "skip", "":
		return false, nil
	case "offline":
		fs.DefaultZone = defaultZone(r.files["firewalld.conf"])
	case "dbus":
		z, err := busctlString(r.fwdDefault)
		if err != nil {
			return false, fmt.Errorf("firewalld default zone: %w", err)
		}
		fs.DefaultZone = z
		fs.Runtime = map[string]*Zone{}
		for _, name := range r.runtime {
			z, err := zoneFromDBus(name, r.zoneJSON[name])
			if err != nil {
				return false, err
			}
			fs.Runtime[name] = z
		}
	case "cmd":
		fs.DefaultZone = strings.TrimSpace(r.fwdDefault)
		fs.Runtime = ParseZones(r.lists["runtime"])
	default:
		return false, fmt.Errorf("firewall read: unknown firewalld mode %q", r.fwdMode)
	}
	if l, ok := r.lists["permanent"]; ok {
		fs.Permanent = ParseZones(l)
		return running, nil
	}
	files := make([]zoneFile, len(r.zoneFiles))
	for i, name := range r.zoneFiles {
		files[i] = zoneFile{Name: name, Content: []byte(r.files["zone "+name])}
	}
	zones, err := zonesFromFiles(files)
	if err != nil {
		return false, err
	}
	fs.Permanent = zones
	return running, nil
}

// defaultZone is firewalld.conf's last DefaultZone= line, else firewalld's
// own default, as firewall-offline-cmd reads it.
func defaultZone(conf string) string {
	z := ""
	for _, l := range strings.Split(conf, "\n") {
		if v, ok := strings.CutPrefix(l, "DefaultZone="); ok {
			z = v
		}
	}
	if z == "" {
		z = "public"
	}
	return strings.TrimSpace(z)
}

// busctlString reads busctl's answer of type s: `s "public"`.
func busctlString(out string) (string, error) {
	v, ok := strings.CutPrefix(strings.TrimSpace(out), "s ")
	if !ok {
		return "", fmt.Errorf("unexpected busctl answer %q", out)
	}
	s, err := strconv.Unquote(v)
	if err != nil {
		return "", fmt.Errorf("unexpected busctl answer %q", out)
	}
	return s, nil
}
