// Package sudoers manages drop-in files in /etc/sudoers.d: rules rendered
// from HCL, or raw content, always checked by visudo before they go live.
//
// A drop-in never leaves sudo broken: the candidate is checked alone
// (`visudo -cf` on the temp file), then with the whole configuration once it
// is in place (`visudo -c` catches cross-file errors such as an alias
// defined twice), and finally goprov checks that the user it logs in as can
// still use sudo the way it did before. Any failure puts the previous file
// back (or removes the new one).
package sudoers

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// KindName is the resource kind's name in HCL.
const KindName = "sudoers_dropin"

// Dir is where drop-ins live; Visudo is called by absolute path because a
// non-login PATH may lack sbin.
const (
	Dir    = "/etc/sudoers.d"
	Visudo = "/usr/sbin/visudo"
)

// maxProbeContent bounds the content embedded in the plan-time probe (it
// travels inside the host's batched read, which both transports send off
// argv, so this is about keeping reads small, not a limit of the shell).
// Larger content is checked by visudo at apply only.
const maxProbeContent = 32 << 10

func init() { resources.Register(KindName, kind{}) }

var (
	// sudo ignores files in sudoers.d whose names hold '.' or end in '~'.
	nameRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// A user, %group, %:non-unix-group, +netgroup, #uid or %#gid, maybe
	// negated; upper-case names are User_Alias references, as in sudoers.
	userRe = regexp.MustCompile(`^!?((%:?|\+)?[A-Za-z_][A-Za-z0-9_.-]*\$?|%?#[0-9]+)$`)
	// A host name, +netgroup, IPv4 address or network, maybe negated.
	hostRe = regexp.MustCompile(`^!?(\+?[A-Za-z0-9_][A-Za-z0-9_.-]*|[0-9.]+/[0-9.]+)$`)
	// The runas user: a name, #uid, %group or ALL; one, never negated.
	runasRe = regexp.MustCompile(`^((%:?)?[A-Za-z_][A-Za-z0-9_.-]*\$?|%?#[0-9]+)$`)
	// A command path: absolute, no character sudoers gives a meaning to.
	pathRe = regexp.MustCompile(`^/[^\s,:=#\\"!]*$`)
)

type kind struct{}

func strList(name string, def ...string) hcldec.Spec {
	if def == nil {
		return &hcldec.AttrSpec{Name: name, Type: cty.List(cty.String), Required: true}
	}
	vals := make([]cty.Value, len(def))
	for i, d := range def {
		vals[i] = cty.StringVal(d)
	}
	return &hcldec.DefaultSpec{
		Primary: &hcldec.AttrSpec{Name: name, Type: cty.List(cty.String)},
		Default: &hcldec.LiteralSpec{Value: cty.ListVal(vals)},
	}
}

func (kind) Spec() hcldec.Spec {
	return &hcldec.ObjectSpec{
		"name": &hcldec.AttrSpec{Name: "name", Type: cty.String, Required: true},
		"rule": &hcldec.BlockListSpec{TypeName: "rule", Nested: &hcldec.ObjectSpec{
			"users":    strList("users"),
			"hosts":    strList("hosts", "ALL"),
			"runas":    &hcldec.DefaultSpec{Primary: &hcldec.AttrSpec{Name: "runas", Type: cty.String}, Default: &hcldec.LiteralSpec{Value: cty.StringVal("root")}},
			"nopasswd": &hcldec.DefaultSpec{Primary: &hcldec.AttrSpec{Name: "nopasswd", Type: cty.Bool}, Default: &hcldec.LiteralSpec{Value: cty.False}},
			"commands": strList("commands"),
		}},
		"content": &hcldec.AttrSpec{Name: "content", Type: cty.String},
		"ensure": &hcldec.DefaultSpec{
			Primary: &hcldec.AttrSpec{Name: "ensure", Type: cty.String},
			Default: &hcldec.LiteralSpec{Value: cty.StringVal("present")},
		},
	}
}

// Rule is one sudoers user specification.
type Rule struct {
	Users    []string
	Hosts    []string
	RunAs    string
	NoPasswd bool
	Commands []string // validated: "ALL", "sudoedit /path…" or "/abs/path args…"
}

