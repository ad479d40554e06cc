package sysctl

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// LoadDirs are the directories the boot-time loaders read, in the order
// in which a file name found in one masks the same name in the later ones
// (procps' `sysctl --system` and systemd-sysctl agree; /lib/sysctl.d is
// procps' and split-/usr systemd's). The files that remain are applied
// sorted by file name, so the last assignment of a key wins; procps'
// `sysctl --system` then applies SysctlConf last (systemd-sysctl does not
// read it, Debian links it as 99-sysctl.conf so it still does).
var LoadDirs = []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"}

// SysctlConf is procps' traditional file, applied last by `sysctl --system`.
const SysctlConf = "/etc/sysctl.conf"

// maxOtherFile bounds how much of another file the probe reads.
const maxOtherFile = 256 << 10

// isImage reports whether h is an image root: a directory that becomes a
// system's "/", whose kernel is not the one goprov runs on.
func isImage(h *resources.Host) bool { return h.Root != "" && h.Root != "/" }

// Probe implements resources.Resource: the file, every file in the load
// order, and (on a live host) each key's value in /proc/sys.
func (f *File) Probe(h *resources.Host) string {
	// No /proc/sys on an image root (the build machine's kernel), nor
	// for a file being removed (its live values are left alone).
	live := "echo image"
	switch {
	case isImage(h):
	case !f.Present:
		live = "echo absent"
	default:
		live = liveProbe(f.Settings)
	}
	return resources.MultiProbe(resources.FileProbe(h.Path(f.Path())), loadOrderProbe(h), live)
}

// loadOrderProbe prints one line per *.conf file in the load order:
// "file|other INDEX BASE64(NAME) BASE64(CONTENT)", INDEX into LoadDirs, or
// len(LoadDirs) for SysctlConf. "other" (a /dev/null mask, a directory)
// takes the name without setting anything.
func loadOrderProbe(h *resources.Host) string {
	var b strings.Builder
	b.WriteString(`b64() { base64 | tr -d '\n'; }
one() {
  if [ -f "$2" ]; then printf 'file %s %s %s\n' "$1" "$(printf '%s' "${2##*/}" | b64)" "$(head -c ` + strconv.Itoa(maxOtherFile) + ` -- "$2" | b64)"
  elif [ -e "$2" ] || [ -L "$2" ]; then printf 'other %s %s -\n' "$1" "$(printf '%s' "${2##*/}" | b64)"; fi
}
`)
	for i, d := range LoadDirs {
		fmt.Fprintf(&b, "for c in %s/*.conf; do one %d \"$c\"; done\n", shell.Quote(h.Path(d)), i)
	}
	fmt.Fprintf(&b, "one %d %s\n", len(LoadDirs), shell.Quote(h.Path(SysctlConf)))
	return b.String()
}

// liveProbe prints, per setting in order, "ok BASE64(VALUE)", "missing",
// "dir", "readonly" or "unreadable".
func liveProbe(ss []Setting) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, `p=%s
if [ -d "$p" ]; then echo dir
elif [ ! -e "$p" ]; then echo missing
elif [ ! -w "$p" ]; then echo readonly
elif v=$(cat -- "$p" 2>/dev/null); then printf 'ok %%s\n' "$(printf '%%s' "$v" | base64 | tr -d '\n')"
else echo unreadable; fi
`, shell.Quote("/proc/sys/"+s.Path))
	}
	return b.String()
}

// OtherFile is one file of the load order as the probe found it.
type OtherFile struct {
	Dir     int    // index into LoadDirs; len(LoadDirs) for SysctlConf
	Name    string // base name
	Regular bool
	Content []byte
}

// Path is where the file is on the host.
func (o OtherFile) Path() string {
	if o.Dir >= len(LoadDirs) {
		return SysctlConf
	}
	return LoadDirs[o.Dir] + "/" + o.Name
}

// Live is one key's state in /proc/sys.
type Live struct {
	Status string // "ok", "missing", "dir", "readonly", "unreadable"
	Value  string // as read, for "ok"
}

type state struct {
	file  resources.FileState
	other []OtherFile
	live  []Live // nil on image roots and for ensure = "absent"
}

func (f *File) parse(out []byte) (state, error) {
	parts, err := resources.SplitMulti(out, 3)
	if err != nil {
		return state{}, err
	}
	var st state
	if st.file, err = resources.ParseFileState(parts[0]); err != nil {
		return state{}, err
	}
	if st.other, err = ParseLoadOrder(parts[1]); err != nil {
		return state{}, err
	}
	switch strings.TrimSpace(string(parts[2])) {
	case "image", "absent":
		return st, nil
	}
	if st.live, err = ParseLive(parts[2], len(f.Settings)); err != nil {
		return state{}, err
	}
	return st, nil
}

