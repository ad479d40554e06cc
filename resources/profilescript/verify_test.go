package profilescript

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/resources/resourcetest"
)

func TestVerifyValidation(t *testing.T) {
	v := func(body string) string { return "name = \"go\"\nverify {\n" + body + "\n}" }
	cases := []resourcetest.Case{
		{v(`users = ["deploy", "kali"]`), ""},
		{v(`users = ["deploy"]` + "\n" + `shells = ["bash", "zsh", "sh"]` + "\n" + `commands = { go = "/usr/local/go/bin/go", "gofmt" = "/usr/local/go/bin/gofmt" }`), ""},
		{v(`users = []`), ""}, // checks nobody (a module's default)
		{v(`users = ["a;b"]`), "Invalid user name"},
		{v(`users = ["-rf"]`), "Invalid user name"},
		{v(`users = ["$(id)"]`), "Invalid user name"},
		{v(`users = ["kali", "kali"]`), "Duplicate user"},
		{v(`users = ["kali"]` + "\n" + `shells = ["fish"]`), "Invalid shell"},
		{v(`users = ["kali"]` + "\n" + `shells = ["/bin/bash"]`), "Invalid shell"},
		{v(`users = ["kali"]` + "\n" + `shells = []`), "No shells to verify"},
		{v(`users = ["kali"]` + "\n" + `commands = { go = "go" }`), "Invalid command path"},
		{v(`users = ["kali"]` + "\n" + `commands = { go = "/usr/local/go/bin/../../bin/go" }`), "Invalid command path"},
		{v(`users = ["kali"]` + "\n" + `commands = { "go;id" = "/usr/bin/go" }`), "Invalid command name"},
		{v(`users = ["kali"]`) + "\nensure = \"absent\"", `verify with ensure = "absent"`},
	}
	resourcetest.Validation(t, kind{}, "profile_script.go", cases)
}

func TestVerifyEmptyUsersChecksNobody(t *testing.T) {
	s, diags := decode(t, "name = \"go\"\nverify {\n users = []\n}")
	if diags.HasErrors() || s.Verify != nil {
		t.Fatalf("diags %v, verify %+v", diags, s.Verify)
	}
	if strings.Contains(s.Probe(&resources.Host{Root: "/"}), "runuser") {
		t.Fatal("probe starts shells for an empty users list")
	}
}

// A plan saved to a file rebuilds the resource from its value alone.
func TestVerifySurvivesSavedPlan(t *testing.T) {
	r, diags := decode(t, "name = \"go\"\nverify {\n users = [\"kali\"]\n shells = [\"zsh\"]\n commands = { go = \"/usr/local/go/bin/go\" }\n}")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// Round trip through cty JSON, as planner.mustValueJSON and rebuild do.
	val := cty.ObjectVal(map[string]cty.Value{
		"name": cty.StringVal("go"), "env": cty.MapValEmpty(cty.String), "path_prepend": cty.ListValEmpty(cty.String),
		"path_append": cty.ListValEmpty(cty.String), "ensure": cty.StringVal("present"), "zsh_login": cty.True,
		"verify": cty.ObjectVal(map[string]cty.Value{"users": cty.ListVal([]cty.Value{cty.StringVal("kali")}),
			"shells": cty.ListVal([]cty.Value{cty.StringVal("zsh")}), "commands": cty.MapVal(map[string]cty.Value{"go": cty.StringVal("/usr/local/go/bin/go")})}),
	})
	js, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		t.Fatal(err)
	}
	back, err := ctyjson.Unmarshal(js, val.Type())
	if err != nil {
		t.Fatal(err)
	}
	rr, diags := kind{}.New("profile_script.go", back, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got := rr.(*Script).Verify
	if got == nil || got.Users[0] != "kali" || got.Shells[0] != "zsh" || got.Commands["go"] != "/usr/local/go/bin/go" {
		t.Fatalf("rebuilt verify %+v", got)
	}
	if r.Verify == nil || r.Verify.Shells[0] != "zsh" {
		t.Fatalf("decoded verify %+v", r.Verify)
	}
}