// Dropin is a decoded sudoers_dropin.
type Dropin struct {
	Address string
	Name    string
	Rules   []Rule
	Content *string // raw content instead of rules
	Present bool
}

func (kind) New(address string, v cty.Value, body hcl.Body) (resources.Resource, hcl.Diagnostics) {
	d := &Dropin{Address: address, Name: v.GetAttr("name").AsString()}
	var diags hcl.Diagnostics
	bad := func(r *hcl.Range, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r})
	}
	if !nameRe.MatchString(d.Name) {
		bad(resources.AttrRange(body, "name"), "Invalid sudoers_dropin name",
			fmt.Sprintf("%q: use letters, digits, '-' and '_' only. It becomes %s/NAME, and sudo silently ignores files whose names hold '.' or end in '~'.", d.Name, Dir))
	}
	present, dg := resources.Ensure(v, body)
	d.Present = present
	if dg != nil {
		diags = append(diags, dg)
	}
	if c := v.GetAttr("content"); !c.IsNull() {
		s := c.AsString()
		d.Content = &s
		switch {
		case s == "" || strings.TrimSpace(s) == "":
			bad(resources.AttrRange(body, "content"), "Empty content", `An empty drop-in grants nothing; to remove the file, write ensure = "absent".`)
		case shell.ContainsNUL(s):
			bad(resources.AttrRange(body, "content"), "NUL byte in content", "sudoers files are text; the content holds a NUL byte.")
		}
	}
	ruleBodies := resources.BlockBodies(body, "rule")
	for i, rv := range v.GetAttr("rule").AsValueSlice() {
		var rb hcl.Body
		if i < len(ruleBodies) {
			rb = ruleBodies[i]
		}
		r, rd := decodeRule(rv, rb)
		diags = append(diags, rd...)
		d.Rules = append(d.Rules, r)
	}
	if d.Present {
		switch {
		case d.Content != nil && len(d.Rules) > 0:
			bad(resources.AttrRange(body, "content"), "Both rule and content", "Write either rule blocks or content, not both.")
		case d.Content == nil && len(d.Rules) == 0:
			r := missingRange(body)
			bad(r, "No rules", `A present sudoers_dropin needs at least one rule block, or content.`)
		}
	}
	return d, diags
}

// decodeRule validates one rule block; every value it accepts renders as
// inert sudoers text (see Render).
func decodeRule(v cty.Value, body hcl.Body) (Rule, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	bad := func(r *hcl.Range, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r})
	}
	list := func(attr string) []string {
		var out []string
		for _, e := range v.GetAttr(attr).AsValueSlice() {
			out = append(out, e.AsString())
		}
		return out
	}
	r := Rule{Users: list("users"), Hosts: list("hosts"), RunAs: v.GetAttr("runas").AsString(),
		NoPasswd: v.GetAttr("nopasswd").True(), Commands: list("commands")}
	check := func(attr string, vals []string, re *regexp.Regexp, what string) {
		if len(vals) == 0 {
			bad(resources.AttrRange(body, attr), "Empty "+attr, fmt.Sprintf("A rule needs at least one entry in %s.", attr))
		}
		for i, s := range vals {
			if !re.MatchString(s) {
				bad(resources.ElemRange(body, attr, i), "Invalid "+what,
					fmt.Sprintf("%q is not a %s sudoers can take literally (no spaces, newlines, ',', ':', '=', '#' or '\\').", s, what))
			}
		}
	}
	check("users", r.Users, userRe, "user")
	check("hosts", r.Hosts, hostRe, "host")
	if r.RunAs != "ALL" && !runasRe.MatchString(r.RunAs) {
		bad(resources.AttrRange(body, "runas"), "Invalid runas",
			fmt.Sprintf("%q: runas is one user, #uid, %%group or ALL.", r.RunAs))
	}
	if len(r.Commands) == 0 {
		bad(resources.AttrRange(body, "commands"), "Empty commands", "A rule needs at least one command.")
	}
	for i, c := range r.Commands {
		norm, err := normCommand(c)
		if err != nil {
			bad(resources.ElemRange(body, "commands", i), "Invalid command", fmt.Sprintf("%q: %v.", c, err))
			continue
		}
		r.Commands[i] = norm
	}
	return r, diags
}

