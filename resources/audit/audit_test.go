package audit

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/resources/resourcetest"
	"github.com/goprov/goprov/transport"
)

// Recorded on the lab's audit host (auditd 3.0.9, Linux 6.1): each line of
// a rules file loaded with augenrules --load, and how auditctl -l listed it.
var recorded = []struct{ written, listed string }{
	{"-w /etc/sudoers -p wa -k sudoers_change", "-w /etc/sudoers -p wa -k sudoers_change"},
	{"-w /etc/sudoers.d/ -p wa -k sudoers_change", "-w /etc/sudoers.d -p wa -k sudoers_change"},
	{"-a always,exit -F arch=b64 -S execve -F path=/usr/bin/sudo -k sudo_exec", "-a always,exit -F arch=b64 -S execve -F path=/usr/bin/sudo -F key=sudo_exec"},
	{"-w /etc/passwd -p aw", "-w /etc/passwd -p wa"},
	{"-a exit,always -F arch=b64 -S openat -S open -F auid>=1000 -F auid!=unset -k access", "-a always,exit -F arch=b64 -S open,openat -F auid>=1000 -F auid!=-1 -F key=access"},
	{"-a always,exit -F arch=b32 -S open,creat -F exit=-EACCES -k acc", "-a always,exit -F arch=b32 -S open,creat -F exit=-EACCES -F key=acc"},
	{"-a always,exit -F arch=b64 -S all -F uid=root -F key=k2", "-a always,exit -F arch=b64 -S all -F uid=0 -F key=k2"},
	{"-a never,task", "-a never,task"},
	{"-a always,exit -F arch=b64 -S adjtimex,settimeofday -k time-change -k tc2", "-a always,exit -F arch=b64 -S adjtimex,settimeofday -F key=time-change -F key=tc2"},
	{"-A always,exit -F arch=b64 -C uid!=euid -F euid=0 -S execve -k escal", "-a always,exit -F arch=b64 -S execve -C uid!=euid -F euid=0 -F key=escal"},
	{"-a always,exit -F dir=/home -F perm=wa -k homes", "-w /home -p wa -k homes"},
	{"-a always,exit -S execve -k noarch", "-a always,exit -S execve -F key=noarch"},
	{"-a exit,always -F arch=x86_64 -S init_module -S delete_module -k mod", "-a always,exit -F arch=b64 -S init_module,delete_module -F key=mod"},
}

func TestRulesMatchAuditctlListing(t *testing.T) {
	l := corpusListing(t, "testdata/corpus/bookworm")
	var listed strings.Builder
	var want []Listed
	for _, rc := range recorded {
		w, err := ParseRule(rc.written)
		if err != nil {
			t.Fatalf("%q: %v", rc.written, err)
		}
		got, err := l.Of(w)
		if err != nil {
			t.Fatalf("%q: %v", rc.written, err)
		}
		if !got.Matches(rc.listed) {
			t.Errorf("written %q: goprov lists %q, the kernel %q", rc.written, got.Line, rc.listed)
		}
		want = append(want, got)
		listed.WriteString(rc.listed + "\n")
	}
	if miss := Missing(want, ParseLoaded(listed.String())); len(miss) != 0 {
		t.Errorf("missing: %v", miss)
	}
	// Near misses must not match: a rule that differs in anything the
	// kernel keeps is not loaded.
	near := []struct{ written, listed string }{
		{"-w /etc/sudoers -p wa -k sudoers_change", "-w /etc/sudoers -p wa -k other"},
		{"-w /etc/sudoers -p wa -k sudoers_change", "-w /etc/sudoers -p w -k sudoers_change"},
		{"-w /etc/sudoers -p wa", "-w /etc/sudoers.d -p wa"},
		{"-w /etc/sudoers", "-w /etc/sudoers -p wa"},
		{"-a always,exit -F arch=b64 -S execve -k x", "-a always,exit -F arch=b32 -S execve -F key=x"},
		{"-a always,exit -F arch=b64 -S execve -k x", "-a never,exit -F arch=b64 -S execve -F key=x"},
		{"-a always,exit -F arch=b64 -S execve,open -k x", "-a always,exit -F arch=b64 -S execve -F key=x"},
		{"-a always,exit -F arch=b64 -S all -F uid=root", "-a always,exit -F arch=b64 -S all -F euid=0"},
		{"-a always,exit -F arch=b64 -S all -F auid>=1000", "-a always,exit -F arch=b64 -S all -F auid>=1000 -F auid!=-1"},
		{"-a always,exit -F arch=b64 -S all -F uid=root", "-a always,exit -F arch=b64 -S all -F uid=x0"},
	}
	for _, n := range near {
		w, err := ParseRule(n.written)
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.Of(w)
		if err != nil {
			t.Fatal(err)
		}
		if got.Matches(n.listed) {
			t.Errorf("%q wrongly matches %q", n.written, n.listed)
		}
	}
	if got := ParseLoaded("No rules\n"); len(got) != 0 {
		t.Errorf("No rules parsed as %v", got)
	}
}