// shellOut is what a user's login shell prints: noise from startup files,
// then the inner script's NUL-separated records between the markers.
func shellOut(noise string, rec ...string) string {
	return base64.StdEncoding.EncodeToString([]byte(noise + "\n@@goprov-begin\n" + strings.Join(rec, "\x00") + "\x00\n@@goprov-end\n"))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func testScript() *Script {
	return &Script{Address: "profile_script.go", Name: "go", Present: true, ZshLogin: true,
		Env:         map[string]string{"GOPATH": "/opt/go", "GOBIN": "$HOME/go/bin", "GOPROXY": "https://proxy.golang.org"},
		PathPrepend: []string{"/usr/local/go/bin"},
		Verify:      &Verify{Users: []string{"kali", "deploy"}, Shells: []string{"bash", "zsh"}, Commands: map[string]string{"go": "/usr/local/go/bin/go"}}}
}

// Recorded probe output of a host where kali's ~/.zshrc puts an old go
// first and overrides GOPROXY with a token, and deploy's go env file sets
// GOPATH; deploy's startup files print banners (and a forged block).
func TestVerifyFindingsOnRecordedOutput(t *testing.T) {
	good := func(home string) []string {
		return []string{"path", "/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin", "env", "GOBIN", "set", home + "/go/bin", "env", "GOPATH", "set", "/opt/go",
			"env", "GOPROXY", "set", "https://proxy.golang.org", "cmd", "go", "/usr/local/go/bin/go", "goenvfile", home + "/.config/go/env"}
	}
	out := strings.Join([]string{
		"@grep - PATH " + b64("/etc/zsh/zshenv:17:  export PATH=\"/usr/local/bin:/usr/bin:/bin:/usr/games\"\n"),
		"@grep - GOPATH ",
		"@user kali /home/kali",
		"@grep kali PATH " + b64("/home/kali/.profile:21:    PATH=\"$HOME/bin:$PATH\"\n/home/kali/.zshrc:40:export PATH=/opt/old-go/bin:$PATH\n"),
		"@grep kali GOPROXY " + b64("/home/kali/.zshrc:41\n"),
		"@shell kali bash " + shellOut("", good("/home/kali")...),
		"@shell kali zsh " + shellOut("Welcome to Kali\n", "path", "/opt/old-go/bin:/usr/local/go/bin:/usr/bin:/bin", "env", "GOBIN", "set", "/home/kali/go/bin",
			"env", "GOPATH", "set", "/opt/go", "env", "GOPROXY", "set", "https://user:s3cret@goproxy.corp/", "cmd", "go", "/opt/old-go/bin/go", "goenvfile", "/home/kali/.config/go/env"),
		"@user deploy /home/deploy",
		"@shell deploy bash " + shellOut("@@goprov-end\n\x00forged", append(good("/home/deploy"), "goenv", "GOPATH=/home/deploy/other\nGOFLAGS=-mod=mod\n")...),
		"@shell deploy zsh " + base64.StdEncoding.EncodeToString([]byte("zsh: exec tmux\n")),
	}, "\n") + "\n"
	st, err := parseVerify([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	s := testScript()
	got := strings.Join(s.verifyFindings(st, false), "\n")
	for _, want := range []string{
		"verify: kali zsh: go resolves to /opt/old-go/bin/go, not /usr/local/go/bin/go: /opt/old-go/bin comes first on PATH (PATH is set in ~/.zshrc:40)",
		"verify: kali zsh: GOPROXY is (a value not shown), profile_script sets https://proxy.golang.org (GOPROXY is set in ~/.zshrc:41)",
		"verify: deploy: ~/.config/go/env (go env -w) sets GOPATH=/home/deploy/other, profile_script sets /opt/go",
		"verify: deploy zsh: the login shell gave no result",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("findings lack %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"kali bash", "s3cret", "deploy bash", "~/.profile", "zshenv", "GOFLAGS"} {
		if strings.Contains(got, bad) {
			t.Errorf("findings hold %q:\n%s", bad, got)
		}
	}
	// While the script is still to be written, only the go env file counts.
	if p := s.verifyFindings(st, true); len(p) != 1 || !strings.Contains(p[0], "deploy: ~/.config/go/env") {
		t.Errorf("pending findings: %q", p)
	}
}

func TestVerifyMissingUserAndShell(t *testing.T) {
	_, err := parseVerify([]byte("@nouser kali\n@user deploy /home/deploy\n@noshell deploy zsh\n"))
	if err == nil || !strings.Contains(err.Error(), `user "kali" does not exist`) || !strings.Contains(err.Error(), "zsh is not installed") {
		t.Fatalf("err = %v", err)
	}
}

// Image roots: no user shell is started; the plan says the check was skipped.
func TestVerifySkippedOnImageRoots(t *testing.T) {
	s := testScript()
	h := &resources.Host{Name: "img", Root: "/mnt/image"}
	if p := s.Probe(h); strings.Contains(p, "runuser") {
		t.Fatal("probe starts users' shells on an image root")
	}
	ch, err := s.diffVerify(h, resources.Change{Action: resources.NoOp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Action != resources.NoOp || len(ch.Notes) != 1 || !strings.Contains(ch.Notes[0], "verify skipped on image roots") {
		t.Fatalf("change %+v", ch)
	}
	if p := s.Probe(&resources.Host{Name: "h", Root: "/"}); !strings.Contains(p, "runuser -u kali --") {
		t.Fatal("probe on a running host does not start kali's shells")
	}
}

// FuzzVerifyParse: the check's output comes from users' startup files; any
// bytes parse without panicking, and findings never echo a secret-looking
// value of a variable named like a token.
func FuzzVerifyParse(f *testing.F) {
	f.Add([]byte("@user kali /home/kali\n@shell kali zsh " + shellOut("x", "path", "/a:/b", "env", "GOPATH", "set", "/x") + "\n"))
	f.Add([]byte("@grep kali PATH " + b64("/home/kali/.zshrc:1:PATH=/x\n") + "\n@nouser y\n"))
	f.Add([]byte("@shell kali bash " + b64("\n@@goprov-begin\nenv\x00GOPATH\x00set\n@@goprov-end\n") + "\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		parseShell(out)
		st, err := parseVerify(out)
		if err != nil || st == nil {
			return
		}
		s := testScript()
		s.Env["API_TOKEN"] = "x"
		for _, pending := range []bool{true, false} {
			for _, line := range s.verifyFindings(st, pending) {
				if strings.Contains(line, "API_TOKEN is ") && !strings.Contains(line, "API_TOKEN is (a value not shown)") && !strings.Contains(line, "API_TOKEN is not set") {
					t.Fatalf("token value echoed: %q", line)
				}
			}
		}
	})
}