// normCommand checks a command and returns it with its words separated by
// single spaces (sudoers splits arguments on any run of blanks, so this
// changes nothing it matches).
func normCommand(c string) (string, error) {
	for _, ch := range c {
		if ch < 0x20 && ch != '\t' || ch == 0x7f {
			return "", fmt.Errorf("control characters (newline, NUL, …) cannot appear in a sudoers command")
		}
	}
	words := strings.Fields(c)
	if len(words) == 0 {
		return "", fmt.Errorf("empty command")
	}
	if words[0] == "ALL" {
		if len(words) > 1 {
			return "", fmt.Errorf("ALL takes no arguments")
		}
		return "ALL", nil
	}
	args := words[1:]
	if words[0] == "sudoedit" {
		if len(args) == 0 {
			return "", fmt.Errorf("sudoedit needs the absolute paths of the files it may edit")
		}
		for _, a := range args {
			if !pathRe.MatchString(a) {
				return "", fmt.Errorf("sudoedit takes absolute file paths; %q is not one sudoers can take literally", a)
			}
		}
		return strings.Join(words, " "), nil
	}
	if strings.HasPrefix(words[0], "!") {
		return "", fmt.Errorf("negated commands are easily bypassed (copy the binary, use a shell); list what is allowed instead")
	}
	if !pathRe.MatchString(words[0]) {
		return "", fmt.Errorf("the command must be an absolute path (or ALL, or sudoedit /path), without ',', ':', '=', '#', '\\', '\"' or '!'; sudo matches relative names against nothing useful")
	}
	if words[0] == "/" {
		// Found by FuzzRule: visudo rejects it ("expected a fully-qualified
		// path name"), and it names no command anyway.
		return "", fmt.Errorf(`"/" names no command: give the program's absolute path, or a directory ending in "/" such as /usr/bin/`)
	}
	for _, a := range args {
		if strings.Contains(a, `\`) {
			return "", fmt.Errorf(`'\' in an argument is both a sudoers escape and a wildcard escape, so it cannot be matched reliably; use content for such rules`)
		}
		if strings.Contains(a, `"`) && !(a == `""` && len(args) == 1) {
			return "", fmt.Errorf(`sudoers has no quoting: '"' would be a literal character and spaces would still split the argument; the only special form is a lone "" (no arguments allowed)`)
		}
	}
	return strings.Join(words, " "), nil
}

// escapeArg escapes what sudoers gives a meaning to inside command
// arguments (',', ':', '=' and the comment sign '#'); '\' and '"' are
// rejected at validation.
func escapeArg(a string) string {
	var b strings.Builder
	for _, ch := range a {
		if strings.ContainsRune(",:=#", ch) {
			b.WriteByte('\\')
		}
		b.WriteRune(ch)
	}
	return b.String()
}

