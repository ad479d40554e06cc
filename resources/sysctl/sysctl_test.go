package sysctl_test

import (
	"encoding/base64"
	"os"
	"strings"
	"testing"

	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/resources/resourcetest"
	"github.com/goprov/goprov/resources/sysctl"
)

func kind(t testing.TB) resources.Kind {
	t.Helper()
	k, ok := resources.Lookup(sysctl.KindName)
	if !ok {
		t.Fatal("sysctl not registered")
	}
	return k
}

func decode(t *testing.T, src string) *sysctl.File {
	t.Helper()
	r, diags := resourcetest.Decode(t, kind(t), "sysctl.hardening", src)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return r.(*sysctl.File)
}

func TestValidation(t *testing.T) {
	v := func(values string) string { return "name = \"60-x\"\nvalues = {" + values + "}\n" }
	resourcetest.Validation(t, kind(t), "sysctl.x", []resourcetest.Case{
		{v(`"kernel.kptr_restrict" = 2`), ""},
		{v(`"net.ipv4.ip_local_port_range" = "32768	60999"`), ""},
		{v(`"net/ipv4/conf/eth0.100/rp_filter" = 1`), ""},
		{v(`"net.ipv4.conf.eth0/100.rp_filter" = 1`), ""},
		{v(`"kernel.core_pattern" = "|/usr/lib/x %p # not a comment"`), ""},
		{"name = \"x\"\nensure = \"absent\"\n", ""},
		{"name = \"../etc/x\"\nvalues = {\"vm.swappiness\" = 1}\n", "Invalid sysctl name"},
		{"name = \"60.x\"\nvalues = {\"vm.swappiness\" = 1}\n", "Invalid sysctl name"},
		{v(`"kernel/../../etc/shadow" = 1`), "Invalid sysctl key"},
		{v(`"kernel..x" = 1`), "Invalid sysctl key"},
		{v(`".kernel.x" = 1`), "Invalid sysctl key"},
		{v(`"kernel.x." = 1`), "Invalid sysctl key"},
		{v(`"net.ipv4.conf.*.rp_filter" = 1`), "Invalid sysctl key"},
		{v(`"-net.ipv4.tcp_syncookies" = 1`), "Invalid sysctl key"},
		{v(`"kernel.x;touch /tmp/pwned" = 1`), "Invalid sysctl key"},
		{v(`"kernel.x y" = 1`), "Invalid sysctl key"},
		{v(`"" = 1`), "Invalid sysctl key"},
		{v(`"net.ipv4.tcp_syncookies" = 1, "net/ipv4/tcp_syncookies" = 0`), "Duplicate sysctl key"},
		{v(`"net.ipv4.conf.eth0/100.rp_filter" = 1, "net/ipv4/conf/eth0.100/rp_filter" = 1`), "Duplicate sysctl key"},
		{v(`"kernel.x" = "1\nkernel.modules_disabled = 1"`), "Invalid sysctl value"},
		{v(`"kernel.x" = "1\u0000"`), "Invalid sysctl value"},
		{v(`"kernel.x" = "  "`), "Invalid sysctl value"},
		{v(`"kernel.x" = true`), "Invalid sysctl value"},
		{"name = \"x\"\n", "No values"},
		{v(`"kernel.x" = 1`) + "ensure = \"gone\"\n", "Invalid ensure"},
	})
}

func TestKeyPath(t *testing.T) {
	for _, tc := range []struct{ key, path, dotted string }{
		{"kernel.yama.ptrace_scope", "kernel/yama/ptrace_scope", "kernel.yama.ptrace_scope"},
		{"kernel/yama/ptrace_scope", "kernel/yama/ptrace_scope", "kernel.yama.ptrace_scope"},
		{"net.ipv4.conf.eth0/100.rp_filter", "net/ipv4/conf/eth0.100/rp_filter", "net.ipv4.conf.eth0/100.rp_filter"},
		{"net/ipv4/conf/eth0.100/rp_filter", "net/ipv4/conf/eth0.100/rp_filter", "net.ipv4.conf.eth0/100.rp_filter"},
		{"fs.protected-x", "fs/protected-x", "fs.protected-x"},
	} {
		p, err := sysctl.KeyPath(tc.key)
		if err != nil || p != tc.path || sysctl.DottedKey(p) != tc.dotted {
			t.Errorf("%q: path %q (%v), dotted %q; want %q, %q", tc.key, p, err, sysctl.DottedKey(p), tc.path, tc.dotted)
		}
	}
}

