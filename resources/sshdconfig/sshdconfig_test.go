package sshdconfig

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

func build(t *testing.T, name string, settings map[string]string, ensure string) (*File, string) {
	t.Helper()
	m := map[string]cty.Value{}
	for k, v := range settings {
		m[k] = cty.StringVal(v)
	}
	sv := cty.MapValEmpty(cty.String)
	if len(m) > 0 {
		sv = cty.MapVal(m)
	}
	r, diags := kind{}.New("sshd_config.x", cty.ObjectVal(map[string]cty.Value{
		"name": cty.StringVal(name), "settings": sv, "ensure": cty.StringVal(ensure),
	}), nil)
	if diags.HasErrors() {
		return nil, diags.Error()
	}
	return r.(*File), ""
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name     string
		settings map[string]string
		ensure   string
		err      string
	}{
		{"50-ok", map[string]string{"passwordauthentication": "no", "MaxAuthTries": "3"}, "present", ""},
		{"../x", map[string]string{"MaxAuthTries": "3"}, "present", "Invalid sshd_config name"},
		{"ok", map[string]string{"Bogus": "yes"}, "present", "not a keyword"},
		{"ok", map[string]string{"Match": "User x"}, "present", "Match blocks are not supported"},
		{"ok", map[string]string{"include": "/tmp/x"}, "present", "Include is not supported"},
		{"ok", map[string]string{"Max-Auth": "3"}, "present", "letters and digits only"},
		{"ok", map[string]string{"Banner": "x\nPermitRootLogin yes"}, "present", "newline"},
		{"ok", map[string]string{"Banner": "x\x00y"}, "present", "control characters"},
		{"ok", map[string]string{"X11Forwarding": "true"}, "present", "write yes or no"},
		{"ok", map[string]string{"Banner": "  "}, "present", "empty value"},
		{"ok", map[string]string{"Banner": "#x"}, "present", "comment"},
		{"ok", map[string]string{"AllowGroups": "ssh-users #sudo"}, "present", "comment"},
		{"ok", map[string]string{"UsePAM": "yes", "usepam": "no"}, "present", "Duplicate sshd keyword"},
		{"ok", nil, "present", "No settings"},
		{"ok", nil, "absent", ""},
		{"ok", map[string]string{"UsePAM": "yes"}, "maybe", "Invalid ensure"},
	} {
		_, err := build(t, c.name, c.settings, c.ensure)
		if (c.err == "") != (err == "") || !strings.Contains(err, c.err) {
			t.Errorf("%s %v: got %q, want %q", c.name, c.settings, err, c.err)
		}
	}
}

