package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/goprov/goprov/testinfra"
)

// The examples the docs and READMEs point at; a missing one fails.
var wantExamples = []string{"fleet", "gitops", "golden-image", "lab", "quickstart", "vagrant"}

func exampleDirs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot, "examples"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if strings.Join(names, " ") != strings.Join(wantExamples, " ") {
		t.Errorf("examples/ holds %v, want %v (update wantExamples and docs/README.md together)", names, wantExamples)
	}
	return names
}

// TestExamplesValidate runs `goprov validate` and `goprov fmt -check` on
// every example, offline: examples that name real hosts still validate,
// because validate never connects. Lint warnings count as failures here:
// the examples show the recommended way.
func TestExamplesValidate(t *testing.T) {
	for _, name := range exampleDirs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(repoRoot, "examples", name)
			r := goprov(t, "validate", dir)
			if r.code != 0 || !strings.Contains(r.stdout, "The configuration is valid") {
				t.Fatalf("validate %s: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
			}
			if r.stderr != "" {
				t.Errorf("validate %s printed diagnostics:\n%s", name, r.stderr)
			}
			if r := goprov(t, "fmt", "-check", dir); r.code != 0 {
				t.Errorf("fmt -check %s: exit %d, files needing formatting:\n%s%s", name, r.code, r.stdout, r.stderr)
			}
		})
	}
	// The modules' own files are formatted too.
	for _, m := range []string{"go-workstation", "sudo-audit-baseline", "firewall-baseline"} {
		if r := goprov(t, "fmt", "-check", filepath.Join(repoRoot, "modules", m)); r.code != 0 {
			t.Errorf("fmt -check modules/%s: exit %d\n%s%s", m, r.code, r.stdout, r.stderr)
		}
	}
}

// TestQuickstartCommand runs README's first command, as written, into a
// scratch root, then requires a second apply to change nothing.
func TestQuickstartCommand(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	dir := filepath.Join(repoRoot, "examples/quickstart")
	if r := goprov(t, "apply", "-auto-approve", "-root", root, dir); r.code != 0 || !strings.Contains(r.stdout, "Apply complete: 1 added") {
		t.Fatalf("quick start apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/profile.d/go.sh")); err != nil {
		t.Fatal(err)
	}
	if r := goprov(t, "plan", "-detailed-exitcode", "-root", root, dir); r.code != 0 {
		t.Fatalf("plan after the quick start: exit %d\n%s", r.code, r.stdout)
	}
}

// fleetInventory is examples/fleet's inventory.hcl, pointed at lab hosts.
func fleetInventory(lab *testinfra.Lab) string {
	groups := map[string]string{"web1": `["web", "eu"]`, "web2": `["web", "us"]`, "db1": `["db", "eu"]`}
	var b strings.Builder
	for i, name := range []string{"web1", "web2", "db1"} {
		h := lab.Hosts[i]
		fmt.Fprintf(&b, "host %q {\n  address       = %q\n  user          = %q\n  identity_file = %q\n  known_hosts   = %q\n  become        = true\n  groups        = %s\n}\n\n",
			name, h.Addr, testinfra.UserDeploy, lab.KeyPath(testinfra.UserDeploy), lab.KnownHostsPath, groups[name])
	}
	return b.String()
}

