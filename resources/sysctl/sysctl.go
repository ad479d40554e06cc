// Package sysctl manages kernel settings in /etc/sysctl.d/NAME.conf: it
// writes the file, loads exactly that file (`sysctl -p FILE`) and reads
// /proc/sys back, so "applied" means the kernel holds the values now, and
// the file sets them again at every boot.
//
// Keys are read from /proc/sys in the plan's one batched read: a key this
// kernel lacks fails the plan (naming it), a live value that drifted
// (someone ran `sysctl -w`) is an update, and a file that the boot-time
// loaders apply after this one and that sets one of its keys differently
// is noted on every plan, because it undoes the setting at the next boot.
package sysctl

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// KindName is the resource kind's name in HCL.
const KindName = "sysctl"

// Dir is where the files live: the first directory of the load order, so
// a file of the same name elsewhere (/usr/lib/sysctl.d) is masked by ours.
const Dir = "/etc/sysctl.d"

func init() { resources.Register(KindName, kind{}) }

var (
	nameRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// One component of a /proc/sys path. A component may hold '.' (an
	// interface eth0.100), never start with one (no "..").
	segRe = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*$`)
)

type kind struct{}

func (kind) Spec() hcldec.Spec { return spec.Spec() }

// Setting is one key and its value.
type Setting struct {
	Key   string // canonical dotted form: net.ipv4.conf.eth0/100.rp_filter
	Path  string // under /proc/sys: net/ipv4/conf/eth0.100/rp_filter
	Value string // whitespace runs folded to one space, trimmed
}

// File is a decoded sysctl resource.
type File struct {
	Address  string
	Name     string
	Settings []Setting // sorted by Key
	Present  bool
}

// spec is what New checks as sshd_config does (resources.KeyValueFile).
var spec = resources.KeyValueFile{
	Kind: KindName, Dir: Dir, Name: nameRe.MatchString, Attr: "values",
	Key: "sysctl key", Value: "sysctl value",
	Empty: "No values", EmptyDetail: `A present sysctl needs at least one value; to remove the file, write ensure = "absent".`,
	Canon:      KeyPath,
	Same:       func(path string) string { return "name the same key (/proc/sys/" + path + ")" },
	CheckValue: checkValue,
	ValueLabel: func(written, _ string) string { return written },
}

func (kind) New(address string, v cty.Value, body hcl.Body) (resources.Resource, hcl.Diagnostics) {
	name, present, kvs, diags := spec.Decode(v, body)
	f := &File{Address: address, Name: name, Present: present}
	for _, kv := range kvs {
		f.Settings = append(f.Settings, Setting{Key: DottedKey(kv.Canon), Path: kv.Canon, Value: kv.Value})
	}
	sort.Slice(f.Settings, func(i, j int) bool { return f.Settings[i].Key < f.Settings[j].Key })
	return f, diags
}

// KeyPath checks a key and returns its path under /proc/sys. Both of
// sysctl's spellings are accepted, as procps and systemd-sysctl read
// them: the first separator decides. "net.ipv4.conf.eth0/100.rp_filter"
// (dots, with '/' standing for a literal dot) and
// "net/ipv4/conf/eth0.100/rp_filter" (slashes) are the same key.
func KeyPath(key string) (string, error) {
	switch {
	case key == "":
		return "", fmt.Errorf("empty key")
	case strings.HasPrefix(key, "-"):
		return "", fmt.Errorf("a leading '-' (sysctl's \"ignore errors\") is not supported: goprov loads every key it writes and verifies it")
	case strings.ContainsAny(key, "*?[]"):
		return "", fmt.Errorf("glob patterns are not supported: name each key, so that each one can be read back and verified")
	}
	path := toPath(key)
	for _, seg := range strings.Split(path, "/") {
		if !segRe.MatchString(seg) {
			return "", fmt.Errorf("not a sysctl key: each part between separators must be letters, digits, '_', '-' (and '.' inside a slash-separated part), not empty or starting with '.'")
		}
	}
	return path, nil
}

// toPath turns either spelling into the /proc/sys path (no validation).
func toPath(key string) string {
	i := strings.IndexAny(key, "./")
	if i < 0 || key[i] == '/' {
		return key
	}
	return swapSeparators(key)
}

// DottedKey is the canonical dotted spelling of a /proc/sys path.
func DottedKey(path string) string { return swapSeparators(path) }

func swapSeparators(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, s)
}

// Normalize folds whitespace the way the kernel's multi-value keys do not
// care about (ip_local_port_range reads back "32768\t60999").
func Normalize(v string) string { return strings.Join(strings.Fields(v), " ") }

func checkValue(v string) (string, error) {
	for _, r := range v {
		if r < 0x20 && r != '\t' && r != ' ' || r == 0x7f {
			if r == '\n' || r == '\r' {
				return "", fmt.Errorf("a newline would end the setting in the file; one value per key")
			}
			return "", fmt.Errorf("control characters (NUL, …) cannot be written to a sysctl")
		}
	}
	n := Normalize(v)
	switch n {
	case "":
		return "", fmt.Errorf("empty value; to stop managing the key, remove it from values")
	case "true", "false":
		return "", fmt.Errorf("%q is not a value the kernel takes: write 1 or 0", n)
	}
	return n, nil
}

// Path is the file on the host.
func (f *File) Path() string { return Dir + "/" + f.Name + ".conf" }

// Render produces the file: sorted keys, canonical spelling, so an
// unchanged configuration gives byte-identical content.
func (f *File) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by goprov (%s). Local edits are overwritten on the next apply.\n", f.Address)
	for _, s := range f.Settings {
		fmt.Fprintf(&b, "%s = %s\n", s.Key, s.Value)
	}
	return b.String()
}

func (f *File) desired() *resources.DesiredFile {
	if !f.Present {
		return nil
	}
	return &resources.DesiredFile{Path: f.Path(), Content: []byte(f.Render()), Mode: 0o644}
}
