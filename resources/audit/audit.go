// Package audit manages kernel audit rules files in /etc/audit/rules.d,
// loads them with augenrules and verifies with auditctl -l that the kernel
// really holds them: a bad rule stops a load at its line while every tool
// involved can still exit 0, so goprov never takes an exit code for proof.
//
// Three kinds of host, all reported honestly:
//   - audit control available: write, `augenrules --load`, verify;
//   - kernel audit immutable (`auditctl -s` shows enabled 2): write only,
//     "reboot required" (plan note and a pending mark on the host);
//   - audit control refused (a container, a host in its own PID namespace):
//     write only, "not loaded" with the kernel's reason in the plan.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// KindName is the resource kind's name in HCL.
const KindName = "audit_rules"

// RulesDir is where augenrules reads rules files (only names ending in
// .rules, in natural sort order).
const RulesDir = "/etc/audit/rules.d"

func init() { resources.Register(KindName, kind{}) }

var nameRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

type kind struct{}

func (kind) Spec() hcldec.Spec {
	return &hcldec.ObjectSpec{
		"name": &hcldec.AttrSpec{Name: "name", Type: cty.String, Required: true},
		"rules": &hcldec.DefaultSpec{
			Primary: &hcldec.AttrSpec{Name: "rules", Type: cty.List(cty.String)},
			Default: &hcldec.LiteralSpec{Value: cty.ListValEmpty(cty.String)},
		},
		"ensure": &hcldec.DefaultSpec{
			Primary: &hcldec.AttrSpec{Name: "ensure", Type: cty.String},
			Default: &hcldec.LiteralSpec{Value: cty.StringVal("present")},
		},
		"skip_missing_paths": &hcldec.DefaultSpec{
			Primary: &hcldec.AttrSpec{Name: "skip_missing_paths", Type: cty.Bool},
			Default: &hcldec.LiteralSpec{Value: cty.False},
		},
	}
}

// Rules is a decoded audit_rules.
type Rules struct {
	Address string
	Name    string
	Lines   []string // as written (whitespace-normalised)
	Parsed  []Rule
	Present bool
	// SkipMissing leaves rules whose paths a host lacks out of the file
	// written for that host (a rule set shared by a fleet), with a note.
	SkipMissing bool
}

func (kind) New(address string, v cty.Value, body hcl.Body) (resources.Resource, hcl.Diagnostics) {
	r := &Rules{Address: address, Name: v.GetAttr("name").AsString()}
	if v.Type().HasAttribute("skip_missing_paths") { // absent from plans saved before it existed
		r.SkipMissing = v.GetAttr("skip_missing_paths").True()
	}
	var diags hcl.Diagnostics
	bad := func(rng *hcl.Range, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng})
	}
	if !nameRe.MatchString(r.Name) {
		bad(resources.AttrRange(body, "name"), "Invalid audit_rules name",
			fmt.Sprintf("%q: use letters, digits, '-' and '_' only (it becomes %s/NAME.rules).", r.Name, RulesDir))
	}
	present, dg := resources.Ensure(v, body)
	r.Present = present
	if dg != nil {
		diags = append(diags, dg)
	}
	seen := map[string]int{}
	for i, ev := range v.GetAttr("rules").AsValueSlice() {
		line := ev.AsString()
		rng := resources.ElemRange(body, "rules", i)
		if strings.ContainsAny(line, "\n\r\x00") {
			bad(rng, "Invalid audit rule", fmt.Sprintf("%q: one rule per list element; newlines and NUL are not allowed.", line))
			continue
		}
		line = strings.Join(strings.Fields(line), " ")
		if msg := controlOption(line); msg != "" {
			bad(rng, "Not an audit rule", fmt.Sprintf("%q: %s", line, msg))
			continue
		}
		p, err := ParseRule(line)
		if err != nil {
			bad(rng, "Invalid audit rule", fmt.Sprintf("%q: %v.", line, err))
			continue
		}
		if j, dup := seen[p.String()]; dup {
			bad(rng, "Duplicate audit rule", fmt.Sprintf("%q is the same rule as element %d; the kernel refuses a duplicate (\"Rule exists\") and stops loading there.", line, j))
			continue
		}
		seen[p.String()] = i
		r.Lines = append(r.Lines, line)
		r.Parsed = append(r.Parsed, p)
	}
	if r.Present && len(v.GetAttr("rules").AsValueSlice()) == 0 {
		bad(resources.AttrRange(body, "rules"), "No rules", `A present audit_rules needs at least one rule; to remove the file, write ensure = "absent".`)
	}
	return r, diags
}

