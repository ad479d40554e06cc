// Package profilescript manages /etc/profile.d/NAME.sh: environment variables
// and PATH entries for login shells.
//
// Values are literal text. The one exception, so that "$HOME/go/bin" works
// the way users expect: $NAME and ${NAME} (written $${NAME} in HCL) expand at
// login to that environment variable, and $$ is a literal "$". Nothing else
// is special: $(…), backticks, ;, quotes and newlines stay inert text,
// because the script is generated with every literal part single-quoted and
// every variable reference double-quoted.
package profilescript

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// KindName is the resource kind's name in HCL.
const KindName = "profile_script"

func init() { resources.Register(KindName, kind{}) }

var (
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	envKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

type kind struct{}

func strList(name string) hcldec.Spec {
	return &hcldec.DefaultSpec{
		Primary: &hcldec.AttrSpec{Name: name, Type: cty.List(cty.String)},
		Default: &hcldec.LiteralSpec{Value: cty.ListValEmpty(cty.String)},
	}
}

func (kind) Spec() hcldec.Spec {
	return &hcldec.ObjectSpec{
		"name": &hcldec.AttrSpec{Name: "name", Type: cty.String, Required: true},
		"env": &hcldec.DefaultSpec{
			Primary: &hcldec.AttrSpec{Name: "env", Type: cty.Map(cty.String)},
			Default: &hcldec.LiteralSpec{Value: cty.MapValEmpty(cty.String)},
		},
		"path_prepend": strList("path_prepend"),
		"path_append":  strList("path_append"),
		"ensure": &hcldec.DefaultSpec{
			Primary: &hcldec.AttrSpec{Name: "ensure", Type: cty.String},
			Default: &hcldec.LiteralSpec{Value: cty.StringVal("present")},
		},
		"zsh_login": &hcldec.DefaultSpec{
			Primary: &hcldec.AttrSpec{Name: "zsh_login", Type: cty.Bool},
			Default: &hcldec.LiteralSpec{Value: cty.True},
		},
		"verify": verifySpec(),
	}
}

// Script is a decoded profile_script.
type Script struct {
	Address     string
	Name        string
	Env         map[string]string
	PathPrepend []string
	PathAppend  []string
	Present     bool
	// ZshLogin makes zsh login shells read the script too: Debian's zsh
	// does not read /etc/profile (Kali's does), so where zsh is installed
	// and its zprofile does not source /etc/profile, goprov keeps a marked
	// block in /etc/zsh/zprofile that sources this one script.
	ZshLogin bool
	// Verify, when set, checks that the listed users' login shells really
	// get what the script sets (see verify.go).
	Verify *Verify
}

func (kind) New(address string, v cty.Value, body hcl.Body) (resources.Resource, hcl.Diagnostics) {
	s := &Script{Address: address, Name: v.GetAttr("name").AsString(), Env: map[string]string{}, ZshLogin: v.GetAttr("zsh_login").True()}
	var diags hcl.Diagnostics
	at := func(attr string) *hcl.Range { return resources.AttrRange(body, attr) }
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: at(attr)})
	}
	if !nameRe.MatchString(s.Name) {
		bad("name", "Invalid profile_script name", fmt.Sprintf("%q: use letters, digits, '-' and '_' only (it becomes /etc/profile.d/NAME.sh).", s.Name))
	}
	envMap := v.GetAttr("env").AsValueMap()
	keys := make([]string, 0, len(envMap))
	for k := range envMap {
		keys = append(keys, k)
	}
	sort.Strings(keys) // diagnostics in a stable order
	for _, k := range keys {
		val := envMap[k].AsString()
		badKey := func(summary, detail string) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: envKeyRange(body, k, at("env"))})
		}
		switch {
		case !envKeyRe.MatchString(k):
			badKey("Invalid environment variable name", fmt.Sprintf("%q is not a valid variable name (letters, digits, '_'; not starting with a digit).", k))
		case k == "PATH":
			badKey("PATH in env", "Set PATH entries with path_prepend and path_append, which keep the existing PATH and never add an entry twice.")
		case codeVars[k] != "":
			badKey("Value that is code", fmt.Sprintf("%s %s. profile_script sets values, not code: manage that in a file you review, or leave it out.", k, codeVars[k]))
		case shell.ContainsNUL(val):
			badKey("NUL byte in value", fmt.Sprintf("The value of %s holds a NUL byte, which no environment variable can carry.", k))
		default:
			if err := checkRefs(val); err != nil {
				badKey("Invalid variable reference", fmt.Sprintf("%s: %v.", k, err))
			}
		}
		s.Env[k] = val
	}
	for _, attr := range []string{"path_prepend", "path_append"} {
		var list []string
		for i, ev := range v.GetAttr(attr).AsValueSlice() {
			e := ev.AsString()
			badElem := func(summary, detail string) {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: elemRange(body, attr, i, at(attr))})
			}
			switch {
			case e == "":
				badElem("Empty PATH entry", "An empty PATH entry means the current directory; write the directory out.")
			case strings.ContainsAny(e, ":\n\r\x00"):
				badElem("Invalid PATH entry", fmt.Sprintf("%q holds ':', a newline or NUL, which would split or break PATH.", e))
			case !absoluteEntry(e):
				badElem("Relative PATH entry", fmt.Sprintf("%q is looked up from whatever directory a command runs in, so a program planted there (a cloned repository, /tmp) runs instead of the real one. Write an absolute directory, or $HOME/… (\"~\" is not expanded); a variable alone (\"$GOBIN\") is empty when unset, which means the current directory.", e))
			default:
				if err := checkRefs(e); err != nil {
					badElem("Invalid variable reference", fmt.Sprintf("%q: %v.", e, err))
				}
			}
			list = append(list, e)
		}
		if attr == "path_prepend" {
			s.PathPrepend = list
		} else {
			s.PathAppend = list
		}
	}
	present, dg := resources.Ensure(v, body)
	s.Present = present
	if dg != nil {
		diags = append(diags, dg)
	}
	vf, vd := newVerify(v.GetAttr("verify"), body, present)
	s.Verify = vf
	diags = append(diags, vd...)
	return s, diags
}