// Render produces the drop-in's content.
func (d *Dropin) Render() string {
	if d.Content != nil {
		return *d.Content
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by goprov (%s). Local edits are overwritten on the next apply.\n", d.Address)
	for _, r := range d.Rules {
		cmds := make([]string, len(r.Commands))
		for i, c := range r.Commands {
			words := strings.Split(c, " ")
			for j := 1; j < len(words); j++ {
				words[j] = escapeArg(words[j])
			}
			cmds[i] = strings.Join(words, " ")
		}
		tag := ""
		if r.NoPasswd {
			tag = "NOPASSWD: "
		}
		fmt.Fprintf(&b, "%s %s = (%s) %s%s\n", strings.Join(r.Users, ", "), strings.Join(r.Hosts, ", "), r.RunAs, tag, strings.Join(cmds, ", "))
	}
	return b.String()
}

// Path is the drop-in's path on the host.
func (d *Dropin) Path() string { return Dir + "/" + d.Name }

func (d *Dropin) desired() *resources.DesiredFile {
	if !d.Present {
		return nil
	}
	return &resources.DesiredFile{Path: d.Path(), Content: []byte(d.Render()), Mode: 0o440}
}

// checkProbe asks visudo, at plan time and without writing anything,
// whether it accepts the content (read from stdin). It first feeds visudo
// an empty file: a visudo without stdin support (sudo-rs) fails that, and
// the content is then checked at apply only.
func checkProbe(h *resources.Host, content string) string {
	if len(content) > maxProbeContent {
		return "echo 'unchecked content too large to check at plan time'"
	}
	return fmt.Sprintf(`if [ ! -x %s ]; then echo 'unchecked %s not found'
elif ! printf '' | %s -c -q -f - >/dev/null 2>&1; then echo 'unchecked visudo cannot read stdin'
elif o=$(printf '%%s' %s | %s -c -f - 2>&1 >/dev/null); then echo ok
else echo rejected; printf '%%s\n' "$o"; fi`, shell.Quote(h.Path(Visudo)), Visudo, visudo(h), shell.Quote(content), visudo(h))
}

// visudo is how to call the host's visudo: on an image root, the image's
// own, in the local transport's sandbox (the controller's sudo, if it has
// one, is not the image's).
func visudo(h *resources.Host) string { return h.Tool(Visudo) }

// Probe implements resources.Resource: the file, and visudo's verdict on
// the candidate content. The plan needs the verdict (and whether sudo
// includes the drop-in directory) only for content that is not live yet,
// so when the live file already holds the candidate, read with the
// shell's own read (no program started), neither visudo nor grep runs: a
// no-op read of a drop-in starts no program but the file probe's.
func (d *Dropin) Probe(h *resources.Host) string {
	check, included := "echo absent", "echo -"
	if d.Present {
		included = fmt.Sprintf(`grep -Eqs '^[[:space:]]*[@#]includedir[[:space:]]+/etc/sudoers\.d/?[[:space:]]*$' %s && echo yes || echo no`,
			shell.Quote(h.Path("/etc/sudoers")))
		content := d.Render()
		if len(content) <= maxProbeContent {
			same := sameProbe(h.Path(d.Path()), content)
			check = same + "\nif [ -n \"$same\" ]; then echo " + shell.Quote("unchecked "+sameAsLive) + "; else\n" + checkProbe(h, content) + "\nfi"
			included = same + "\nif [ -n \"$same\" ]; then echo -; else " + included + "; fi"
		} else {
			check = checkProbe(h, content)
		}
	}
	return resources.MultiProbe(resources.FileProbe(h.Path(d.Path())), check, included)
}

// sameAsLive is the verdict's message when the candidate is already the
// live file's content.
const sameAsLive = "the content is already the live file's"

// sameProbe sets $same when the regular file p holds exactly content
// (which has no NUL: a NUL in the file, which read drops, can only make it
// look the same when it is not, and then the file probe's exact bytes make
// the change an update that visudo checks at apply). It reads with the
// shell's read, line by line, and stops past content's length.
func sameProbe(p, content string) string {
	return `f=` + shell.Quote(p) + ` w=` + shell.Quote(content) + ` same= c= l=
if [ -f "$f" ] && [ ! -L "$f" ]; then
	{ while :; do
		if IFS= read -r l; then c=$c$l'
'; else c=$c$l; break; fi
		[ ${#c} -le ${#w} ] || break
	done <"$f"; } 2>/dev/null
	[ "$c" != "$w" ] || same=1
fi`
}

// Verdict is what the plan-time visudo check said.
type Verdict struct {
	Checked  bool   // visudo read the content
	Rejected bool   // … and refused it
	Message  string // visudo's message, or why it could not check
}

// ParseVerdict reads checkProbe's output. An answer the probe never gives
// is an error, quoted: it must not pass as "not checked".
func ParseVerdict(out []byte) (Verdict, error) {
	s := strings.TrimRight(string(out), "\n")
	first, rest, _ := strings.Cut(s, "\n")
	switch {
	case first == "ok":
		return Verdict{Checked: true}, nil
	case first == "rejected":
		return Verdict{Checked: true, Rejected: true, Message: strings.TrimSpace(rest)}, nil
	case strings.HasPrefix(first, "unchecked "):
		return Verdict{Message: strings.TrimPrefix(first, "unchecked ")}, nil
	}
	return Verdict{}, fmt.Errorf("visudo check: unrecognised answer %q", out)
}

// Diff implements resources.Resource.
func (d *Dropin) Diff(h *resources.Host, probe []byte) (resources.Change, error) {
	parts, err := resources.SplitMulti(probe, 3)
	if err != nil {
		return resources.Change{}, err
	}
	cur, err := resources.ParseFileState(parts[0])
	if err != nil {
		return resources.Change{}, err
	}
	ch := resources.FileChange(cur, d.desired(), d.Path())
	if !d.Present || ch.Action == resources.NoOp {
		return ch, nil
	}
	v, err := ParseVerdict(parts[1])
	if err != nil {
		return resources.Change{}, fmt.Errorf("%s: %w", d.Path(), err)
	}
	if v.Rejected {
		// Failing the plan is the honest answer: apply would refuse it too.
		return resources.Change{}, fmt.Errorf("visudo rejects the content for %s (nothing was written): %s", d.Path(), v.Message)
	}
	if !v.Checked {
		ch.Notes = append(ch.Notes, "not checked at plan time ("+v.Message+"); visudo checks it at apply, before it goes live")
		if v.Message == Visudo+" not found" {
			ch.ToolMissing = &resources.ToolMissingError{Tool: "visudo", Packages: []string{"sudo"}, Then: "the drop-in will be checked by visudo and written"}
		}
	}
	if inc := strings.TrimSpace(string(parts[2])); inc != "yes" && inc != "-" {
		// A heuristic (the include may be nested): apply checks for real
		// that sudo parses the file, and refuses a drop-in sudo ignores.
		ch.Notes = append(ch.Notes, "/etc/sudoers has no @includedir /etc/sudoers.d line: sudo may ignore this file (apply fails if visudo -c does not parse it)")
	}
	return ch, nil
}

// Apply implements resources.Resource.
func (d *Dropin) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	switch ch.Action {
	case resources.Create, resources.Update:
		if err := resources.WriteFile(ctx, h, *d.desired(), d.writeOptions(h)); err != nil {
			return fmt.Errorf("%s: %w", d.Path(), err)
		}
		return nil
	case resources.Delete:
		return d.remove(ctx, h)
	}
	return nil
}