// controlOption explains why a line that sets audit's configuration
// rather than adding a rule is refused. -e 2 above all: it makes the
// kernel's rules immutable until reboot, for every file at once.
func controlOption(line string) string {
	opt, _, _ := strings.Cut(line, " ")
	switch {
	case opt == "-e" || strings.HasPrefix(opt, "-e"):
		return "-e sets the kernel's audit enabled flag for the whole system (and -e 2 locks every rule until reboot); audit_rules only adds rules, so that what it loads can be verified and undone. Set the flag in the host's own audit configuration (e.g. 99-finalize.rules)."
	case opt == "-D" || opt == "-b" || opt == "-f" || opt == "-r" || opt == "-R" || opt == "-W" || opt == "-d" || opt == "-c" || opt == "-i" ||
		strings.HasPrefix(opt, "--"):
		return opt + " is an audit control option, not a rule; audit_rules takes rules only (-w, -a, -A), each verified with auditctl -l after loading."
	}
	return ""
}

// Path is the rules file on the host.
func (r *Rules) Path() string { return RulesDir + "/" + r.Name + ".rules" }

// pendingKey names this file's pending-reload mark (keys are lower-case).
func (r *Rules) pendingKey() string {
	k := "audit_rules." + strings.ToLower(r.Name)
	if k != "audit_rules."+r.Name {
		sum := sha256.Sum256([]byte(r.Name))
		k += "." + hex.EncodeToString(sum[:4])
	}
	return k
}

// Render produces the rules file with the rules of index keep (all when
// keep is nil).
func (r *Rules) Render(keep []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Managed by goprov (%s). Local edits are overwritten on the next apply.\n", r.Address)
	if keep == nil {
		for _, l := range r.Lines {
			b.WriteString(l + "\n")
		}
	}
	for _, i := range keep {
		b.WriteString(r.Lines[i] + "\n")
	}
	return b.String()
}

func (r *Rules) desired(v verdict) *resources.DesiredFile {
	if !r.Present {
		return nil
	}
	keep := v.keep
	if keep == nil {
		keep = []int{}
	}
	return &resources.DesiredFile{Path: r.Path(), Content: []byte(r.Render(keep)), Mode: 0o640}
}

// findTools sets $a (auditctl) and $g (augenrules) by absolute path:
// a non-login PATH may lack sbin.
const findTools = `a=/sbin/auditctl; [ -x "$a" ] || a=/usr/sbin/auditctl
g=/sbin/augenrules; [ -x "$g" ] || g=/usr/sbin/augenrules
`

// statusProbe prints "enabled N" and the loaded rules, or why the kernel
// cannot be asked. Only the enabled line of auditctl -s is kept: its
// counters move all the time, and the probe must be deterministic.
const statusProbe = findTools + `if [ ! -x "$a" ]; then echo 'missing auditctl is not installed'
elif o=$("$a" -s 2>&1); then printf '%s\n' "$o" | ` + enabledFilter + `; "$a" -l 2>&1
else printf 'refused %s\n' "${o%%"
"*}"; fi`

// enabledFilter keeps the enabled line of auditctl -s, with the shell's
// read rather than a sed: every program a read starts costs the host CPU.
const enabledFilter = `while IFS= read -r l; do case $l in 'enabled '*) l=${l#enabled }; printf 'enabled %s\n' "${l%%[!0-9]*}" ;; esac; done`

// imageStatus stands in for statusProbe on an image root (a local host
// whose root is a directory): the kernel there is the build machine's, which
// goprov must neither read nor load rules into.
const imageStatus = `echo 'image an image root: the rules load when a system booted from this image starts auditd'`

