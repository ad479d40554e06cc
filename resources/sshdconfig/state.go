package sshdconfig

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// pendingKey marks an sshd reload that must still run (one per host).
const pendingKey = "sshd-reload"

// candidateSh defines sshd_cand DIR SRC FIRST: DIR/sshd_config is the
// host's main config with its sshd_config.d include pointed at DIR/d,
// which holds the live drop-ins with this resource's file replaced by SRC
// (left out when SRC is ""). FIRST=1 puts SRC in an Include at the very
// top instead, where sshd reads it before anything else: what the values
// would be if nothing overrode them. $R is the root ("" live), $N the
// file's name; paths written into the config are as seen inside $R.
const candidateSh = `sshd_cand() {
	k=$1 ks=$2 kf=$3 ki=${1#"$R"}
	mkdir -p "$k/d"
	for f in "$R"/etc/ssh/sshd_config.d/*.conf; do [ -f "$f" ] && cp -p -- "$f" "$k/d/"; done
	rm -f -- "$k/d/$N"
	top=
	if [ -n "$ks" ]; then
		if [ "$kf" = 1 ]; then cp -- "$ks" "$k/first.conf"; top="Include $ki/first.conf"
		else cp -- "$ks" "$k/d/$N"; fi
	fi
	{ [ -z "$top" ] || echo "$top"
	  awk -v new="$ki/d/*.conf" 'tolower($1)=="include" { for (i = 2; i <= NF; i++) if ($i == "/etc/ssh/sshd_config.d/*.conf" || $i == "sshd_config.d/*.conf") $i = new } { print }' "$R/etc/ssh/sshd_config"
	} >"$k/sshd_config"
}
# sshd_run ARGS: the host's sshd; on an image root the image's own, in a
# sandbox (own mount namespace, a private /run) with a throwaway host key.
sshd_run() {
	if [ -n "$IMG" ]; then ` + SSHD + ` "$@" -h "$ic/hk"; return; fi
	if [ -z "$R" ]; then ` + SSHD + ` "$@"; return; fi
	unshare --mount --fork sh -c 'mount -t tmpfs tmpfs "$1/run" && mkdir -p "$1/run/sshd" && r=$1 && shift && exec chroot "$r" ` + SSHD + ` "$@"' sh "$R" "$@" -h "$ic/hk"
}
# sshd_tmp: a temp directory $c ($ic inside the root).
sshd_tmp() {
	c=$(mktemp -d "$R/tmp/.goprov-sshd.XXXXXXXX") || return 1
	ic=${c#"$R"}
	if [ -n "$IMG" ]; then ssh-keygen -q -t ed25519 -N '' -C goprov-check -f "$c/hk" </dev/null >/dev/null || return 1
	elif [ -n "$R" ]; then chroot "$R" ssh-keygen -q -t ed25519 -N '' -C goprov-check -f "$ic/hk" </dev/null >/dev/null || return 1; fi
}
`

// checkPart prints sshd's verdict on the configuration with the desired
// content in place (present) or this file left out, FIRST as in
// sshd_cand: "ok" and `sshd -T`'s output (with -C "$spec" when set),
// "rejected" and `sshd -t`'s complaint, or "nosshd". Temp paths are
// masked, so the output (and the plan's digest) is the same on every read.
func checkPart(present bool, first string) string {
	src := "''"
	if present {
		src = `"$c/cand"`
	}
	return `[ -x "$R"` + SSHD + ` ] || { echo nosshd; exit 0; }
sshd_tmp || { echo "rejected"; echo "cannot make a temp directory under $R/tmp"; exit 0; }
trap 'rm -rf -- "$c"' EXIT
printf '%s' "$CONTENT" >"$c/cand"
sshd_cand "$c/x" ` + src + ` ` + first + `
if o=$(sshd_run -t -f "$ic/x/sshd_config" 2>&1) && o=$(sshd_run -T ${spec:+-C "$spec"} -f "$ic/x/sshd_config" 2>&1); then echo ok; else echo rejected; fi
printf '%s\n' "$o" | sed -e "s|$ic/x/d/|/etc/ssh/sshd_config.d/|g" -e "s|$ic/x/sshd_config|/etc/ssh/sshd_config|g" -e "s|$ic|@CANDIDATE@|g"`
}

// connSh finds the SSH connection goprov came in on (sudo drops
// SSH_CONNECTION, so it is read from the nearest ancestor that has it),
// without the client's port, which differs on every connection.
const connSh = `p=$$ n=0
while [ "${p:-0}" -gt 1 ] && [ $n -lt 64 ]; do
	c=$(tr '\000' '\n' < /proc/$p/environ 2>/dev/null | sed -n 's/^SSH_CONNECTION=//p')
	if [ -n "$c" ]; then echo "$c" | awk '{ print $1, "-", $3, $4 }'; break; fi
	p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status 2>/dev/null)
	n=$((n+1))
done`