// Path is where the script lives on the host.
func (s *Script) Path() string { return "/etc/profile.d/" + s.Name + ".sh" }

// Probe implements resources.Resource: the script and zsh's zprofile, and
// with verify the listed users' login shells.
func (s *Script) Probe(h *resources.Host) string {
	// Both files with one stat: every program a read starts costs the host.
	pre, parts := resources.FileProbes(h.Path(s.Path()), h.Path(ZProfile))
	if s.verifyActive(h) {
		parts = append(parts, s.verifyProbe())
	}
	return pre + resources.MultiProbe(parts...)
}

func (s *Script) desired() *resources.DesiredFile {
	if !s.Present {
		return nil
	}
	return &resources.DesiredFile{Path: s.Path(), Content: []byte(s.Render()), Mode: 0o644}
}

func (s *Script) read(h *resources.Host, probe []byte) (script, zprofile resources.FileState, verify []byte, err error) {
	n := 2
	if s.verifyActive(h) {
		n = 3
	}
	parts, err := resources.SplitMulti(probe, n)
	if err != nil {
		return script, zprofile, nil, err
	}
	if n == 3 {
		verify = parts[2]
	}
	if script, err = resources.ParseFileState(parts[0]); err != nil {
		return script, zprofile, nil, err
	}
	zprofile, err = resources.ParseFileState(parts[1])
	return script, zprofile, verify, err
}

// Diff implements resources.Resource.
func (s *Script) Diff(h *resources.Host, probe []byte) (resources.Change, error) {
	cur, zp, vout, err := s.read(h, probe)
	if err != nil {
		return resources.Change{}, err
	}
	ch := resources.FileChange(cur, s.desired(), s.Path())
	if want, ok := s.zprofile(zp); ok {
		zch := resources.FileChange(zp, want, ZProfile)
		if zch.Action != resources.NoOp {
			if ch.Action == resources.NoOp {
				ch.Action = resources.Update
			}
			ch.Diff += zch.Diff
			ch.Notes = append(ch.Notes, "zsh login shells: "+ZProfile+" block "+map[bool]string{true: "added", false: "removed"}[s.Present])
		}
	}
	return s.diffVerify(h, ch, vout)
}