func TestRender(t *testing.T) {
	f := decode(t, `
name = "60-hardening"
values = {
  "net/ipv4/tcp_syncookies"      = 1
  "net.ipv4.ip_local_port_range" = " 40000 	 50000 "
  "kernel.kptr_restrict"         = 2
}`)
	want := `# Managed by goprov (sysctl.hardening). Local edits are overwritten on the next apply.
kernel.kptr_restrict = 2
net.ipv4.ip_local_port_range = 40000 50000
net.ipv4.tcp_syncookies = 1
`
	if got := f.Render(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// recorded is probe output recorded on a bookworm lab host (see the
// comment at the top of each case for what the host held).
func recorded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parts re-assembles probe output from its three parts, the load order
// part taken from a real recording.
func parts(t *testing.T, file, live string) []byte {
	t.Helper()
	rec, err := resources.SplitMulti(recorded(t, "bookworm-probe.out"), 3)
	if err != nil {
		t.Fatal(err)
	}
	return resources.MultiOutput(file, string(rec[1]), live)
}

const recordedConfig = `
name = "60-hardening"
values = {
  "net.ipv4.conf.all.rp_filter"  = 1
  "net.ipv4.ip_local_port_range" = "40000 50000"
  "net/ipv4/tcp_syncookies"      = 1
  "fs.protected_regular"         = 1
}`

var live = resources.Host{Name: "h1", Root: "/"}

// The host held: /etc/sysctl.d/60-hardening.conf with other content;
// /etc/sysctl.d/70-later.conf setting net.ipv4.conf.*.rp_filter = 2 (a
// glob) and -net.ipv4.tcp_syncookies=1 (our value); a
// /usr/lib/sysctl.d/70-later.conf masked by it; 50-pid-max.conf masked by
// a /dev/null link; Debian's 99-protect-links.conf (fs.protected_regular =
// 2) and 99-sysctl.conf -> ../sysctl.conf (comments only).
func TestDiffRecordedProbe(t *testing.T) {
	f := decode(t, recordedConfig)
	ch, err := f.Diff(&live, recorded(t, "bookworm-probe.out"))
	if err != nil {
		t.Fatal(err)
	}
	if ch.Action != resources.Update || !strings.Contains(ch.Diff, "-net.ipv4.conf.all.rp_filter = 0\n") || !strings.Contains(ch.Diff, "+fs.protected_regular = 1\n") {
		t.Errorf("%s\n%s", ch.Action, ch.Diff)
	}
	want := []string{
		"loads fs.protected_regular 0 → 1",
		"loads net.ipv4.conf.all.rp_filter 0 → 1",
		"loads net.ipv4.ip_local_port_range 32768 60999 → 40000 50000",
		"/usr/lib/sysctl.d/99-protect-links.conf sets fs.protected_regular = 2 after this file: at the next boot fs.protected_regular will be 2, not 1",
		"/etc/sysctl.d/70-later.conf sets net.ipv4.conf.all.rp_filter = 2 after this file: at the next boot net.ipv4.conf.all.rp_filter will be 2, not 1",
	}
	if got := strings.Join(ch.Notes, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("notes:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// The host held the same files; the resource names three keys that are
// not settable keys of this kernel, and one that is.
func TestDiffRecordedUnknownKeys(t *testing.T) {
	f := decode(t, `
name = "60-hardening"
values = {
  "net.ipv4.conf.all.rp_filter" = 1
  "net.ipv4.no_such_key"        = 1
  "net.ipv4.conf"               = 1
  "net.ipv4.route.flush"        = 1
}`)
	_, err := f.Diff(&live, recorded(t, "bookworm-unknown.out"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"net.ipv4.no_such_key: no such key on this kernel (/proc/sys/net/ipv4/no_such_key does not exist); nothing was written",
		"net.ipv4.conf: a group of keys (/proc/sys/net/ipv4/conf is a directory), not a key",
		"net.ipv4.route.flush: cannot be read back (a write-only key?)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "rp_filter") {
		t.Errorf("a good key in the error: %v", err)
	}
}

func TestDiff(t *testing.T) {
	f := decode(t, recordedConfig)
	good := f.Render()
	header := "file 644 0 0\n"
	enc := func(s string) string { return "ok " + base64.StdEncoding.EncodeToString([]byte(s)) + "\n" }
	fsDrift := enc("0") + enc("1") + enc("40000\t50000") + enc("1")
	later := []string{
		"/usr/lib/sysctl.d/99-protect-links.conf sets fs.protected_regular = 2 after this file: at the next boot fs.protected_regular will be 2, not 1",
		"/etc/sysctl.d/70-later.conf sets net.ipv4.conf.all.rp_filter = 2 after this file: at the next boot net.ipv4.conf.all.rp_filter will be 2, not 1",
	}
	for _, tc := range []struct {
		name, file, live string
		action           resources.Action
		notes            []string
	}{
		{"in sync, the tab in the live value is whitespace", header + good, enc("1") + enc("1") + enc("40000\t50000") + enc("1"), resources.NoOp, later},
		{"drift reloads", header + good, fsDrift, resources.Update, append([]string{"reload: fs.protected_regular is 0, file says 1"}, later...)},
		{"absent file", "absent\n", enc("1") + enc("1") + enc("40000 50000") + enc("1"), resources.Create, later},
		{"mode differs", "file 600 0 0\n" + good, enc("1") + enc("1") + enc("40000 50000") + enc("1"), resources.Update, append([]string{"mode 0600 → 0644"}, later...)},
	} {
		ch, err := f.Diff(&live, parts(t, tc.file, tc.live))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if ch.Action != tc.action || strings.Join(ch.Notes, "\n") != strings.Join(tc.notes, "\n") {
			t.Errorf("%s: %s\n%s\nwant %s\n%s", tc.name, ch.Action, strings.Join(ch.Notes, "\n"), tc.action, strings.Join(tc.notes, "\n"))
		}
	}
}

// A key root may not write (kernel.ostype is 0444; in most containers
// all of /proc/sys is mounted read-only) fails the plan, named.
func TestDiffReadOnlyKey(t *testing.T) {
	f := decode(t, recordedConfig)
	ok := "ok " + base64.StdEncoding.EncodeToString([]byte("1")) + "\n"
	_, err := f.Diff(&live, parts(t, "absent\n", ok+"readonly\n"+ok+ok))
	if err == nil || !strings.Contains(err.Error(), "net.ipv4.conf.all.rp_filter: read-only here") {
		t.Fatalf("want the read-only key named, got %v", err)
	}
}

func TestDiffAbsentAndImage(t *testing.T) {
	gone := decode(t, "name = \"60-hardening\"\nensure = \"absent\"\n")
	ch, err := gone.Diff(&live, parts(t, "file 644 0 0\nx = 1\n", ""))
	if err != nil || ch.Action != resources.Delete || len(ch.Notes) != 1 || !strings.Contains(ch.Notes[0], "live values stay") {
		t.Errorf("absent: %v %s %q", err, ch.Action, ch.Notes)
	}
	img := resources.Host{Name: "img", Root: "/tmp/img"}
	f := decode(t, recordedConfig)
	ch, err = f.Diff(&img, parts(t, "absent\n", "image\n"))
	if err != nil || ch.Action != resources.Create || !strings.Contains(ch.Notes[0], "nothing was loaded") {
		t.Errorf("image: %v %s %q", err, ch.Action, ch.Notes)
	}
	if p := f.Probe(&img); strings.Contains(p, "/proc/sys") || !strings.Contains(p, "/tmp/img/etc/sysctl.d") {
		t.Errorf("image probe reads the build machine's kernel or the wrong tree:\n%s", p)
	}
}

func TestOverrides(t *testing.T) {
	f := decode(t, `
name = "60-hardening"
values = { "kernel.kptr_restrict" = 2, "net.ipv4.conf.eth0/100.rp_filter" = 1 }`)
	file := func(dir int, name, content string) sysctl.OtherFile {
		return sysctl.OtherFile{Dir: dir, Name: name, Regular: true, Content: []byte(content)}
	}
	for _, tc := range []struct {
		name  string
		files []sysctl.OtherFile
		want  []string
	}{
		{"earlier file", []sysctl.OtherFile{file(0, "10-x.conf", "kernel.kptr_restrict = 0\n")}, nil},
		{"later file, same value", []sysctl.OtherFile{file(0, "70-x.conf", "kernel.kptr_restrict=2\n")}, nil},
		{"later file in /usr/lib", []sysctl.OtherFile{file(3, "70-x.conf", "  kernel/kptr_restrict =  1 \n")}, []string{"kernel.kptr_restrict=1 /usr/lib/sysctl.d/70-x.conf"}},
		{"later file masked by /etc", []sysctl.OtherFile{{Dir: 0, Name: "70-x.conf"}, file(3, "70-x.conf", "kernel.kptr_restrict = 1\n")}, nil},
		{"our own name elsewhere is masked", []sysctl.OtherFile{file(3, "60-hardening.conf", "kernel.kptr_restrict = 1\n")}, nil},
		{"comments", []sysctl.OtherFile{file(0, "70-x.conf", "# kernel.kptr_restrict = 1\n; kernel.kptr_restrict = 1\n-kernel.kptr_restrict\n")}, nil},
		{"the last later assignment wins", []sysctl.OtherFile{file(0, "80-x.conf", "kernel.kptr_restrict = 1\n"), file(0, "70-x.conf", "kernel.kptr_restrict = 0\n")}, []string{"kernel.kptr_restrict=1 /etc/sysctl.d/80-x.conf"}},
		{"sysctl.conf is last", []sysctl.OtherFile{file(5, "sysctl.conf", "kernel.kptr_restrict = 0\n"), file(0, "99-x.conf", "kernel.kptr_restrict = 1\n")}, []string{"kernel.kptr_restrict=0 /etc/sysctl.conf"}},
		{"globs and both spellings", []sysctl.OtherFile{file(1, "70-x.conf", "-net.ipv4.conf.*.rp_filter = 2\n")}, []string{"net.ipv4.conf.eth0/100.rp_filter=2 /run/sysctl.d/70-x.conf"}},
		{"interface with a dot, slash spelling", []sysctl.OtherFile{file(1, "70-x.conf", "net/ipv4/conf/eth0.100/rp_filter = 0\n")}, []string{"net.ipv4.conf.eth0/100.rp_filter=0 /run/sysctl.d/70-x.conf"}},
	} {
		var got []string
		for _, o := range sysctl.Overrides("60-hardening.conf", f.Settings, tc.files) {
			got = append(got, o.Key+"="+o.Value+" "+o.File)
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