func decode(t *testing.T, src string) (*Rules, hcl.Diagnostics) {
	t.Helper()
	r, diags := resourcetest.Decode(t, kind{}, "audit_rules.sudo", src)
	x, _ := r.(*Rules)
	return x, diags
}

func TestValidation(t *testing.T) {
	cases := []resourcetest.Case{
		{`name = "50-sudo"
rules = ["-w /etc/sudoers -p wa -k sudoers_change", "-a always,exit -F arch=b64 -S execve -F path=/usr/bin/sudo -k sudo_exec"]`, ""},
		{`name = "50.sudo"
rules = ["-w /etc/sudoers"]`, "Invalid audit_rules name"},
		{`name = "../x"
rules = ["-w /etc/sudoers"]`, "Invalid audit_rules name"},
		{`name = "x"`, "No rules"},
		{`name = "x"
ensure = "absent"`, ""},
		{`name = "x"
ensure = "maybe"
rules = ["-w /etc/x"]`, "Invalid ensure"},
		{`name = "x"
rules = ["-e 2"]`, "Not an audit rule"},
		{`name = "x"
rules = ["-e 1"]`, "Not an audit rule"},
		{`name = "x"
rules = ["-D"]`, "Not an audit rule"},
		{`name = "x"
rules = ["-b 8192"]`, "Not an audit rule"},
		{`name = "x"
rules = ["--backlog_wait_time 60000"]`, "Not an audit rule"},
		{`name = "x"
rules = ["-w /etc/x -p wa\n-e 2"]`, "Invalid audit rule"},
		{`name = "x"
rules = ["-w etc/x"]`, "Invalid audit rule"},
		{`name = "x"
rules = ["-w /etc/x -p z"]`, "Invalid audit rule"},
		{`name = "x"
rules = ["-w /etc/x -S execve"]`, "Invalid audit rule"},
		{`name = "x"
rules = ["-a sometimes,exit -S execve"]`, "Invalid audit rule"},
		{`name = "x"
rules = ["-a always,exit -F arch"]`, "Invalid audit rule"},
		{`name = "x"
rules = ["-a always,exit -S execve -p wa"]`, "Invalid audit rule"},
		{`name = "x"
rules = ["-a always,exit -S execve ; rm -rf /"]`, "Invalid audit rule"},
		{`name = "x"
rules = ["-w /etc/x -p wa", "-w /etc/x  -p wa"]`, "Duplicate audit rule"},
	}
	resourcetest.Validation(t, kind{}, "audit_rules.sudo", cases)
}