// Keywords are written in sshd's spelling, sorted; repeated keywords one
// line per value; whitespace folded.
func TestRender(t *testing.T) {
	f, err := build(t, "50-hardening", map[string]string{
		"passwordauthentication": "no", "Port": "22  2222", "AllowGroups": "ssh-users\tsudo", "maxauthtries": "3",
	}, "present")
	if err != "" {
		t.Fatal(err)
	}
	want := `# Managed by goprov (sshd_config.x). Local edits are overwritten on the next apply.
AllowGroups ssh-users sudo
MaxAuthTries 3
PasswordAuthentication no
Port 22
Port 2222
`
	if got := f.Render(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if f.Path() != "/etc/ssh/sshd_config.d/50-hardening.conf" {
		t.Errorf("path %s", f.Path())
	}
	claims := f.Owns()
	if len(claims) != 5 || claims[0].What != f.Path() || claims[1].What != "the sshd setting allowgroups" {
		t.Errorf("claims: %+v", claims)
	}
}

func recorded(t *testing.T, name string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return ParseEffective(b)
}

// Lockout on real `sshd -T -C user=deploy,…` output from a bookworm lab
// host: Debian's defaults (+ the lab's drop-in), and the same with
// Port 22/2222, AllowUsers "ops deploy@10.200.0.0/24", AllowGroups
// "sudo ops", DenyUsers "bad*", AuthenticationMethods "publickey,password
// publickey", PermitRootLogin no.
func TestLockoutOnRecordedOutput(t *testing.T) {
	def := recorded(t, "bookworm-sshd-T.txt")
	hard := recorded(t, "bookworm-sshd-T-hardened.txt")
	deploy := Login{User: "deploy", Groups: []string{"deploy"}, Method: "publickey", Addr: "10.200.0.1", LAddr: "10.200.0.11", Port: 22}
	with := func(l Login, f func(*Login)) Login { f(&l); return l }
	for _, c := range []struct {
		name string
		eff  map[string][]string
		l    Login
		want []string // substrings of the reasons; none: let in
	}{
		{"defaults, deploy", def, deploy, nil},
		{"defaults, root by key (without-password)", def, with(deploy, func(l *Login) { l.User, l.Groups = "root", []string{"root"} }), nil},
		{"defaults, port 2222 not listened on", def, with(deploy, func(l *Login) { l.Port = 2222 }), []string{"port 2222"}},
		{"hardened, deploy: user ok by CIDR, groups not", hard, deploy, []string{"AllowGroups (sudo ops) includes none of deploy's groups"}},
		{"hardened, deploy from elsewhere", hard, with(deploy, func(l *Login) { l.Addr = "192.0.2.9"; l.Groups = []string{"sudo"} }), []string{"AllowUsers"}},
		{"hardened, ops in sudo, port 2222", hard, with(deploy, func(l *Login) { l.User, l.Groups, l.Port = "ops", []string{"ops", "sudo"}, 2222 }), nil},
		{"hardened, root", hard, with(deploy, func(l *Login) { l.User, l.Groups = "root", []string{"root", "sudo"} }), []string{"AllowUsers", "PermitRootLogin no"}},
		{"hardened, badguy", hard, with(deploy, func(l *Login) { l.User, l.Groups = "badguy", []string{"sudo"} }), []string{`DenyUsers "bad*"`, "AllowUsers"}},
		{"hardened, password method", hard, with(deploy, func(l *Login) { l.User, l.Groups, l.Method = "ops", []string{"sudo"}, "password" }), []string{"AuthenticationMethods"}},
		{"pubkey off", map[string][]string{"pubkeyauthentication": {"no"}, "port": {"22"}}, deploy, []string{"PubkeyAuthentication no"}},
		{"deny group", map[string][]string{"denygroups": {"dep*"}, "port": {"22"}}, deploy, []string{`DenyGroups "dep*"`}},
		{"listen on another address only", map[string][]string{"listenaddress": {"10.9.9.9:22"}}, deploy, []string{"port 22"}},
		{"listen on its address", map[string][]string{"listenaddress": {"10.200.0.11:22"}}, deploy, nil},
	} {
		got := Lockout(c.eff, c.l)
		if len(c.want) == 0 && len(got) > 0 {
			t.Errorf("%s: refused: %q", c.name, got)
		}
		if len(c.want) > 0 && len(got) != len(c.want) {
			t.Errorf("%s: got %q, want %d reasons %q", c.name, got, len(c.want), c.want)
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: reason %d %q, want %q", c.name, i, got[i], w)
			}
		}
	}
}

func TestOverrides(t *testing.T) {
	want := recorded(t, "bookworm-sshd-T.txt") // maxauthtries 6: the main config wins
	first := map[string][]string{}
	for k, v := range want {
		first[k] = v
	}
	first["maxauthtries"] = []string{"3"}
	first["allowusers"] = []string{"b", "a"} // order only: not an override
	want["allowusers"] = []string{"a", "b"}
	s := []Setting{{"MaxAuthTries", "3"}, {"AllowUsers", "a b"}, {"UsePAM", "yes"}}
	got := Overrides(s, want, first, [][2]string{{"/etc/ssh/sshd_config", "maxauthtries"}, {"/etc/ssh/sshd_config.d/10-x.conf", "maxauthtries"}, {"/etc/ssh/sshd_config", "usepam"}})
	if len(got) != 1 || got[0].Keyword != "MaxAuthTries" || got[0].Got != "6" || strings.Join(got[0].By, ",") != "/etc/ssh/sshd_config,/etc/ssh/sshd_config.d/10-x.conf" {
		t.Errorf("%+v", got)
	}
}

func TestIncludes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"/etc/ssh/sshd_config.d/*.conf"}, true},
		{[]string{"sshd_config.d/*.conf"}, true},
		{[]string{"/etc/ssh/other/*.conf"}, false},
		{nil, false},
	} {
		if got := includesDropins(c.args); got != c.want {
			t.Errorf("%q: %v", c.args, got)
		}
	}
}

// The generated scripts are valid sh; a hostile root path stays quoted.
func TestScriptsParse(t *testing.T) {
	f, _ := build(t, "50-x", map[string]string{"Banner": `/x'$(reboot)'`}, "present")
	live := &resources.Host{Root: "/", LoginUser: "de'ploy", AuthMethod: "publickey", SSHPort: 22}
	img := &resources.Host{Root: "/tmp/it's $(reboot) dir"}
	for name, s := range map[string]string{
		"probe":    f.Probe(live),
		"probeimg": f.Probe(img),
		"validate": f.validateSh(img),
		"reload":   reloadSh,
		"restore":  f.deadMan().RestoreScript(),
	} {
		if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v %s\n%s", name, err, out, s)
		}
		if strings.Contains(s, "$(reboot)") && !strings.Contains(s, `'\''$(reboot)'\''`) && !strings.Contains(s, `'/tmp/it'\''s $(reboot) dir'`) {
			t.Errorf("%s: hostile value not quoted:\n%s", name, s)
		}
	}
}