// Probe implements resources.Resource.
func (r *Rules) Probe(h *resources.Host) string {
	status, boot, facts := statusProbe, `IFS= read -r b </proc/sys/kernel/random/boot_id && printf '%s\n' "$b"`, factsProbe
	if h.Root != "" && h.Root != "/" {
		status, boot, facts = imageStatus, "echo image", "echo image"
	}
	return resources.MultiProbe(
		resources.FileProbe(h.Path(r.Path())),
		resources.PendingProbe(h, r.pendingKey()),
		status,
		boot,
		facts,
		depsProbe(h, r.dependencyPaths(), r.names()),
		othersProbe(h, r.Path()),
	)
}

// Control is what the kernel lets goprov do with audit on a host.
type Control int

// Controls.
const (
	Loadable  Control = iota // auditctl -s answers, enabled 0 or 1
	Immutable                // enabled 2: rules change only with a reboot
	Refused                  // auditctl is missing or the kernel refuses
)

// Status is the kernel audit state the probe found.
type Status struct {
	Control Control
	Enabled string   // "0", "1", "2"
	Reason  string   // Refused: why
	Missing bool     // Refused because auditctl is not installed
	Loaded  []string // the lines of auditctl -l
}

// ParseStatus reads statusProbe's output.
func ParseStatus(out []byte) (Status, error) {
	s := string(out)
	first, rest, _ := strings.Cut(s, "\n")
	switch {
	case strings.HasPrefix(first, "missing "):
		return Status{Control: Refused, Missing: true, Reason: strings.TrimPrefix(first, "missing ")}, nil
	case strings.HasPrefix(first, "image "):
		return Status{Control: Refused, Reason: strings.TrimPrefix(first, "image ")}, nil
	case strings.HasPrefix(first, "refused "):
		return Status{Control: Refused, Reason: "the kernel refuses audit control here (" + strings.TrimPrefix(first, "refused ") + ")"}, nil
	case strings.HasPrefix(first, "enabled "):
		st := Status{Enabled: strings.TrimPrefix(first, "enabled "), Loaded: ParseLoaded(rest)}
		switch st.Enabled {
		case "0", "1":
		case "2":
			st.Control = Immutable
		default:
			return Status{}, fmt.Errorf("audit status: unexpected enabled value %q", st.Enabled)
		}
		return st, nil
	}
	return Status{}, fmt.Errorf("audit status: unexpected output %q", s)
}

// state is everything the probe read.
type state struct {
	file    resources.FileState
	pending bool
	why     string
	status  Status
	bootID  string
	facts   facts
}

func (r *Rules) parseProbe(out []byte) (state, error) {
	parts, err := resources.SplitMulti(out, 7)
	if err != nil {
		return state{}, err
	}
	var st state
	if st.file, err = resources.ParseFileState(parts[0]); err != nil {
		return state{}, err
	}
	if st.pending, st.why, err = resources.ParsePending(parts[1]); err != nil {
		return state{}, err
	}
	if st.status, err = ParseStatus(parts[2]); err != nil {
		return state{}, err
	}
	st.bootID = strings.TrimSpace(string(parts[3]))
	if st.facts, err = parseFacts(parts[4], parts[5], len(r.dependencies())); err != nil {
		return state{}, err
	}
	st.facts.others = string(parts[6])
	return st, nil
}

// rebootMark is the pending mark's text when the kernel is immutable: the
// boot id tells the next plan whether a reboot has happened since.
func rebootMark(path, bootID string) string {
	return "reboot required: " + path + " changed while kernel audit was immutable (boot_id=" + bootID + ")"
}

func markBootID(why string) string {
	_, id, ok := strings.Cut(why, "(boot_id=")
	if !ok {
		return ""
	}
	return strings.TrimSuffix(id, ")")
}

const (
	noteLoad      = "loaded with augenrules --load, then verified against auditctl -l"
	noteImmutable = "kernel audit is immutable (enabled 2): the file is written, the rules take effect only after a reboot"
	noteDisabled  = "kernel auditing is disabled (enabled 0): the rules are loaded, but nothing is logged until auditing is enabled"
)