// Apply implements resources.Resource. The script is written before the
// zprofile block that sources it and removed after it, and the block only
// sources a readable file, so no order of failures breaks a login.
func (s *Script) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	cur, zp, _, err := s.read(h, ch.Current)
	if err != nil {
		return err
	}
	if s.Present {
		if resources.FileChange(cur, s.desired(), s.Path()).Action != resources.NoOp {
			// sh by PATH: an image without /bin/sh checks with the
			// sandbox's static busybox.
			if err := resources.WriteFile(ctx, h, *s.desired(), scriptWrite); err != nil {
				return err
			}
		}
	}
	if _, ok := s.zprofile(zp); ok {
		// zprofile is shared by every profile_script on the host: re-read it
		// now (an earlier resource of this apply may have added its block)
		// and write only if nobody changed it in between.
		if zp, err = resources.ReadFile(ctx, h, ZProfile); err != nil {
			return err
		}
		if want, ok := s.zprofile(zp); ok && resources.FileChange(zp, want, ZProfile).Action != resources.NoOp {
			err := resources.WriteFile(ctx, h, *want, zprofileWrite(zp))
			if err != nil {
				return err
			}
		}
	}
	if !s.Present && cur.Exists {
		return resources.RemoveFile(ctx, h, s.Path())
	}
	return s.verifyAfterApply(ctx, h)
}

// scriptWrite checks the script with sh (by PATH: an image without
// /bin/sh checks with the sandbox's static busybox).
var scriptWrite = resources.WriteOptions{Validate: `sh -n "$1"`, MkdirMode: 0o755}

// zprofileWrite checks zprofile with zsh and writes it only if it still
// holds what was read (several profile_scripts share it).
func zprofileWrite(read resources.FileState) resources.WriteOptions {
	return resources.WriteOptions{Validate: `if command -v zsh >/dev/null 2>&1; then zsh -n "$1"; fi`, IfUnchanged: &read}
}

// Writes implements resources.BatchWriter: the script, then the zprofile
// block that sources it, computed from the apply's fresh read. A removal,
// and a script whose users' login shells are verified after apply, keep
// their own Apply.
func (s *Script) Writes(h *resources.Host, ch resources.Change) ([]resources.FileWrite, bool, error) {
	if !s.Present || s.verifyActive(h) {
		return nil, false, nil
	}
	cur, zp, _, err := s.read(h, ch.Current)
	if err != nil {
		return nil, false, err
	}
	var out []resources.FileWrite
	if resources.FileChange(cur, s.desired(), s.Path()).Action != resources.NoOp {
		out = append(out, resources.FileWrite{File: *s.desired(), Opt: scriptWrite})
	}
	if want, ok := s.zprofile(zp); ok && resources.FileChange(zp, want, ZProfile).Action != resources.NoOp {
		out = append(out, resources.FileWrite{File: *want, Opt: zprofileWrite(zp)})
	}
	return out, true, nil
}

// ZProfile is what zsh reads for login shells on Debian-family systems.
const ZProfile = "/etc/zsh/zprofile"

var sourcesProfile = regexp.MustCompile(`(?m)^[ \t]*(emulate[ \t]+sh[ \t]+-c[ \t]+)?['"]?(source|\.)[ \t]+/etc/profile['"]?[ \t]*$`)

// zprofile returns the desired zprofile and whether goprov manages it:
// only where zsh is installed, and not where zprofile already reads
// /etc/profile (then profile.d is read anyway).
func (s *Script) zprofile(cur resources.FileState) (*resources.DesiredFile, bool) {
	if !cur.Exists || !cur.Regular {
		return nil, false
	}
	begin := "# BEGIN goprov profile_script " + s.Name + "\n"
	end := "# END goprov profile_script " + s.Name + "\n"
	content := string(cur.Content)
	block := ""
	if s.Present && s.ZshLogin {
		block = begin + "if [ -r " + s.Path() + " ]; then emulate sh -c '. " + s.Path() + "'; fi\n" + end
	}
	// Replace our block where it stands (so several scripts' blocks keep
	// their order and nothing moves), or append it.
	if i := strings.Index(content, begin); i >= 0 {
		if j := strings.Index(content[i:], end); j >= 0 {
			rest := content[i+j+len(end):]
			if block != "" && sourcesProfile.MatchString(content[:i]+rest) {
				block = ""
			}
			content = content[:i] + block + rest
			return &resources.DesiredFile{Path: ZProfile, Content: []byte(content), Mode: cur.Mode, UID: cur.UID, GID: cur.GID}, true
		}
	}
	if block != "" && !sourcesProfile.MatchString(content) {
		if content != "" && !strings.HasSuffix(content, "\n") {
			content += "\n"
		}
		content += block
	}
	return &resources.DesiredFile{Path: ZProfile, Content: []byte(content), Mode: cur.Mode, UID: cur.UID, GID: cur.GID}, true
}