// TestFleetExampleInLab applies examples/fleet to lab hosts named as in
// its inventory: first -limit group.web, which must leave db1 untouched,
// then everything with a small -parallel; the next plan is empty.
func TestFleetExampleInLab(t *testing.T) {
	t.Parallel() // its own lab (or image root): runs beside the other example tests
	lab := testinfra.Start(t, testinfra.Options{Hosts: 3})
	tree := copyTree(t, "examples/fleet")
	dir := filepath.Join(tree, "examples/fleet")
	if err := os.WriteFile(filepath.Join(dir, "inventory.hcl"), []byte(fleetInventory(lab)), 0o644); err != nil {
		t.Fatal(err)
	}
	web1, web2, db1 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]

	r := goprov(t, "apply", "-auto-approve", "-limit", "group.web", "-parallel", "1", dir)
	if r.code != 0 {
		t.Fatalf("apply -limit group.web: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "db1") {
		t.Errorf("-limit group.web touched db1:\n%s", r.stdout)
	}
	if out := db1.Sh(t, "ls /etc/profile.d/proxy.sh /etc/sudoers.d/dba 2>&1; true"); !strings.Contains(out, "No such file") {
		t.Errorf("db1 changed by a run limited to group.web:\n%s", out)
	}
	if r := goprov(t, "plan", "-detailed-exitcode", "-limit", "group.web", dir); r.code != 0 {
		t.Errorf("plan -limit group.web after its apply: exit %d, want 0\n%s", r.code, r.stdout)
	}
	if r := goprov(t, "plan", "-detailed-exitcode", dir); r.code != 2 || !strings.Contains(r.stdout, "Host db1") {
		t.Errorf("plan of the whole fleet: exit %d, want 2 (db1 still to do)\n%s", r.code, r.stdout)
	}

	if r := goprov(t, "apply", "-auto-approve", "-parallel", "2", dir); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := goprov(t, "plan", "-detailed-exitcode", dir); r.code != 0 {
		t.Fatalf("plan after apply: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Group targeting: each team's drop-in only on its group.
	for _, c := range []struct {
		h    *testinfra.Host
		want string
	}{{web1, "webops"}, {web2, "webops"}, {db1, "dba"}} {
		out := strings.TrimSpace(c.h.Sh(t, "cd /etc/sudoers.d && ls webops dba 2>/dev/null; cd /etc/profile.d && ls proxy.sh locale.sh editor.sh | wc -l"))
		if out != c.want+"\n3" {
			t.Errorf("%s: team drop-ins and profile scripts:\n%s\nwant %s and 3 scripts", c.h.Name, out, c.want)
		}
	}
	if out := db1.Sh(t, "ls /etc/audit/rules.d/"); !strings.Contains(out, "60-pgconf.rules") {
		t.Errorf("db1: audit rules:\n%s", out)
	}
	if out := web1.Sh(t, "ls /etc/audit/rules.d/"); strings.Contains(out, "60-pgconf.rules") || !strings.Contains(out, "50-sudo.rules") {
		t.Errorf("web1: audit rules:\n%s", out)
	}
}

// TestGoldenImageExample applies examples/golden-image into an overlay of
// the lab's Debian base image (a stand-in for a debootstrap'ed root) and
// requires the next plan to be empty. Nothing of this machine changes.
func TestGoldenImageExample(t *testing.T) {
	t.Parallel() // its own lab (or image root): runs beside the other example tests
	img, _ := testinfra.ImageRoot(t)

	dir := filepath.Join(repoRoot, "examples/golden-image")
	r := goprov(t, "apply", "-auto-approve", "-var", "image_root="+img, dir)
	if r.code != 0 {
		t.Fatalf("apply into the image: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := goprov(t, "plan", "-detailed-exitcode", "-var", "image_root="+img, dir); r.code != 0 {
		t.Fatalf("plan after apply: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	if l, err := os.Readlink(filepath.Join(img, "usr/local/go")); err != nil || l != "/usr/local/go-1.22.5" {
		t.Errorf("image /usr/local/go -> %q, %v", l, err)
	}
	if out, err := exec.Command("chroot", img, "/usr/bin/env", "GOROOT=/usr/local/go", "/usr/local/go/bin/go", "version").CombinedOutput(); err != nil || !strings.Contains(string(out), "go1.22.5") {
		t.Errorf("go version inside the image: %v %s", err, out)
	}
	if out, err := exec.Command("chroot", img, "/usr/sbin/visudo", "-c").CombinedOutput(); err != nil || !strings.Contains(string(out), "/etc/sudoers.d/service-ops: parsed OK") {
		t.Errorf("visudo -c inside the image: %v\n%s", err, out)
	}
	conf, _ := os.ReadFile(filepath.Join(img, "etc/ufw/ufw.conf"))
	if !regexp.MustCompile(`(?m)^ENABLED=yes$`).Match(conf) {
		t.Errorf("image ufw.conf not enabled:\n%s", conf)
	}
	def, _ := os.ReadFile(filepath.Join(img, "etc/default/ufw"))
	if !strings.Contains(string(def), `DEFAULT_OUTPUT_POLICY="DROP"`) {
		t.Errorf("image default outgoing policy not deny:\n%s", def)
	}
	// The audit rules are in the image, for its auditd to load at boot.
	if rules, err := os.ReadFile(filepath.Join(img, "etc/audit/rules.d/50-sudo-baseline.rules")); err != nil || !strings.Contains(string(rules), "-w /etc/sudoers") {
		t.Errorf("audit rules not written into the image: %v\n%s", err, rules)
	}
	// (GOROOT is set because a chroot without /proc hides the binary's own
	// path, from which go finds its root.)
	// The build machine's own files are untouched.
	if _, err := os.Stat("/etc/sudoers.d/service-ops"); err == nil {
		t.Error("the example wrote /etc/sudoers.d/service-ops on the build machine")
	}
}

// goprovEnv runs the binary with extra environment variables.
func goprovEnv(t testing.TB, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(goprovBin, args...)
	cmd.Env = append(os.Environ(), env...)
	return runCmd(t, cmd, args)
}

// TestVagrantExampleInLab follows examples/vagrant's README against a lab
// host: an ssh-config file shaped like `vagrant ssh-config` output (alias
// "default", known hosts /dev/null, StrictHostKeyChecking no), the
// example's host block naming only the alias. It plans only: the same
// modules are applied by TestShippedModulesInLab; what is particular here
// is reaching the host through the alias.
func TestVagrantExampleInLab(t *testing.T) {
	t.Parallel() // its own lab (or image root): runs beside the other example tests
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	tree := copyTree(t, "examples/vagrant", "modules")
	dir := filepath.Join(tree, "examples/vagrant")
	sshConfig := filepath.Join(dir, "vagrant.ssh")
	vagrant := fmt.Sprintf(`Host default
  HostName %s
  User %s
  Port %d
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile %s
  IdentitiesOnly yes
  LogLevel FATAL
`, h.Addr, testinfra.UserDeploy, h.Port, lab.KeyPath(testinfra.UserDeploy))
	if err := os.WriteFile(sshConfig, []byte(vagrant), 0o644); err != nil {
		t.Fatal(err)
	}
	// Without the file, "default" resolves to nothing reachable.
	if r := goprov(t, "plan", dir); r.code != 1 {
		t.Errorf("plan without -ssh-config: want exit 1, got %d\n%s", r.code, r.stdout)
	}
	r := goprov(t, "plan", "-detailed-exitcode", "-ssh-config", sshConfig, dir)
	if r.code != 2 || !strings.Contains(r.stdout, "Host default (ssh):") || !strings.Contains(r.stdout, "Plan: 8 to add, 1 to change, 0 to destroy.") {
		t.Fatalf("plan through the vagrant ssh-config: want exit 2 and the whole plan, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "NOT verified") {
		t.Errorf("no warning that the host key is not verified:\n%s", r.stderr)
	}
}

// workflowStep runs the `run:` script of the gitops workflow's step called
// name with bash in dir, goprov first in PATH; `gh` (GitHub's API, which the
// lab has not) answers as for a repository without artifacts yet.
func workflowStep(t *testing.T, dir string, env []string, name string) (string, int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples/gitops/.github/workflows/goprov.yml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == "- name: "+name {
			start = i
			break
		}
	}
	var script []string
	indent := ""
	for i := start + 1; start >= 0 && i < len(lines); i++ {
		l := lines[i]
		if indent == "" {
			if strings.TrimSpace(l) == "run: |" {
				indent = l[:len(l)-len(strings.TrimLeft(l, " "))] + "  "
			} else if strings.HasPrefix(strings.TrimSpace(l), "- ") {
				break
			}
			continue
		}
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, indent) {
			break
		}
		script = append(script, strings.TrimPrefix(l, indent))
	}
	if len(script) == 0 {
		t.Fatalf("workflow has no step %q with a run: | script", name)
	}
	bin := t.TempDir()
	os.Symlink(goprovBin, filepath.Join(bin, "goprov"))
	os.WriteFile(filepath.Join(bin, "gh"), []byte("#!/bin/sh\nexit 0\n"), 0o755)
	cmd := exec.Command("bash", "-e", "-c", strings.Join(script, "\n"))
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "PATH="+bin+":"+os.Getenv("PATH"), "GITHUB_REPOSITORY=example/fleet")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestGitopsFlowInLab runs examples/gitops' pipeline steps, as the workflow
// writes them, against two lab hosts: the login key only in an ssh-agent,
// the sudo password (hostile on purpose) only in GOPROV_BECOME_PASSWORD.
// Plan with -detailed-exitcode -out -json, apply the saved plan with a
// journal, drift check; then a saved plan applied after one host moved:
// that host is refused as stale and left alone, the other is applied.
//
// It stays whole: the steps are the workflow's, in its order, each reading the
// files (saved plan, journal) the step before wrote.
func TestGitopsFlowInLab(t *testing.T) {
	t.Parallel() // its own lab (or image root): runs beside the other example tests
	lab := testinfra.Start(t, testinfra.Options{Hosts: 2})
	tree := copyTree(t, "examples/gitops", "modules")
	dir := filepath.Join(tree, "examples/gitops")
	var inv strings.Builder
	for i, name := range []string{"web1", "web2"} {
		fmt.Fprintf(&inv, "host %q {\n  address         = %q\n  user            = %q\n  known_hosts     = %q\n  host_key_policy = \"strict\"\n  become          = true\n  groups          = [\"web\"]\n}\n",
			name, lab.Hosts[i].Addr, testinfra.UserOps, lab.KnownHostsPath)
	}
	if err := os.WriteFile(filepath.Join(dir, "inventory.hcl"), []byte(inv.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	// The workflow's "SSH key into ssh-agent" step.
	sock := filepath.Join(t.TempDir(), "agent.sock")
	out, err := exec.Command("ssh-agent", "-a", sock, "-s").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-agent: %v %s", err, out)
	}
	if m := regexp.MustCompile(`SSH_AGENT_PID=(\d+)`).FindSubmatch(out); m != nil {
		pid := string(m[1])
		t.Cleanup(func() { exec.Command("kill", pid).Run() })
	}
	add := exec.Command("ssh-add", lab.KeyPath(testinfra.UserOps))
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v %s", err, out)
	}
	env := []string{"SSH_AUTH_SOCK=" + sock, "GOPROV_BECOME_PASSWORD=" + testinfra.OpsPassword}
	work := t.TempDir()
	planBin, planJSON, journal := filepath.Join(work, "plan.bin"), filepath.Join(work, "plan.json"), filepath.Join(work, "journal.jsonl")
	noSecret := func(what, s string) {
		t.Helper()
		if strings.Contains(s, "p@ss") {
			t.Errorf("%s holds the sudo password", what)
		}
	}

	if r := goprovEnv(t, env, "fmt", "-check", dir); r.code != 0 {
		t.Fatalf("fmt -check: %d %s", r.code, r.stdout)
	}
	if r := goprovEnv(t, env, "validate", dir); r.code != 0 {
		t.Fatalf("validate: %d %s", r.code, r.stderr)
	}
	r := goprovEnv(t, env, "plan", "-detailed-exitcode", "-out", planBin, "-json", dir)
	if r.code != 2 {
		t.Fatalf("plan of fresh hosts: want exit 2, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	os.WriteFile(planJSON, []byte(r.stdout), 0o600)
	jq := exec.Command("jq", "-r", `.summary | "\(.add) \(.failed_hosts)"`, planJSON)
	if out, err := jq.Output(); err != nil || strings.HasPrefix(string(out), "0 ") || !strings.HasSuffix(strings.TrimSpace(string(out)), " 0") {
		t.Errorf("plan.json summary (add, failed_hosts): %q %v", out, err)
	}
	saved, _ := os.ReadFile(planBin)
	noSecret("plan.json", r.stdout)
	noSecret("plan.bin", string(saved))
	if strings.Contains(string(saved), "Managed by goprov") {
		t.Error("plan.bin holds rendered file content")
	}

	// The apply job's steps as the workflow writes them: apply the saved
	// plan, record the journal heads.
	kh, _ := os.ReadFile(lab.KnownHostsPath)
	os.WriteFile(filepath.Join(dir, "known_hosts"), kh, 0o644)
	stepEnv := append(env, "CONFIG="+dir, "SSH_USER="+testinfra.UserOps,
		fmt.Sprintf("JOURNAL_HOSTS=web1=%s web2=%s", lab.Hosts[0].Addr, lab.Hosts[1].Addr))
	stepOut, code := workflowStep(t, work, stepEnv, "Apply the saved plan")
	if code != 0 {
		t.Fatalf("apply plan.bin: exit %d\n%s", code, stepOut)
	}
	noSecret("apply output", stepOut)
	if out, code := workflowStep(t, work, stepEnv, "New journal heads"); code != 0 || strings.Count(out, `"head"`) != 2 {
		t.Fatalf("new journal heads: exit %d, want a head per host:\n%s", code, out)
	}
	// The next run's check: both host journals end at their heads.
	os.MkdirAll(filepath.Join(work, "prev"), 0o755)
	heads, _ := os.ReadFile(filepath.Join(work, "heads.json"))
	os.WriteFile(filepath.Join(work, "prev/heads.json"), heads, 0o644)
	if out, code := workflowStep(t, work, stepEnv, "Check host journals against them"); code != 0 || strings.Count(out, "at the anchored head") != 2 {
		t.Fatalf("journal check after the apply: exit %d\n%s", code, out)
	}
	// Someone drops web2's last journal record: the next run says so and fails.
	lab.Hosts[1].Sh(t, "head -n -1 /var/log/goprov/journal.jsonl > /tmp/j && cat /tmp/j > /var/log/goprov/journal.jsonl")
	os.RemoveAll(filepath.Join(work, "journals"))
	if out, code := workflowStep(t, work, stepEnv, "Check host journals against them"); code == 0 || !strings.Contains(out, "::error::web2: journal does not end at the head") || !strings.Contains(out, "truncated") || strings.Contains(out, "::error::web1") {
		t.Fatalf("journal check after web2's journal was cut: want a failure naming web2 only, got exit %d\n%s", code, out)
	}
	if r := goprovEnv(t, env, "journal", "verify", journal); r.code != 0 {
		t.Errorf("journal verify: %d %s", r.code, r.stdout)
	}
	j, _ := os.ReadFile(journal)
	noSecret("journal", string(j))
	if r := goprovEnv(t, env, "plan", "-detailed-exitcode", dir); r.code != 0 {
		t.Fatalf("drift check after apply: want 0, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Drift on both hosts; the nightly check says 2.
	drift := func(h *testinfra.Host, line string) {
		h.Sh(t, "echo '"+line+"' >> /etc/profile.d/managed-by.sh")
	}
	drift(lab.Hosts[0], "export HAND_EDIT=1")
	drift(lab.Hosts[1], "export HAND_EDIT=1")
	if r := goprovEnv(t, env, "plan", "-detailed-exitcode", "-out", planBin, dir); r.code != 2 {
		t.Fatalf("drift check: want exit 2, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// web2 moves again after the plan was reviewed.
	drift(lab.Hosts[1], "export SECOND_EDIT=1")
	r = goprovEnv(t, env, "apply", "-auto-approve", planBin)
	if r.code != 1 || !strings.Contains(r.stdout, "stale plan: profile_script.managed changed on the host") {
		t.Fatalf("apply of a plan one host moved under: want exit 1 and a stale web2, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := lab.Hosts[0].Sh(t, "cat /etc/profile.d/managed-by.sh"); strings.Contains(out, "HAND_EDIT") {
		t.Errorf("web1 was not applied:\n%s", out)
	}
	if out := lab.Hosts[1].Sh(t, "cat /etc/profile.d/managed-by.sh"); !strings.Contains(out, "SECOND_EDIT") {
		t.Errorf("stale web2 was changed:\n%s", out)
	}
	// Plan again, apply: converged.
	if r := goprovEnv(t, env, "apply", "-auto-approve", dir); r.code != 0 {
		t.Fatalf("apply: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := goprovEnv(t, env, "plan", "-detailed-exitcode", dir); r.code != 0 {
		t.Fatalf("final drift check: want 0, got %d\n%s", r.code, r.stdout)
	}
}