// Recorded auditctl -s output (auditd 3.0.9); the probe keeps only the
// enabled line, checked here in a real shell with the probe's own filter.
const statusImmutable = `enabled 2
failure 1
pid 612
rate_limit 0
backlog_limit 8192
lost 0
backlog 3
backlog_wait_time 60000
backlog_wait_time_actual 0
loginuid_immutable 0 unlocked
`

func TestEnabledFilter(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", enabledFilter)
	cmd.Stdin = strings.NewReader(statusImmutable)
	out, err := cmd.Output()
	if err != nil || string(out) != "enabled 2\n" {
		t.Fatalf("filter: %q %v", out, err)
	}
}

func TestParseStatus(t *testing.T) {
	cases := []struct {
		out     string
		control Control
		loaded  int
		reason  string
	}{
		{"enabled 0\nNo rules\n", Loadable, 0, ""},
		{"enabled 1\n-w /etc/sudoers -p wa -k sudoers_change\n-a always,exit -F arch=b64 -S execve -F key=x\n", Loadable, 2, ""},
		{"enabled 2\n-w /etc/sudoers -p wa -k sudoers_change\n", Immutable, 1, ""},
		{"refused Error sending status request (Operation not permitted)\n", Refused, 0, "the kernel refuses audit control here (Error sending status request (Operation not permitted))"},
		{"missing auditctl is not installed\n", Refused, 0, "auditctl is not installed"},
	}
	for _, tc := range cases {
		st, err := ParseStatus([]byte(tc.out))
		if err != nil {
			t.Errorf("%q: %v", tc.out, err)
			continue
		}
		if st.Control != tc.control || len(st.Loaded) != tc.loaded || st.Reason != tc.reason {
			t.Errorf("%q: got %+v", tc.out, st)
		}
	}
	if _, err := ParseStatus([]byte("enabled x\n")); err == nil {
		t.Error("bad enabled value accepted")
	}
}

// multi builds a probe's output from its first four parts (file, mark,
// status, boot id); the facts are bookworm's (from the corpus) and both
// paths the sudo rules depend on (/etc, /usr/bin) exist.
func multi(parts ...string) []byte {
	if len(parts) == 4 {
		parts = append(parts, bookwormFacts, "d\nd\n")
	}
	if len(parts) == 6 {
		parts = append(parts, "@@file audit.rules\n-D\n-b 8192\n-f 1\n--backlog_wait_time 60000\n")
	}
	return resources.MultiOutput(parts...)
}

// bookwormFacts is factsProbe's output on the lab's bookworm audit host.
var bookwormFacts = func() string {
	dir := "testdata/corpus/bookworm/"
	ver, _ := os.ReadFile(dir + "VERSION")
	b64, _ := os.ReadFile(dir + "ausyscall-b64")
	b32, _ := os.ReadFile(dir + "ausyscall-b32")
	v, _, _ := strings.Cut(string(ver), "\n")
	return v + "\nx86_64\n@@table b64\n" + string(b64) + "@@table b32\n" + string(b32)
}()

const (
	boot1 = "b4b897a1-c18c-4cd9-b7bf-5812e3b26172"
	boot2 = "0f0e0d0c-0000-4000-8000-000000000002"
)