// Writes implements resources.BatchWriter: a create or update is one
// checked write (a removal keeps its own Apply).
func (d *Dropin) Writes(h *resources.Host, ch resources.Change) ([]resources.FileWrite, bool, error) {
	if ch.Action != resources.Create && ch.Action != resources.Update {
		return nil, false, nil
	}
	return []resources.FileWrite{{File: *d.desired(), Opt: d.writeOptions(h)}}, true, nil
}

// writeOptions check the drop-in with visudo before it goes live, and the
// whole sudo configuration and the login's sudo after. Whether the login
// needs no password is read in the write's own script, just before.
func (d *Dropin) writeOptions(h *resources.Host) resources.WriteOptions {
	opt := resources.WriteOptions{
		// "$1" is the temp file's real path; visudo sees it inside the root.
		Validate: visudo(h) + ` -c -f "` + Dir + `/${1##*/}" >/dev/null`,
		After:    afterCheck(h, d.Path(), false),
	}
	if isLive(h) {
		opt.Prepare = loginUser + asUser + `nopw=
if [ -n "$u" ] && as_user sudo -n true >/dev/null 2>&1; then nopw=yes; fi`
		opt.After = afterCheck(h, d.Path(), false) + `
if [ -n "$u" ] && [ "$nopw" = yes ]; then
  as_user sudo -n true >/dev/null 2>&1 || { echo "with this file, $u (goprov's login user) would need a password for sudo; it needed none before" >&2; exit 1; }
fi`
	}
	return opt
}

// isLive reports whether goprov runs on the host whose sudo it changes:
// not so for an image built under a root directory, where no login's sudo
// can be checked.
func isLive(h *resources.Host) bool { return h.Root == "" || h.Root == "/" }

// loginUser is sh that sets $u to the user goprov logged in as when it
// became root through sudo ("" when it logged in as root).
const loginUser = `u=${SUDO_USER:-}
[ "$u" = root ] && u=
`

// loginNoPasswd reports whether the login user can use sudo without a
// password now, before the change: if so, it must still after.
func loginNoPasswd(ctx context.Context, h *resources.Host) (bool, error) {
	if !isLive(h) {
		return false, nil
	}
	script := loginUser + asUser + `if [ -z "$u" ]; then echo root
elif as_user sudo -n true >/dev/null 2>&1; then echo nopasswd
else echo password; fi`
	res, err := h.Run(ctx, transport.Cmd{Script: script, Sudo: true})
	if err != nil {
		return false, fmt.Errorf("check the login user's sudo: %w", err)
	}
	if err := res.Err("check the login user's sudo"); err != nil {
		return false, err
	}
	return strings.TrimSpace(string(res.Stdout)) == "nopasswd", nil
}