// Diff implements resources.Resource.
func (r *Rules) Diff(h *resources.Host, probe []byte) (resources.Change, error) {
	st, err := r.parseProbe(probe)
	if err != nil {
		return resources.Change{}, err
	}
	v := r.judge(st.facts)
	if r.Present && len(v.refused) > 0 {
		return resources.Change{}, r.refusal(v)
	}
	ch := resources.FileChange(st.file, r.desired(v), r.Path())
	ch.Notes = append(ch.Notes, v.notes...)
	fileChanges := ch.Action != resources.NoOp
	rebooted := st.pending && markBootID(st.why) != "" && markBootID(st.why) != st.bootID
	switch st.status.Control {
	case Refused:
		// Nothing goprov (or anyone on this host) can load: say so, every
		// time, and do not pretend the plan has work it cannot do.
		ch.Notes = append(ch.Notes, "written, NOT loaded: "+st.status.Reason)
		if st.status.Missing && r.Present {
			// A package resource installing auditd makes this known
			// after apply: loaded and verified in the same run.
			ch.ToolMissing = &resources.ToolMissingError{Tool: "auditctl", Packages: []string{"auditd"}, Then: "rules will be loaded and verified"}
		}
		if r.Present && !v.exact {
			ch.Notes = append(ch.Notes, "syscall names, user and group names not checked ("+v.why+"): the kernel that loads the file decides")
		}
		return ch, nil
	case Immutable:
		if fileChanges {
			ch.Notes = append(ch.Notes, noteImmutable)
			return ch, nil
		}
		missing := r.Present && (!v.exact || len(Missing(v.listed, st.status.Loaded)) > 0)
		if st.pending && rebooted && !missing {
			ch.Action = resources.Update
			ch.Notes = append(ch.Notes, "rules loaded at boot since the change: the pending reboot mark is cleared")
			return ch, nil
		}
		if st.pending || missing {
			ch.Notes = append(ch.Notes, "reboot required: kernel audit is immutable (enabled 2) and the rules in the file are not the loaded ones")
		}
		return ch, nil
	}
	if r.Present && !v.exact {
		return resources.Change{}, fmt.Errorf("%s: cannot tell how the kernel lists these rules: %s", r.Path(), v.why)
	}
	if fileChanges {
		if r.Present {
			ch.Notes = append(ch.Notes, noteLoad)
		} else {
			ch.Notes = append(ch.Notes, "the kernel's rules are reloaded with augenrules --load, then checked with auditctl -l that the removed rules are gone")
		}
		if st.status.Enabled == "0" {
			ch.Notes = append(ch.Notes, noteDisabled)
		}
		if st.pending {
			ch.Notes = append(ch.Notes, "reload pending: "+st.why)
		}
		return ch, nil
	}
	if st.pending {
		ch.Action = resources.Update
		ch.Notes = append(ch.Notes, "reload pending: "+st.why)
		return ch, nil
	}
	if r.Present {
		if miss := Missing(v.listed, st.status.Loaded); len(miss) > 0 {
			ch.Action = resources.Update
			ch.Notes = append(ch.Notes, "reload: "+describeMissing(miss)+" in the file but not loaded in the kernel")
		}
	}
	return ch, nil
}

