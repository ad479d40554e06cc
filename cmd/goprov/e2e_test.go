package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/internal/ci"
)

// These tests run the real binary, as users and pipelines do.

var goprovBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "goprov-e2e-")
	if err != nil {
		panic(err)
	}
	goprovBin = filepath.Join(dir, "goprov")
	if out, err := exec.Command("go", "build", "-o", goprovBin, ".").CombinedOutput(); err != nil {
		panic("build goprov: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func goprov(t testing.TB, args ...string) result {
	t.Helper()
	return runCmd(t, exec.Command(goprovBin, args...), args)
}

// runCmd runs the binary with no stdin (not a terminal, like CI) and
// returns what it printed and its exit code.
func runCmd(t testing.TB, cmd *exec.Cmd, args []string) result {
	t.Helper()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run goprov %v: %v", args, err)
	}
	return result{so.String(), se.String(), code}
}

func writeConfig(t testing.TB, hcl string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func requireRoot(t *testing.T) {
	t.Helper()
	ci.RequireRoot(t, "apply writes root:root files (chown 0:0); run as root or in CI")
}

const goScript = `
variable "gopath" {
  default = "/opt/go"
}
locals {
  gobin = "/usr/local/go/bin"
}
resource "profile_script" "go" {
  name = "go"
  env = {
    GOPATH  = var.gopath
    GOFLAGS = "-mod=readonly"
  }
  path_prepend = [local.gobin, "${var.gopath}/bin"]
}
`

func TestPlanApplyLifecycle(t *testing.T) {
	requireRoot(t)
	cfg := writeConfig(t, goScript)
	root := t.TempDir()
	file := filepath.Join(root, "etc/profile.d/go.sh")

	r := goprov(t, "plan", cfg, "-root", root, "-detailed-exitcode")
	if r.code != 2 || !strings.Contains(r.stdout, "Plan: 1 to add, 0 to change, 0 to destroy.") {
		t.Fatalf("first plan: want exit 2 and 1 to add, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("plan must not write: %v", err)
	}

	if r = goprov(t, "apply", cfg, "-root", root); r.code != 1 || !strings.Contains(r.stderr, "-auto-approve") {
		t.Fatalf("apply without a terminal and without -auto-approve must refuse, got %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatal("refused apply wrote the file")
	}

	if r = goprov(t, "apply", "-auto-approve", cfg, "-root", root); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %o, want 0644", st.Mode().Perm())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(root, "etc/profile.d/.goprov*")); len(leftovers) > 0 {
		t.Errorf("temp files left behind: %v", leftovers)
	}

	if r = goprov(t, "plan", cfg, "-root", root, "-detailed-exitcode"); r.code != 0 || !strings.Contains(r.stdout, "no changes") {
		t.Fatalf("second plan must be empty (exit 0), got %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = goprov(t, "plan", cfg, "-root", root, "-detailed-exitcode", "-var", "gopath=/srv/go")
	if r.code != 2 || !strings.Contains(r.stdout, "-export GOPATH=/opt/go") || !strings.Contains(r.stdout, "+export GOPATH=/srv/go") ||
		!strings.Contains(r.stdout, "Plan: 0 to add, 1 to change, 0 to destroy.") {
		t.Fatalf("changed value must show an update with a diff, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	absent := writeConfig(t, strings.Replace(goScript, `name = "go"`, "name = \"go\"\n  ensure = \"absent\"", 1))
	r = goprov(t, "plan", absent, "-root", root, "-detailed-exitcode")
	if r.code != 2 || !strings.Contains(r.stdout, "Plan: 0 to add, 0 to change, 1 to destroy.") {
		t.Fatalf("ensure=absent must plan a delete, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = goprov(t, "apply", "-auto-approve", absent, "-root", root); r.code != 0 {
		t.Fatalf("apply absent: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("ensure=absent must delete the file: %v", err)
	}
	if r = goprov(t, "plan", absent, "-root", root, "-detailed-exitcode"); r.code != 0 {
		t.Fatalf("plan after delete must be empty, got %d\n%s", r.code, r.stdout)
	}
}

func TestRemovedBlockDeletesNothing(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	cfg := writeConfig(t, goScript)
	if r := goprov(t, "apply", "-auto-approve", cfg, "-root", root); r.code != 0 {
		t.Fatalf("apply: %d %s", r.code, r.stderr)
	}
	other := writeConfig(t, `
resource "profile_script" "other" {
  name = "other"
  env = {
    A = "1"
  }
}
`)
	r := goprov(t, "apply", "-auto-approve", other, "-root", root)
	if r.code != 0 {
		t.Fatalf("apply: %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/profile.d/go.sh")); err != nil {
		t.Fatalf("a resource block removed from the config must not delete its file: %v", err)
	}
}

func TestStalePlanIsRefused(t *testing.T) {
	requireRoot(t)
	cfg := writeConfig(t, goScript)
	root := t.TempDir()
	if r := goprov(t, "apply", "-auto-approve", cfg, "-root", root); r.code != 0 {
		t.Fatalf("apply: %d %s", r.code, r.stderr)
	}
	planFile := filepath.Join(t.TempDir(), "change.plan")
	if r := goprov(t, "plan", cfg, "-root", root, "-var", "gopath=/srv/go", "-out", planFile); r.code != 0 {
		t.Fatalf("plan -out: %d %s", r.code, r.stderr)
	}
	st, err := os.Stat(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("plan file mode %o, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(planFile)
	if strings.Contains(string(raw), "export GOPATH=/opt/go") {
		t.Error("the plan file holds current file content; it must hold digests only")
	}

	// Someone edits the file by hand after the plan was made.
	file := filepath.Join(root, "etc/profile.d/go.sh")
	hand := []byte("# hand edit\nexport GOPATH=/home/me/go\n")
	if err := os.WriteFile(file, hand, 0o644); err != nil {
		t.Fatal(err)
	}
	r := goprov(t, "apply", "-auto-approve", planFile)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "stale plan") {
		t.Fatalf("stale plan must be refused with exit 1, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, hand) {
		t.Fatalf("the hand edit must survive a refused stale plan, file is now:\n%s", got)
	}

	// A fresh plan applied untouched goes through.
	if r := goprov(t, "plan", cfg, "-root", root, "-var", "gopath=/srv/go", "-out", planFile); r.code != 0 {
		t.Fatalf("plan -out: %d %s", r.code, r.stderr)
	}
	if r := goprov(t, "show", planFile); r.code != 0 || !strings.Contains(r.stdout, "profile_script.go will be updated") {
		t.Fatalf("show: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := goprov(t, "apply", "-auto-approve", planFile); r.code != 0 {
		t.Fatalf("apply saved plan: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got, _ := os.ReadFile(file); !strings.Contains(string(got), "export GOPATH=/srv/go") {
		t.Fatalf("saved plan not applied:\n%s", got)
	}
}

func TestHostileValuesAreInert(t *testing.T) {
	requireRoot(t)
	const pwned = "/tmp/goprov-e2e-pwned"
	os.Remove(pwned)
	cfg := writeConfig(t, `
resource "profile_script" "evil" {
  name = "evil"
  env = {
    A = "$(touch `+pwned+`)"
    B = "`+"`touch "+pwned+"`"+`"
    C = "x; touch `+pwned+`; 'quoted' \"dq\" \\ \n second line"
  }
  path_prepend = ["/opt/$(touch `+pwned+`)/bin"]
}
`)
	root := t.TempDir()
	if r := goprov(t, "apply", "-auto-approve", cfg, "-root", root); r.code != 0 {
		t.Fatalf("apply: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Source it the way a login shell does, in every shell we have.
	for _, sh := range []string{"sh", "bash", "zsh"} {
		ci.LookPath(t, sh)
		script := `. "$1"; printf '%s\n' "$A" "$B" "$C" "$PATH"`
		if sh == "zsh" {
			script = "emulate sh -c '. \"$1\"'; printf '%s\\n' \"$A\" \"$B\" \"$C\" \"$PATH\""
		}
		out, err := exec.Command(sh, "-c", script, sh, filepath.Join(root, "etc/profile.d/evil.sh")).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", sh, err, out)
		}
		want := "$(touch " + pwned + ")\n`touch " + pwned + "`\nx; touch " + pwned + "; 'quoted' \"dq\" \\ \n second line\n/opt/$(touch " + pwned + ")/bin"
		if !strings.HasPrefix(string(out), want) {
			t.Errorf("%s: values not preserved literally:\n%s\nwant prefix:\n%s", sh, out, want)
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal(pwned + " exists: a value was executed")
	}
}

func TestValidateReportsPositionAndChangesNothing(t *testing.T) {
	root := t.TempDir()
	cfg := writeConfig(t, `
resource "profile_script" "go" {
  name = "go"
  env = {
    GOPATH = var.nope
  }
}
`)
	for _, cmd := range []string{"validate", "plan", "apply"} {
		args := []string{cmd, cfg}
		if cmd != "validate" {
			args = append(args, "-root", root, "-auto-approve")
		}
		if cmd == "plan" {
			args = args[:len(args)-1]
		}
		r := goprov(t, args...)
		wantPos := filepath.Join(cfg, "main.hcl") + ":5:14: error: Reference to undeclared input variable"
		if r.code != 1 || !strings.Contains(r.stderr, wantPos) {
			t.Errorf("%s: want exit 1 and %q, got %d\n%s", cmd, wantPos, r.code, r.stderr)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("a broken config changed the root: %v", entries)
	}
}

func TestPlanJSON(t *testing.T) {
	requireRoot(t)
	cfg := writeConfig(t, goScript)
	root := t.TempDir()
	r := goprov(t, "plan", cfg, "-root", root, "-json")
	if r.code != 0 {
		t.Fatalf("plan -json: %d %s", r.code, r.stderr)
	}
	var doc struct {
		FormatVersion int `json:"format_version"`
		Hosts         []struct {
			Name    string
			Changes []struct{ Address, Action string }
		}
		Summary struct{ Add, Change, Destroy int }
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if doc.FormatVersion != 1 || len(doc.Hosts) != 1 || doc.Hosts[0].Name != "local" ||
		len(doc.Hosts[0].Changes) != 1 || doc.Hosts[0].Changes[0].Address != "profile_script.go" ||
		doc.Hosts[0].Changes[0].Action != "create" || doc.Summary.Add != 1 {
		t.Fatalf("unexpected JSON plan: %+v", doc)
	}
}

func TestLimitAndTargets(t *testing.T) {
	requireRoot(t)
	imgA, imgB := t.TempDir(), t.TempDir()
	cfg := writeConfig(t, `
host "a" {
  connection = "local"
  root       = "`+imgA+`"
  groups     = ["images"]
}
host "b" {
  connection = "local"
  root       = "`+imgB+`"
}
resource "profile_script" "only_images" {
  targets = [group.images]
  name    = "img"
}
resource "profile_script" "everywhere" {
  name = "all"
}
`)
	r := goprov(t, "plan", cfg, "-json")
	if r.code != 0 {
		t.Fatalf("plan: %d %s", r.code, r.stderr)
	}
	var doc struct {
		Hosts []struct {
			Name    string
			Changes []struct{ Address string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, h := range doc.Hosts {
		got[h.Name] = len(h.Changes)
	}
	if got["a"] != 2 || got["b"] != 1 {
		t.Fatalf("targets: want a=2 b=1 resources, got %v", got)
	}
	r = goprov(t, "plan", cfg, "-limit", "host.b", "-json")
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Hosts) != 1 || doc.Hosts[0].Name != "b" {
		t.Fatalf("-limit host.b: %v %s", err, r.stdout)
	}
	if r = goprov(t, "plan", cfg, "-limit", "group.nope"); r.code != 1 || !strings.Contains(r.stderr, "matches no host") {
		t.Fatalf("-limit with an unknown group must fail: %d %s", r.code, r.stderr)
	}
}

func TestFmt(t *testing.T) {
	cfg := writeConfig(t, "resource \"profile_script\" \"x\" {\nname=\"x\"\n}\n")
	if r := goprov(t, "fmt", "-check", cfg); r.code != 3 {
		t.Fatalf("fmt -check on unformatted file: want exit 3, got %d", r.code)
	}
	if r := goprov(t, "fmt", cfg); r.code != 0 {
		t.Fatalf("fmt: %d %s", r.code, r.stderr)
	}
	if r := goprov(t, "fmt", "-check", cfg); r.code != 0 {
		t.Fatalf("fmt -check after fmt: %d", r.code)
	}
	got, _ := os.ReadFile(filepath.Join(cfg, "main.hcl"))
	if !strings.Contains(string(got), `name = "x"`) {
		t.Fatalf("not formatted: %s", got)
	}
}

func TestJournal(t *testing.T) {
	requireRoot(t)
	cfg := writeConfig(t, goScript)
	root := t.TempDir()
	ctl := filepath.Join(t.TempDir(), "journal.jsonl")
	if r := goprov(t, "apply", "-auto-approve", "-journal", ctl, cfg, "-root", root); r.code != 0 || !strings.Contains(r.stderr, "head sha256") {
		t.Fatalf("apply: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := goprov(t, "apply", "-auto-approve", "-journal", ctl, cfg, "-root", root, "-var", "gopath=/srv/go"); r.code != 0 {
		t.Fatalf("apply: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	host := filepath.Join(root, "var/log/goprov/journal.jsonl")
	hostHead := goprov(t, "journal", "verify", host).stdout
	// The controller journal holds the host's change records and, after
	// each apply's, the head the host journal had then.
	for _, f := range []string{ctl, host} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o, want 0600", f, st.Mode().Perm())
		}
		b, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if f == ctl {
			if len(lines) != 4 {
				t.Fatalf("%s: want 4 records (create, host head, update, host head), got %d:\n%s", f, len(lines), b)
			}
			var head map[string]any
			json.Unmarshal([]byte(lines[3]), &head)
			hh, _ := head["host_head"].(string)
			if head["action"] != "journal-head" || head["host"] != "local" || head["host_records"] != 2.0 || hh == "" || !strings.Contains(hostHead, "head sha256 "+hh) {
				t.Fatalf("controller journal's last record is not the host journal's head (%s):\n%s", hostHead, lines[3])
			}
			lines = []string{lines[0], lines[2]}
		}
		if len(lines) != 2 {
			t.Fatalf("%s: want 2 records (create, update), got %d:\n%s", f, len(lines), b)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"time", "operator", "controller", "host", "address", "action", "before_sha256", "after_sha256", "outcome", "prev_sha256"} {
			if v, ok := rec[k]; !ok || v == "" {
				t.Errorf("%s: record lacks %s: %v", f, k, rec)
			}
		}
		if rec["action"] != "update" || rec["address"] != "profile_script.go" || rec["outcome"] != "applied" {
			t.Errorf("%s: unexpected record %v", f, rec)
		}
		if strings.Contains(string(b), "GOPATH") {
			t.Errorf("%s: the journal holds content, it must hold digests only", f)
		}
		if r := goprov(t, "journal", "verify", f); r.code != 0 || !strings.Contains(r.stdout, " records, chain intact") {
			t.Fatalf("verify %s: %d %s%s", f, r.code, r.stdout, r.stderr)
		}
		tampered := strings.Replace(string(b), `"outcome":"applied"`, `"outcome":"failed"`, 1)
		os.WriteFile(f, []byte(tampered), 0o600)
		if r := goprov(t, "journal", "verify", f); r.code != 1 || !strings.Contains(r.stdout, "line 1: record seq 1 was edited") {
			t.Fatalf("verify of an edited journal: %d %s", r.code, r.stdout)
		}
	}
}

func TestSavedPlanRefusesConfigFlagsAndHelpExitsZero(t *testing.T) {
	requireRoot(t)
	cfg := writeConfig(t, goScript)
	root := t.TempDir()
	planFile := filepath.Join(t.TempDir(), "p.plan")
	if r := goprov(t, "plan", cfg, "-root", root, "-out", planFile); r.code != 0 {
		t.Fatalf("plan: %d %s", r.code, r.stderr)
	}
	for _, flagArgs := range [][]string{{"-var", "gopath=/x"}, {"-limit", "host.local"}, {"-root", "/tmp"}} {
		args := append([]string{"apply", "-auto-approve", planFile}, flagArgs...)
		if r := goprov(t, args...); r.code != 1 || !strings.Contains(r.stderr, "cannot be used with a saved plan") {
			t.Errorf("apply PLANFILE %v: want refusal, got %d %s", flagArgs, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/profile.d/go.sh")); !os.IsNotExist(err) {
		t.Fatal("a refused apply wrote")
	}
	for _, cmd := range []string{"plan", "apply", "validate", "show", "fmt"} {
		if r := goprov(t, cmd, "-h"); r.code != 0 || !strings.Contains(r.stderr, "Usage: goprov "+cmd) {
			t.Errorf("%s -h: want usage and exit 0, got %d", cmd, r.code)
		}
	}
	if r := goprov(t, "plan", "-nosuchflag"); r.code != 1 {
		t.Errorf("unknown flag: want exit 1, got %d", r.code)
	}
}