func sudoRules(t *testing.T) *Rules {
	t.Helper()
	r, diags := decode(t, `name = "50-sudo"
rules = ["-w /etc/sudoers -p wa -k sudoers_change", "-a always,exit -F arch=b64 -S execve -F path=/usr/bin/sudo -k sudo_exec"]`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return r
}

const loadedSudo = "-w /etc/sudoers -p wa -k sudoers_change\n-a always,exit -F arch=b64 -S execve -F path=/usr/bin/sudo -F key=sudo_exec\n"

func TestDiff(t *testing.T) {
	r := sudoRules(t)
	h := &resources.Host{Root: "/"}
	file := "file 640 0 0\n" + r.Render(nil)
	noMark := "absent\n"
	mark := func(why string) string { return "file 600 0 0\n" + why + "\n" }
	cases := []struct {
		name   string
		probe  []byte
		action resources.Action
		note   string
	}{
		{"create", multi("absent\n", noMark, "enabled 1\nNo rules\n", boot1), resources.Create, noteLoad},
		{"create, auditing off", multi("absent\n", noMark, "enabled 0\nNo rules\n", boot1), resources.Create, noteDisabled},
		{"in sync", multi(file, noMark, "enabled 1\n"+loadedSudo, boot1), resources.NoOp, ""},
		{"written but not loaded", multi(file, noMark, "enabled 1\n-w /etc/sudoers -p wa -k sudoers_change\n", boot1), resources.Update,
			`reload: "-a always,exit -F arch=b64 -S execve -F path=/usr/bin/sudo -F key=sudo_exec" is in the file but not loaded`},
		{"reload pending", multi(file, mark("augenrules --load after a change of /etc/audit/rules.d/50-sudo.rules"), "enabled 1\n"+loadedSudo, boot1), resources.Update,
			"reload pending: augenrules --load after a change of /etc/audit/rules.d/50-sudo.rules"},
		{"immutable, new file", multi("absent\n", noMark, statusImmutableProbe, boot1), resources.Create, noteImmutable},
		{"immutable, waiting for reboot", multi(file, mark(rebootMark(r.Path(), boot1)), statusImmutableProbe, boot1), resources.NoOp, "reboot required"},
		{"immutable, rebooted and loaded", multi(file, mark(rebootMark(r.Path(), boot1)), "enabled 2\n"+loadedSudo, boot2), resources.Update, "pending reboot mark is cleared"},
		{"immutable, rebooted, not loaded", multi(file, mark(rebootMark(r.Path(), boot1)), statusImmutableProbe, boot2), resources.NoOp, "reboot required"},
		{"refused, new file", multi("absent\n", noMark, "refused Error sending status request (Operation not permitted)\n", boot1), resources.Create,
			"written, NOT loaded: the kernel refuses audit control here (Error sending status request (Operation not permitted))"},
		{"refused, in sync", multi(file, noMark, "refused Error sending status request (Operation not permitted)\n", boot1), resources.NoOp, "NOT loaded"},
	}
	for _, tc := range cases {
		ch, err := r.Diff(h, tc.probe)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if ch.Action != tc.action {
			t.Errorf("%s: action %s, want %s (notes %q)", tc.name, ch.Action, tc.action, ch.Notes)
		}
		if tc.note != "" && !strings.Contains(strings.Join(ch.Notes, "\n"), tc.note) {
			t.Errorf("%s: notes %q lack %q", tc.name, ch.Notes, tc.note)
		}
		if tc.action == resources.Create && !strings.Contains(ch.Diff, "+-w /etc/sudoers -p wa -k sudoers_change") {
			t.Errorf("%s: no diff: %q", tc.name, ch.Diff)
		}
	}
	gone, _ := decode(t, "name = \"50-sudo\"\nensure = \"absent\"")
	if ch, _ := gone.Diff(h, multi(file, noMark, "enabled 1\n"+loadedSudo, boot1)); ch.Action != resources.Delete {
		t.Errorf("absent: %v", ch.Action)
	}
	if ch, _ := gone.Diff(h, multi("absent\n", mark("augenrules --load after a change of x"), "enabled 1\nNo rules\n", boot1)); ch.Action != resources.Update {
		t.Errorf("absent with a pending reload: %v", ch.Action)
	}
}

const statusImmutableProbe = "enabled 2\nNo rules\n"

// fakeHost records the scripts Apply runs and what each got on stdin (the
// bytes a file write puts on the host); every command succeeds.
type fakeHost struct{ scripts, stdins []string }

func (f *fakeHost) Run(_ context.Context, c transport.Cmd) (transport.Result, error) {
	f.scripts = append(f.scripts, c.Script)
	in := ""
	if c.Stdin != nil {
		b, err := io.ReadAll(c.Stdin)
		if err != nil {
			return transport.Result{}, err
		}
		in = string(b)
	}
	f.stdins = append(f.stdins, in)
	return transport.Result{}, nil
}
func (f *fakeHost) Close() error { return nil }

// applyNewFile plans and applies r's rules file, absent so far, on a fake
// host whose kernel answers status; it returns what apply ran.
func applyNewFile(t *testing.T, r *Rules, status string) (*fakeHost, error) {
	t.Helper()
	f := &fakeHost{}
	h := &resources.Host{Root: "/", T: f}
	probe := multi("absent\n", "absent\n", status, boot1)
	ch, err := r.Diff(h, probe)
	if err != nil {
		t.Fatal(err)
	}
	ch.Current = probe
	return f, r.Apply(context.Background(), h, ch)
}

// Immutable and refused kernels: the file is written, nothing is loaded,
// and only the immutable case leaves a reboot mark. (Never by loading
// -e 2: the kernel state is recorded probe output.)
func TestApplyWithoutLoad(t *testing.T) {
	r := sudoRules(t)
	cases := []struct {
		name     string
		status   string
		wantMark bool
	}{
		{"immutable", statusImmutableProbe, true},
		{"refused", "refused Error sending status request (Operation not permitted)\n", false},
	}
	for _, tc := range cases {
		f, err := applyNewFile(t, r, tc.status)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		all := strings.Join(f.scripts, "\n---\n")
		// The facts cache's refresh only asks auditctl its version.
		if load := strings.ReplaceAll(all, factsRefresh, ""); strings.Contains(load, "augenrules") || strings.Contains(load, "auditctl") {
			t.Errorf("%s: tried to load:\n%s", tc.name, all)
		}
		if !strings.Contains(all, "f=/etc/audit/rules.d/50-sudo.rules") {
			t.Errorf("%s: rules file not written:\n%s", tc.name, all)
		}
		if got := strings.Contains(all, resources.PendingDir); got != tc.wantMark {
			t.Errorf("%s: pending mark written = %v, want %v", tc.name, got, tc.wantMark)
		}
	}
}

// On an image root the build machine's kernel is never asked: the probe
// does not run auditctl, and apply writes the file only.
func TestImageRootNeverTouchesTheKernel(t *testing.T) {
	r := sudoRules(t)
	h := &resources.Host{Root: "/mnt/image", T: &fakeHost{}}
	if p := r.Probe(h); strings.Contains(p, "auditctl") || strings.Contains(p, "/proc/sys/kernel") {
		t.Fatalf("image probe reads the build machine's kernel:\n%s", p)
	}
	root := t.TempDir()
	for _, d := range []string{"etc", "usr/bin"} { // what the rules depend on
		if err := os.MkdirAll(root+"/"+d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	res, err := transport.NewLocal().Run(context.Background(), transport.Cmd{Script: r.Probe(&resources.Host{Root: root, T: transport.NewLocal()})})
	if err != nil || res.ExitCode != 0 {
		t.Fatal(err, string(res.Stderr))
	}
	f := &fakeHost{}
	h.T = f
	ch, err := r.Diff(h, res.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Action != resources.Create || !strings.Contains(strings.Join(ch.Notes, " "), "image root") ||
		!strings.Contains(strings.Join(ch.Notes, " "), "syscall names, user and group names not checked (an image root (its tools are not run))") {
		t.Fatalf("want a create noting the image root, got %s %v", ch.Action, ch.Notes)
	}
	ch.Current = res.Stdout
	if err := r.Apply(context.Background(), h, ch); err != nil {
		t.Fatal(err)
	}
	if all := strings.Join(f.scripts, "\n"); strings.Contains(all, "augenrules") || strings.Contains(all, "auditctl") {
		t.Fatalf("apply on an image root tried to load:\n%s", all)
	}
}

func TestLoadMessages(t *testing.T) {
	out := "No rules\nenabled 0\nfailure 1\npid 0\nrate_limit 0\nbacklog_limit 8192\nlost 0\nbacklog 0\nbacklog_wait_time 15000\nbacklog_wait_time_actual 0\n" +
		"Syscall name unknown: nosuchcall\nThere was an error in line 6 of /etc/audit/audit.rules\nexit 1\n"
	want := "Syscall name unknown: nosuchcall; There was an error in line 6 of /etc/audit/audit.rules; exit 1"
	if got := LoadMessages(out); got != want {
		t.Errorf("got %q", got)
	}
}

func TestPendingKey(t *testing.T) {
	a := (&Rules{Name: "50-sudo"}).pendingKey()
	b := (&Rules{Name: "50-Sudo"}).pendingKey()
	if a != "audit_rules.50-sudo" || b == a || !strings.HasPrefix(b, "audit_rules.50-sudo.") {
		t.Errorf("keys %q %q", a, b)
	}
}

// The plan refuses, before anything is written, the rules the kernel would
// refuse on this host, naming each with its line in the file and why; with
// skip_missing_paths the watches on missing paths are left out instead.
func TestPlanPredictsRefusals(t *testing.T) {
	src := `name = "50-x"
rules = [
  "-w /etc/sudoers -p wa -k sudoers",
  "-a always,exit -F dir=/etc/NetworkManager/ -F perm=wa -F key=nm",
  "-a always,exit -F arch=b64 -S nosuchcall -k bad",
  "-w /etc/nm/conf.d/x -p wa",
  "-a always,exit -F arch=b64 -S execve -F uid=chrony -k c",
  "-a always,exit -F arch=b64 -S open -F euid=0 -k x",
  "-a always,exit -F arch=b64 -S open -F euid=root -k x",
]%s`
	// /etc exists; /etc/NetworkManager and /etc/nm/conf.d do not; root is
	// user 0 and chrony is unknown.
	deps := "d\n-\n-\nu:root 0\n"
	h := &resources.Host{Root: "/"}
	probe := func() []byte { return multi5("absent\n", "absent\n", "enabled 1\nNo rules\n", boot1, deps) }

	r, diags := decode(t, fmt.Sprintf(src, ""))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, err := r.Diff(h, probe())
	if err == nil {
		t.Fatal("the plan accepted rules the kernel refuses")
	}
	for _, want := range []string{
		"nothing is written",
		`line 3: "-a always,exit -F dir=/etc/NetworkManager/ -F perm=wa -F key=nm": -F dir=/etc/NetworkManager/ needs the directory /etc/NetworkManager/, which does not exist on this host`,
		`line 4: "-a always,exit -F arch=b64 -S nosuchcall -k bad": Syscall name unknown: nosuchcall`,
		`line 5: "-w /etc/nm/conf.d/x -p wa": -w /etc/nm/conf.d/x needs the directory /etc/nm/conf.d`,
		`line 6: "-a always,exit -F arch=b64 -S execve -F uid=chrony -k c": Unknown user: chrony`,
		`line 8: "-a always,exit -F arch=b64 -S open -F euid=root -k x" is the same kernel rule as "-a always,exit -F arch=b64 -S open -F euid=0 -k x"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal lacks %q:\n%v", want, err)
		}
	}

	skip, diags := decode(t, fmt.Sprintf(src, "\nskip_missing_paths = true"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, err = skip.Diff(h, probe())
	if err == nil || strings.Contains(err.Error(), "NetworkManager") || strings.Contains(err.Error(), "/etc/nm") || !strings.Contains(err.Error(), "nosuchcall") {
		t.Fatalf("skip_missing_paths: want only the non-path refusals, got %v", err)
	}
	ok, diags := decode(t, `name = "50-x"
skip_missing_paths = true
rules = ["-w /etc/sudoers -p wa -k sudoers", "-a always,exit -F dir=/etc/NetworkManager/ -F perm=wa -F key=nm", "-w /etc/nm/conf.d/x -p wa"]`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ch, err := ok.Diff(h, multi5("absent\n", "absent\n", "enabled 1\nNo rules\n", boot1, "d\n-\n-\n"))
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(ch.Notes, "\n")
	if !strings.Contains(notes, `left out for this host (skip_missing_paths): "-a always,exit -F dir=/etc/NetworkManager/ -F perm=wa -F key=nm"`) ||
		!strings.Contains(notes, `left out for this host (skip_missing_paths): "-w /etc/nm/conf.d/x -p wa"`) {
		t.Errorf("notes: %s", notes)
	}
	if strings.Contains(ch.Diff, "NetworkManager") || strings.Contains(ch.Diff, "/etc/nm") || !strings.Contains(ch.Diff, "+-w /etc/sudoers -p wa -k sudoers") {
		t.Errorf("the file for this host: %s", ch.Diff)
	}
}

func multi5(file, mark, status, boot, deps string) []byte {
	return multi(file, mark, status, boot, bookwormFacts, deps)
}

// A rule another file in rules.d already holds stops augenrules' load at
// that line ("Rule exists"): refused at plan, naming the other file.
func TestPlanRefusesARuleAnotherFileHolds(t *testing.T) {
	r := sudoRules(t)
	others := "@@file 10-base.rules\n-D\n-b 8192\n\n@@file 60-other.rules\n## x\n-w /etc/sudoers -p aw -k sudoers_change\n"
	_, err := r.Diff(&resources.Host{Root: "/"}, multi("absent\n", "absent\n", "enabled 1\nNo rules\n", boot1, bookwormFacts, "d\nd\n", others))
	if err == nil || !strings.Contains(err.Error(), `line 2: "-w /etc/sudoers -p wa -k sudoers_change" is already a rule of 60-other.rules line 2 in /etc/audit/rules.d`) {
		t.Fatalf("want the duplicate refused, got %v", err)
	}
}

// The dependency probe, run by a real shell: directories, missing paths,
// and names resolved as the host resolves them (getent).
func TestDepsProbeInAShell(t *testing.T) {
	r, diags := decode(t, `name = "x"
rules = ["-w /etc/passwd -p wa", "-a always,exit -F dir=/nonexistent-goprov/ -F perm=wa", "-a always,exit -F arch=b64 -S open -F uid=root -F gid=root -F euid=nosuchuser-goprov"]`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	h := &resources.Host{Root: "/"}
	out, err := exec.Command("/bin/sh", "-c", depsProbe(h, r.dependencyPaths(), r.names())).Output()
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseFacts([]byte(bookwormFacts), out, len(r.dependencies()))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.kinds, " ") != "d -" || f.listing.IDs["u:root"] != "0" || f.listing.IDs["g:root"] != "0" || len(f.listing.IDs) != 2 {
		t.Fatalf("kinds %q, ids %v (probe output %q)", f.kinds, f.listing.IDs, out)
	}
	v := r.judge(f)
	if len(v.refused) != 2 || !strings.Contains(v.refused[1], "Unknown user: nosuchuser-goprov") {
		t.Fatalf("refused: %q", v.refused)
	}
}

// An auditctl -v answer goprov does not recognise fails the plan, naming
// the tool and quoting the answer; only the probe's own "unknown" (auditctl
// printed nothing) leaves the syscalls unchecked.
func TestFactsUnknownAuditctlAnswer(t *testing.T) {
	_, err := parseFacts([]byte("Usage: auditctl [options]\nx86_64\n"), nil, 0)
	if err == nil || !strings.Contains(err.Error(), `auditctl -v: unrecognised answer "Usage: auditctl [options]"`) {
		t.Errorf("unknown answer: got %v", err)
	}
	f, err := parseFacts([]byte("auditctl version unknown\nx86_64\n"), nil, 0)
	if err != nil || f.why != "auditctl's version is unknown" {
		t.Errorf("no answer: why %q, err %v", f.why, err)
	}
	// auditctl missing: the probe prints its own "unknown", never an empty
	// line that would shift the machine's name into the version's place.
	out, err := exec.Command("/bin/sh", "-c", strings.ReplaceAll(factsProbe, "sbin/auditctl", "nonexistent-goprov/auditctl")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(string(out), "\n"); first != "auditctl version unknown" {
		t.Errorf("facts probe without auditctl starts %q", first)
	}
}

// The pending marks persist on hosts across goprov versions: a mark one
// version writes, the next must read. So their path and bytes are pinned
// here as literals, never built with the code's own helpers (pendingKey,
// rebootMark), which would drift along with the format.
const (
	markPath   = "/var/lib/goprov/pending/audit_rules.50-sudo"
	reloadMark = "augenrules --load after a change of /etc/audit/rules.d/50-sudo.rules\n"
	rebootMk   = "reboot required: /etc/audit/rules.d/50-sudo.rules changed while kernel audit was immutable (boot_id=b4b897a1-c18c-4cd9-b7bf-5812e3b26172)\n"
)

// TestPendingMarkBytesWritten: apply writes exactly these bytes, mode 0600,
// at exactly this path. On the fake host the load's answers are empty, so
// an apply that goes on to load may fail after the mark: only the mark is
// checked here (the load itself is proven in the lab tests).
func TestPendingMarkBytesWritten(t *testing.T) {
	r := sudoRules(t)
	for _, tc := range []struct{ name, status, want string }{
		{"reload mark, before augenrules --load", "enabled 1\nNo rules\n", reloadMark},
		{"reboot mark, kernel audit immutable", statusImmutableProbe, rebootMk},
	} {
		f, err := applyNewFile(t, r, tc.status)
		if err != nil {
			t.Logf("%s: apply on the fake host: %v", tc.name, err)
		}
		var marks []string
		for i, sc := range f.scripts {
			if strings.Contains(sc, "\nf="+markPath+"\n") || strings.Contains(sc, "\nf='"+markPath+"'\n") {
				if !strings.Contains(sc, "chmod 0600 ") {
					t.Errorf("%s: mark not written 0600:\n%s", tc.name, sc)
				}
				marks = append(marks, f.stdins[i])
			}
		}
		if len(marks) == 0 || marks[0] != tc.want {
			t.Errorf("%s: mark bytes written %q, want %q", tc.name, marks, tc.want)
		}
	}
}

// TestPendingMarkBytesRead: marks exactly as an earlier goprov left them
// are understood: a reload still pending, a reboot still awaited, a reboot
// that happened.
func TestPendingMarkBytesRead(t *testing.T) {
	r := sudoRules(t)
	h := &resources.Host{Root: "/"}
	file := "file 640 0 0\n" + r.Render(nil)
	for _, tc := range []struct {
		name, mark, status, boot string
		action                   resources.Action
		note                     string
	}{
		{"reload pending", reloadMark, "enabled 1\n" + loadedSudo, boot1, resources.Update,
			"reload pending: augenrules --load after a change of /etc/audit/rules.d/50-sudo.rules"},
		{"reboot awaited", rebootMk, statusImmutableProbe, boot1, resources.NoOp, "reboot required"},
		{"rebooted since", rebootMk, "enabled 2\n" + loadedSudo, boot2, resources.Update, "pending reboot mark is cleared"},
	} {
		ch, err := r.Diff(h, multi(file, "file 600 0 0\n"+tc.mark, tc.status, tc.boot))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if ch.Action != tc.action || !strings.Contains(strings.Join(ch.Notes, "\n"), tc.note) {
			t.Errorf("%s: %s %q, want %s with %q", tc.name, ch.Action, ch.Notes, tc.action, tc.note)
		}
	}
}