// asUser defines as_user, which runs a command as $u without relying on
// sudoers (runuser, from util-linux), falling back to sudo.
const asUser = `as_user() { if command -v runuser >/dev/null 2>&1; then runuser -u "$u" -- "$@"; else sudo -n -u "$u" -- "$@"; fi; }
`

// afterCheck is run with the new sudoers in place; when it fails, the
// previous file comes back. It checks the whole configuration parses (and,
// after a write, that it includes the file written, "" after a removal),
// and on a live host that the login user may still run /bin/sh as root
// (how goprov runs every command) and, if it could before, still without a
// password.
func afterCheck(h *resources.Host, written string, wasNoPasswd bool) string {
	s := `o=$(` + visudo(h) + ` -c) || { echo 'visudo -c: the sudoers configuration as a whole is invalid with this file' >&2; exit 1; }
`
	if written != "" {
		// sudo's visudo -c lists every file sudo reads: a drop-in missing
		// from it (no @includedir) would be a change with no effect.
		// sudo-rs' lists only the main file, so it cannot tell (its visudo
		// -V has no "grammar version" line).
		s += `case "$o" in *` + shell.Quote(written+": parsed OK") + `*) ;; *)
  if ` + visudo(h) + ` -V 2>/dev/null | grep -q 'grammar version'; then echo "sudo does not read ` + written + ` (no @includedir /etc/sudoers.d in its configuration)" >&2; exit 1; fi ;;
esac
`
	}
	if !isLive(h) {
		return s + ":"
	}
	s += loginUser + asUser + `if [ -n "$u" ]; then
  sudo -l -U "$u" -u root /bin/sh >/dev/null 2>&1 || { echo "with this file, $u (goprov's login user) may no longer run commands as root through sudo" >&2; exit 1; }
`
	if wasNoPasswd {
		s += `  as_user sudo -n true >/dev/null 2>&1 || { echo "with this file, $u (goprov's login user) would need a password for sudo; it needed none before" >&2; exit 1; }
`
	}
	return s + "fi"
}

// remove takes the drop-in out of sudo's sight (renamed to a dot-name sudo
// ignores), runs the same checks as a write, and deletes it — or puts it
// back if removing it would break sudo for goprov's own login.
func (d *Dropin) remove(ctx context.Context, h *resources.Host) error {
	real := h.Path(d.Path())
	var b strings.Builder
	fmt.Fprintf(&b, "set -eu\nf=%s\nd=$(dirname -- \"$f\")\n", shell.Quote(real))
	b.WriteString(`if [ ! -e "$f" ] && [ ! -L "$f" ]; then exit 0; fi
` + resources.NotFileCheck)
	nopw, err := loginNoPasswd(ctx, h)
	if err != nil {
		return err
	}
	b.WriteString(`k=$(mktemp "$d/.goprov.XXXXXXXX")
mv -f -- "$f" "$k"
` + resources.SignalTrap(`mv -f -- "$k" "$f"`))
	fmt.Fprintf(&b, "if ! ( %s ) >&2; then\n  mv -f -- \"$k\" \"$f\"\n  sync -- \"$d\" 2>/dev/null || sync\n  exit %d\nfi\n", afterCheck(h, "", nopw), resources.ExitRestored)
	b.WriteString("trap - HUP INT TERM PIPE\nrm -f -- \"$k\"\nsync -- \"$d\" 2>/dev/null || sync\n")
	res, err := h.Run(ctx, transport.Cmd{Script: b.String(), Sudo: true})
	if err != nil {
		return fmt.Errorf("remove %s: %w", d.Path(), err)
	}
	if res.ExitCode == resources.ExitRestored {
		return fmt.Errorf("remove %s: refused, the file is kept: %s", d.Path(), strings.TrimSpace(string(res.Stderr)))
	}
	return res.Err("remove " + d.Path())
}

func missingRange(body hcl.Body) *hcl.Range {
	if body == nil {
		return nil
	}
	r := body.MissingItemRange()
	return &r
}