// Apply implements resources.Resource.
func (r *Rules) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	if ch.Action == resources.NoOp {
		return nil
	}
	st, err := r.parseProbe(ch.Current)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Path(), err)
	}
	v := r.judge(st.facts)
	if r.Present && len(v.refused) > 0 { // the plan refused already; never write
		return r.refusal(v)
	}
	want := r.desired(v)
	fileChanges := resources.FileChange(st.file, want, r.Path()).Action != resources.NoOp
	switch st.status.Control {
	case Refused:
		// The plan said "written, NOT loaded"; that is all there is to do.
		h.Note("written, NOT loaded: " + st.status.Reason)
		return r.writeOrRemove(ctx, h, want, fileChanges)
	case Immutable:
		if fileChanges {
			if err := resources.MarkPending(ctx, h, r.pendingKey(), rebootMark(r.Path(), st.bootID)); err != nil {
				return err
			}
			h.Note("reboot required: kernel audit is immutable; the rules take effect at the next boot")
			return r.writeOrRemove(ctx, h, want, true)
		}
		// Only planned when a reboot loaded the rules: drop the mark.
		return resources.ClearPending(ctx, h, r.pendingKey())
	}
	// Marked before the write, cleared only after a verified load (or a
	// verified restore): a load that fails or never runs (cut connection)
	// and cannot be undone stays pending on the host.
	if err := resources.MarkPending(ctx, h, r.pendingKey(), "augenrules --load after a change of "+r.Path()); err != nil {
		return err
	}
	if err := r.writeOrRemove(ctx, h, want, fileChanges); err != nil {
		return err
	}
	loadErr := r.load(ctx, h, v, st)
	if loadErr == nil {
		return resources.ClearPending(ctx, h, r.pendingKey())
	}
	if !fileChanges {
		// Nothing of ours to undo (a retried reload): the mark stays.
		return fmt.Errorf("%s: %w (the reload stays pending: the next plan shows it and the next apply retries it)", r.Path(), loadErr)
	}
	if rerr := r.restore(ctx, h, st); rerr != nil {
		return fmt.Errorf("%s: %w; restoring the previous file failed too: %v (the reload stays pending: the next plan shows it and the next apply retries it)", r.Path(), loadErr, rerr)
	}
	if err := resources.ClearPending(ctx, h, r.pendingKey()); err != nil {
		return err
	}
	return fmt.Errorf("%s: %w; the previous file is restored and the kernel holds the previous rules again (auditctl -l as before the apply)", r.Path(), loadErr)
}

// Writes implements resources.BatchWriter: where the kernel refuses audit
// control (the plan says "written, NOT loaded"), a change is the rules
// file written and nothing else. Anything that loads, or removes, keeps
// its own Apply.
func (r *Rules) Writes(h *resources.Host, ch resources.Change) ([]resources.FileWrite, bool, error) {
	if ch.Action == resources.NoOp {
		return nil, false, nil
	}
	st, err := r.parseProbe(ch.Current)
	if err != nil {
		return nil, false, err
	}
	v := r.judge(st.facts)
	want := r.desired(v)
	if st.status.Control != Refused || want == nil || r.Present && len(v.refused) > 0 {
		return nil, false, nil
	}
	if resources.FileChange(st.file, want, r.Path()).Action == resources.NoOp {
		return nil, true, nil
	}
	return []resources.FileWrite{{File: *want, Opt: writeOptions(h)}}, true, nil
}

// restore puts the file back as the probe found it, reloads, and checks
// that the kernel lists exactly the rules it listed before the apply.
func (r *Rules) restore(ctx context.Context, h *resources.Host, st state) error {
	if st.file.Exists {
		prev := resources.DesiredFile{Path: r.Path(), Content: st.file.Content, Mode: st.file.Mode & 0o7777}
		if err := resources.WriteFile(ctx, h, prev, resources.WriteOptions{MkdirMode: 0o750}); err != nil {
			return fmt.Errorf("write the previous file: %w", err)
		}
	} else if err := resources.RemoveFile(ctx, h, r.Path()); err != nil {
		return fmt.Errorf("remove the new file: %w", err)
	}
	out, err := runLoad(ctx, h)
	if err != nil {
		return err
	}
	now := ParseLoaded(out.listed)
	if strings.Join(now, "\n") != strings.Join(st.status.Loaded, "\n") {
		return fmt.Errorf("after the restore the kernel lists %d rules, %d before the apply (%s)", len(now), len(st.status.Loaded), out.said)
	}
	return nil
}

func (r *Rules) writeOrRemove(ctx context.Context, h *resources.Host, want *resources.DesiredFile, changes bool) error {
	if !changes {
		return nil
	}
	if want == nil {
		return resources.RemoveFile(ctx, h, r.Path())
	}
	if err := resources.WriteFile(ctx, h, *want, writeOptions(h)); err != nil {
		return fmt.Errorf("%s: %w", r.Path(), err)
	}
	return nil
}