// Probe implements resources.Resource: the file, the main config's
// includes, sshd's verdict on the configuration as desired (and with this
// file read first), which earlier files set which keywords, the login
// user's groups and the connection, and a pending reload.
func (f *File) Probe(h *resources.Host) string {
	root := imageRoot(h)
	content := ""
	if f.Present {
		content = f.Render()
	}
	head := fmt.Sprintf("PATH=/usr/sbin:/usr/bin:/sbin:/bin\nR=%s IMG=%s N=%s CONTENT=%s\n%s", shell.Quote(root), imgFlag(h), shell.Quote(f.Name+".conf"), shell.Quote(content), candidateSh)
	groups, conn, spec := "true", "true", "spec=\n"
	if isLive(h) && h.LoginUser != "" {
		groups = "id -Gn -- " + shell.Quote(h.LoginUser)
		conn = connSh
		// -C evaluates Match blocks for goprov's own connection.
		spec = "u=" + shell.Quote(h.LoginUser) + "\nset -- $(" + connSh + ")\n" +
			`spec=; [ $# -lt 4 ] || spec="user=$u,host=$1,addr=$1,laddr=$3,lport=$4"` + "\n"
	}
	return resources.MultiProbe(
		resources.FileProbe(h.Path(f.Path())),
		head+`if [ -f "$R/etc/ssh/sshd_config" ]; then awk 'tolower($1)=="include" { $1 = ""; print }' "$R/etc/ssh/sshd_config"; else echo '!nomain'; fi`,
		conn,
		groups,
		inPrivateRun(h, head+spec+checkPart(f.Present, "0")),
		inPrivateRun(h, head+spec+checkPart(f.Present, "1")),
		head+`for f in "$R/etc/ssh/sshd_config" "$R"/etc/ssh/sshd_config.d/*.conf; do
	[ -f "$f" ] && [ "$f" != "$R/etc/ssh/sshd_config.d/$N" ] || continue
	awk -v f="${f#"$R"}" '$1 !~ /^#/ && NF { print f "\t" tolower($1) }' "$f"
done`,
		resources.PendingProbe(h, pendingKey),
	)
}

// state is what Probe learned.
type state struct {
	file     resources.FileState
	includes []string // arguments of the main config's Include lines; nil: no main config
	noMain   bool
	conn     []string // SSH_CONNECTION: client addr, port, server addr, port
	groups   []string
	want     verdict // the configuration as desired
	first    verdict // the same with this file read first
	setters  [][2]string
	pending  bool
	why      string
}

// verdict is sshd's answer on a candidate configuration.
type verdict struct {
	NoSSHD   bool
	Rejected string              // sshd -t's complaint
	Values   map[string][]string // sshd -T: keyword (lower case) → values, in order
}

func isLive(h *resources.Host) bool { return h.Root == "" || h.Root == "/" }

// imageRoot is $R of the scripts: the image directory for an image root
// that is not sandboxed, else "" (live hosts, and sandboxed image roots,
// whose scripts see the image as "/").
func imageRoot(h *resources.Host) string {
	if isLive(h) || h.Sandboxed() {
		return ""
	}
	return h.Root
}

// imgFlag is $IMG of the scripts: "1" on a sandboxed image root, where
// the image's own sshd runs with a throwaway host key.
func imgFlag(h *resources.Host) string {
	if h.Sandboxed() {
		return "1"
	}
	return "''"
}

// inPrivateRun runs script, on a sandboxed image root, in a mount
// namespace of its own with fresh tmpfs on /tmp and /run (sshd -t needs
// /run/sshd; a plan sees the image read-only, and the check writes its
// temp files and throwaway host key there), so nothing of it reaches the
// image. Elsewhere script runs as is. Arguments pass through.
func inPrivateRun(h *resources.Host, script string) string {
	if !h.Sandboxed() {
		return script
	}
	return "GOPROV_SSHD_CHECK=" + shell.Quote(script) + ` unshare --mount --fork sh -c 'mount -t tmpfs -o mode=1777 tmpfs /tmp && mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/sshd && eval "$GOPROV_SSHD_CHECK"' sh "$@"`
}

func (f *File) parse(out []byte) (*state, error) {
	parts, err := resources.SplitMulti(out, 8)
	if err != nil {
		return nil, fmt.Errorf("sshd_config probe: %w", err)
	}
	st := &state{}
	if st.file, err = resources.ParseFileState(parts[0]); err != nil {
		return nil, err
	}
	for _, l := range lines(parts[1]) {
		if l == "!nomain" {
			st.noMain = true
			continue
		}
		st.includes = append(st.includes, strings.Fields(l)...)
	}
	if ls := lines(parts[2]); len(ls) > 0 {
		st.conn = strings.Fields(ls[0])
	}
	st.groups = strings.Fields(string(parts[3]))
	st.want = parseVerdict(parts[4])
	st.first = parseVerdict(parts[5])
	for _, l := range lines(parts[6]) {
		if file, kw, ok := strings.Cut(l, "\t"); ok {
			st.setters = append(st.setters, [2]string{file, kw})
		}
	}
	if st.pending, st.why, err = resources.ParsePending(parts[7]); err != nil {
		return nil, err
	}
	return st, nil
}

func lines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// parseVerdict reads checkPart's output.
func parseVerdict(b []byte) verdict {
	head, rest, _ := bytes.Cut(b, []byte("\n"))
	switch strings.TrimSpace(string(head)) {
	case "nosshd":
		return verdict{NoSSHD: true}
	case "ok":
		return verdict{Values: ParseEffective(rest)}
	}
	msg := strings.TrimSpace(string(rest))
	if msg == "" {
		msg = "no reason given"
	}
	return verdict{Rejected: msg}
}

// ParseEffective reads `sshd -T` output: one "keyword value" per line,
// keywords in lower case; repeated keywords keep every value in order.
func ParseEffective(b []byte) map[string][]string {
	m := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		kw, val, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if kw == "" {
			continue
		}
		m[strings.ToLower(kw)] = append(m[strings.ToLower(kw)], strings.TrimSpace(val))
	}
	return m
}

// port returns the connection's server-side port, 0 if unknown.
func (st *state) port() int {
	if len(st.conn) < 4 {
		return 0
	}
	n, _ := strconv.Atoi(st.conn[3])
	return n
}