// ParseLoadOrder reads loadOrderProbe's output.
func ParseLoadOrder(out []byte) ([]OtherFile, error) {
	var files []OtherFile
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, " ")
		if len(f) != 4 || (f[0] != "file" && f[0] != "other") {
			return nil, fmt.Errorf("sysctl load order: bad line %q", line)
		}
		dir, err1 := strconv.Atoi(f[1])
		name, err2 := base64.StdEncoding.DecodeString(f[2])
		if err1 != nil || err2 != nil || dir < 0 || dir > len(LoadDirs) {
			return nil, fmt.Errorf("sysctl load order: bad line %q", line)
		}
		o := OtherFile{Dir: dir, Name: string(name), Regular: f[0] == "file"}
		if o.Regular {
			var err error
			if o.Content, err = base64.StdEncoding.DecodeString(f[3]); err != nil {
				return nil, fmt.Errorf("sysctl load order: %s: %w", o.Path(), err)
			}
		}
		files = append(files, o)
	}
	return files, nil
}

// ParseLive reads liveProbe's output for n settings.
func ParseLive(out []byte, n int) ([]Live, error) {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if n == 0 && len(lines) == 1 && lines[0] == "" {
		return []Live{}, nil
	}
	if len(lines) != n {
		return nil, fmt.Errorf("sysctl live values: want %d lines, got %d", n, len(lines))
	}
	live := make([]Live, n)
	for i, l := range lines {
		st, v, _ := strings.Cut(l, " ")
		switch st {
		case "missing", "dir", "readonly", "unreadable":
			live[i] = Live{Status: st}
		case "ok":
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, fmt.Errorf("sysctl live values: line %d: %w", i+1, err)
			}
			live[i] = Live{Status: st, Value: string(b)}
		default:
			return nil, fmt.Errorf("sysctl live values: bad line %q", l)
		}
	}
	return live, nil
}

// Override is a later assignment of one of our keys to another value.
type Override struct {
	Key, Value, File string
	Want             string // our value, the one the later file undoes
}

// Overrides returns, per key of ss that a file applied after ours (named
// ours, e.g. "60-hardening.conf") sets to a different value, the last
// such assignment: the value the key has after the next boot.
func Overrides(ours string, ss []Setting, files []OtherFile) []Override {
	seen := map[string]bool{ours: true}
	var later []OtherFile
	var conf *OtherFile
	for i, o := range files {
		if o.Dir == len(LoadDirs) {
			conf = &files[i]
			continue
		}
		if seen[o.Name] {
			continue // masked by a file of that name in an earlier directory
		}
		seen[o.Name] = true
		if o.Name > ours && o.Regular {
			later = append(later, o)
		}
	}
	// Byte order, as both loaders sort (strcmp).
	sort.SliceStable(later, func(i, j int) bool { return later[i].Name < later[j].Name })
	if conf != nil && conf.Regular {
		later = append(later, *conf)
	}
	last := map[string]Override{}
	for _, o := range later {
		for _, a := range assignments(o.Content) {
			for _, s := range ss {
				if matchKey(a.key, s.Path) {
					last[s.Path] = Override{Key: s.Key, Value: a.value, File: o.Path(), Want: s.Value}
				}
			}
		}
	}
	var out []Override
	for _, s := range ss {
		if o, ok := last[s.Path]; ok && Normalize(o.Value) != s.Value {
			out = append(out, o)
		}
	}
	return out
}

type assignment struct{ key, value string }

// assignments parses a sysctl.d file as procps does: blank lines and
// lines starting with '#' or ';' are comments; "key = value", with an
// optional leading '-' (ignore errors); a line without '=' is a glob
// exclusion and sets nothing.
func assignments(content []byte) []assignment {
	var out []assignment
	for _, line := range bytes.Split(content, []byte("\n")) {
		l := strings.TrimSpace(string(line))
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		k = strings.TrimPrefix(strings.TrimSpace(k), "-")
		out = append(out, assignment{key: k, value: strings.TrimSpace(v)})
	}
	return out
}

// matchKey reports whether a key as written in a file (either spelling,
// maybe a glob) names the /proc/sys path p.
func matchKey(written, p string) bool {
	wp := toPath(written)
	if !strings.ContainsAny(wp, "*?[") {
		return wp == p
	}
	ok, err := path.Match(wp, p)
	return err == nil && ok
}