// loadScript runs augenrules --load and lists what the kernel then holds,
// and the rules of every file augenrules read, as three MultiProbe parts.
var loadScript = findTools + `if [ ! -x "$g" ]; then echo "augenrules not found (or not executable) at $g" >&2; exit ` + strconv.Itoa(resources.ExitToolMissing) + `; fi
` + resources.MultiProbe(`"$g" --load 2>&1; echo "exit $?"`, `"$a" -l 2>&1`, `cat `+RulesDir+`/*.rules 2>/dev/null || true`)

type loadOut struct {
	said   string // augenrules' messages
	listed string // auditctl -l
	files  string // the rules files as augenrules read them
}

func runLoad(ctx context.Context, h *resources.Host) (loadOut, error) {
	res, err := h.Run(ctx, transport.Cmd{Script: loadScript, Sudo: true})
	if err != nil {
		return loadOut{}, fmt.Errorf("augenrules --load: %w", err)
	}
	if err := res.Err("augenrules --load"); err != nil {
		return loadOut{}, err
	}
	parts, err := resources.SplitMulti(res.Stdout, 3)
	if err != nil {
		return loadOut{}, fmt.Errorf("augenrules --load: %w", err)
	}
	return loadOut{LoadMessages(string(parts[0])), string(parts[1]), string(parts[2])}, nil
}

// load reloads the rules and checks the outcome in the kernel, not in exit
// codes: augenrules --load exits 1 on "No change" with some versions, and
// a load that stopped at a bad line can still exit 0 for its caller.
func (r *Rules) load(ctx context.Context, h *resources.Host, v verdict, st state) error {
	out, err := runLoad(ctx, h)
	if err != nil {
		return err
	}
	loaded := ParseLoaded(out.listed)
	if r.Present {
		if miss := Missing(v.listed, loaded); len(miss) > 0 {
			return fmt.Errorf("rules not loaded: %s missing from auditctl -l after augenrules --load (%s)", describeMissing(miss), out.said)
		}
		return nil
	}
	// Removed: its rules must be gone, unless another file still has them.
	if gone := r.stillLoaded(st, loaded, out.files); len(gone) > 0 {
		return fmt.Errorf("rules still loaded after the file was removed: %s (%s)", describeMissing(gone), out.said)
	}
	if strings.Contains(strings.ToLower(out.said), "error") {
		return fmt.Errorf("augenrules --load: %s", out.said)
	}
	return nil
}

// stillLoaded returns the rules of the removed file (as the probe read it)
// that the kernel still lists although no remaining file holds them.
func (r *Rules) stillLoaded(st state, loaded []string, files string) []Listed {
	if st.facts.listing == nil || !st.file.Exists {
		return nil
	}
	l := *st.facts.listing
	others := map[string]bool{}
	for _, line := range strings.Split(files, "\n") {
		if p, err := ParseRule(line); err == nil {
			if x, err := l.Of(p); err == nil {
				others[x.Line] = true
			}
		}
	}
	var removed []Listed
	for _, line := range strings.Split(string(st.file.Content), "\n") {
		p, err := ParseRule(strings.TrimSpace(line))
		if err != nil {
			continue
		}
		if x, err := l.Of(p); err == nil && !others[x.Line] {
			removed = append(removed, x)
		}
	}
	var still []Listed
	for _, x := range removed {
		if len(Missing([]Listed{x}, loaded)) == 0 {
			still = append(still, x)
		}
	}
	return still
}

// LoadMessages keeps what matters of augenrules --load's output: its
// errors and exit status, without the auditctl -s status dumps.
func LoadMessages(out string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || statusLine.MatchString(l) || l == "No rules" {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) == 0 {
		return "no output"
	}
	return strings.Join(keep, "; ")
}

var statusLine = regexp.MustCompile(`^(enabled|failure|pid|rate_limit|backlog_limit|lost|backlog|backlog_wait_time|backlog_wait_time_actual|loginuid_immutable) `)