// Render produces the script. It is deterministic (sorted keys), so an
// unchanged config yields byte-identical content and an empty plan.
func (s *Script) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by goprov (%s). Local edits are overwritten on the next apply.\n", s.Address)
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, Word(s.Env[k]))
	}
	if len(s.PathPrepend)+len(s.PathAppend) > 0 {
		// Remove each entry wherever it is, then add it where it belongs:
		// sourcing the script twice changes nothing, and path_prepend ends
		// up first even when an entry was already on PATH further back.
		b.WriteString(`__goprov_path_rm() {
  __goprov_p=":${PATH}:"
  while :; do
    case $__goprov_p in
      *":$1:"*) __goprov_p="${__goprov_p%%:"$1":*}:${__goprov_p#*:"$1":}" ;;
      *) break ;;
    esac
  done
  __goprov_p=${__goprov_p#:}
  PATH=${__goprov_p%:}
}
`)
		for i := len(s.PathPrepend) - 1; i >= 0; i-- {
			w := Word(s.PathPrepend[i])
			fmt.Fprintf(&b, "__goprov_path_rm %s\nPATH=%s${PATH:+:$PATH}\n", w, w)
		}
		for _, e := range s.PathAppend {
			w := Word(e)
			fmt.Fprintf(&b, "__goprov_path_rm %s\nPATH=${PATH:+$PATH:}%s\n", w, w)
		}
		b.WriteString("export PATH\nunset __goprov_p\nunset -f __goprov_path_rm\n")
	}
	return b.String()
}

// Word renders a value as one sh word: literal text single-quoted, $NAME and
// ${NAME} references double-quoted so they expand (to the variable's value
// only: no command substitution, no word splitting), $$ as a literal "$".
func Word(v string) string {
	if v == "" {
		return "''"
	}
	var b strings.Builder
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			b.WriteString(shell.Quote(lit.String()))
			lit.Reset()
		}
	}
	eachPart(v, func(c byte) { lit.WriteByte(c) }, func(name string) bool {
		flush()
		b.WriteString(`"${` + name + `}"`)
		return true
	})
	flush()
	return b.String()
}

// eachPart walks v as a login shell reads it: literal bytes (with $$ as
// one "$") and $NAME/${NAME} references, in order, stopping when ref
// returns false. Word and the verify step's expansion share it, so they
// cannot disagree on what is a reference.
func eachPart(v string, lit func(byte), ref func(name string) bool) bool {
	for i := 0; i < len(v); {
		if v[i] == '$' {
			if name, n := refAt(v[i:]); n > 0 {
				if !ref(name) {
					return false
				}
				i += n
				continue
			}
			if strings.HasPrefix(v[i:], "$$") {
				lit('$')
				i += 2
				continue
			}
		}
		lit(v[i])
		i++
	}
	return true
}

// refAt recognises $NAME or ${NAME} at the start of s.
func refAt(s string) (string, int) {
	if len(s) < 2 {
		return "", 0
	}
	if s[1] == '{' {
		end := strings.IndexByte(s, '}')
		if end < 0 || !envKeyRe.MatchString(s[2:end]) {
			return "", 0
		}
		return s[2:end], end + 1
	}
	n := 1
	for n < len(s) && (s[n] == '_' || s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || (n > 1 && s[n] >= '0' && s[n] <= '9')) {
		n++
	}
	if n == 1 {
		return "", 0
	}
	return s[1:n], n
}

// checkRefs rejects "${…}" forms other than ${NAME}: a user writing
// ${HOME:-/root} would otherwise get it as literal text, silently.
func checkRefs(v string) error {
	for i := 0; i < len(v); i++ {
		if v[i] != '$' {
			continue
		}
		if strings.HasPrefix(v[i:], "$$") {
			i++
			continue
		}
		if strings.HasPrefix(v[i:], "${") {
			if _, n := refAt(v[i:]); n == 0 {
				return fmt.Errorf("only ${NAME} is expanded at login; write $$ for a literal \"$\"")
			}
		}
	}
	return nil
}
