package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
)

var posRe = regexp.MustCompile(`\.hcl:\d+:\d+: error: `)

// Hostile names and values, through the whole pipeline against a real lab
// host: each is rejected at validate with file:line:col, or quoted and
// inert. No case may ever create /tmp/pwned, on the host or here.
func TestHostileInputThroughPipeline(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	const pw = "/tmp/pwned"
	cases := []struct {
		name   string
		hcl    string
		reject bool
	}{
		{"profile name with ../", `resource "profile_script" "x" {
  name = "../../etc/cron.d/x"
}`, true},
		{"profile name with newline", `resource "profile_script" "x" {
  name = "a\nb"
}`, true},
		{"profile name with ;", `resource "profile_script" "x" {
  name = "a;touch /tmp/pwned"
}`, true},
		{"env value command substitution", `resource "profile_script" "x" {
  name = "h1"
  env = {
    A = "$(touch /tmp/pwned)"
    B = "` + "`touch /tmp/pwned`" + `"
    C = "'; touch /tmp/pwned; '"
    D = "\"; touch /tmp/pwned; \""
    E = "x\ntouch /tmp/pwned\n"
  }
}`, false},
		{"env key injection", `resource "profile_script" "x" {
  name = "h2"
  env = {
    "A=1; touch /tmp/pwned; B" = "x"
  }
}`, true},
		{"NUL in value", `resource "profile_script" "x" {
  name = "h3"
  env = {
    A = "a\u0000b"
  }
}`, true},
		{"path entry with metacharacters", `resource "profile_script" "x" {
  name = "h4"
  path_prepend = ["/opt/$(touch /tmp/pwned)/bin", "/opt/';touch /tmp/pwned;'/bin"]
}`, false},
		{"sudoers name with ../", `resource "sudoers_dropin" "x" {
  name = "../sudoers"
  rule {
    users    = ["deploy"]
    commands = ["/usr/bin/true"]
  }
}`, true},
		{"sudoers relative command", `resource "sudoers_dropin" "x" {
  name = "rel"
  rule {
    users    = ["deploy"]
    commands = ["touch /tmp/pwned"]
  }
}`, true},
		{"sudoers user with newline", `resource "sudoers_dropin" "x" {
  name = "nl"
  rule {
    users    = ["deploy\nALL ALL=(ALL) NOPASSWD: ALL"]
    commands = ["/usr/bin/true"]
  }
}`, true},
		{"sudoers command args with metacharacters", `resource "sudoers_dropin" "x" {
  name = "args"
  rule {
    users    = ["deploy"]
    nopasswd = true
    commands = ["/usr/bin/echo $(touch /tmp/pwned) ; touch /tmp/pwned"]
  }
}`, false},
		{"audit name with ../", `resource "audit_rules" "x" {
  name  = "../../../tmp/x"
  rules = ["-w /etc/passwd -p wa -k x"]
}`, true},
		{"audit rule with newline", `resource "audit_rules" "x" {
  name  = "nl"
  rules = ["-w /etc/passwd -p wa -k x\n-e 2"]
}`, true},
		{"sysctl name with ../", `resource "sysctl" "x" {
  name   = "../../etc/cron.d/x"
  values = { "kernel.domainname" = "x" }
}`, true},
		{"sysctl key with ../", `resource "sysctl" "x" {
  name   = "k"
  values = { "kernel/../../../etc/shadow" = "x" }
}`, true},
		{"sysctl key with ;", `resource "sysctl" "x" {
  name   = "k"
  values = { "kernel.x;touch /tmp/pwned" = "1" }
}`, true},
		{"sysctl value with newline", `resource "sysctl" "x" {
  name   = "k"
  values = { "kernel.domainname" = "x\nkernel.modules_disabled = 1" }
}`, true},
		// kernel.domainname belongs to the host's UTS namespace and takes
		// any text: the value is stored and read back, never run.
		{"sysctl value with metacharacters", `resource "sysctl" "x" {
  name   = "uts"
  values = { "kernel.domainname" = "$(touch /tmp/pwned)` + "`touch /tmp/pwned`" + `';touch /tmp/pwned;'" }
}`, false},
		{"sshd_config name with ../", `resource "sshd_config" "x" {
  name     = "../../cron.d/x"
  settings = { MaxAuthTries = 3 }
}`, true},
		{"package name with ;", `resource "package" "x" {
  names = ["zsh;touch /tmp/pwned"]
}`, true},
		{"package name as an apt option", `resource "package" "x" {
  names = ["-oAPT::Update::Pre-Invoke::=touch /tmp/pwned"]
}`, true},
		{"package version with $()", `resource "package" "x" {
  names   = ["zsh"]
  version = "5.9$(touch /tmp/pwned)"
}`, true},
		{"sshd_config keyword with ;", `resource "sshd_config" "x" {
  name     = "k"
  settings = { "MaxAuthTries;touch /tmp/pwned" = 3 }
}`, true},
		{"sshd_config value with newline", `resource "sshd_config" "x" {
  name     = "nl"
  settings = { MaxAuthTries = "3\nPermitRootLogin yes" }
}`, true},
		// VersionAddendum takes free text: the value is written, checked
		// by sshd -t and reloaded, never run.
		{"sshd_config value with metacharacters", `resource "sshd_config" "x" {
  name     = "va"
  settings = { VersionAddendum = "$(touch /tmp/pwned)` + "`touch /tmp/pwned`" + `;touch_/tmp/pwned" }
}`, false},
		{"host address with ;", `host "evil" {
  address = "10.0.0.1;touch /tmp/pwned"
}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := labtest.Write(t, inv, tc.hcl)
			// Keep the config's own host block, if any, out of the inventory clash.
			if strings.HasPrefix(tc.hcl, "host ") {
				cfg = labtest.Write(t, tc.hcl+"\n"+`resource "profile_script" "y" {
  name = "y"
}`)
			}
			r := goprov(t, "apply", "-auto-approve", cfg)
			if tc.reject {
				if r.code != 1 || !posRe.MatchString(r.stderr) {
					t.Fatalf("want rejection with file:line:col, got exit %d\n%s%s", r.code, r.stdout, r.stderr)
				}
			} else if r.code != 0 {
				t.Fatalf("want a successful, inert apply, got %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			// Log in for real so profile scripts are sourced, then look.
			if _, err := h.MustExec(context.Background(), `bash -lc true; zsh -lc true; su deploy -s /bin/sh -c 'sudo -n -l >/dev/null' || true`); err != nil {
				t.Fatal(err)
			}
			if out, _ := h.MustExec(context.Background(), "ls "+pw+" 2>/dev/null || true"); strings.TrimSpace(out) != "" {
				t.Fatalf("%s exists on the host: a value was executed", pw)
			}
			if _, err := os.Stat(pw); err == nil {
				t.Fatalf("%s exists on the controller", pw)
			}
		})
	}
}

// The sudo password never appears in plans, saved plan files, journals,
// output or errors — nor in any process's command line on the host while
// an apply runs (sampled for real).
func TestSecretsStaySecret(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	secret := testinfra.OpsPassword
	needle := `w;o'r"d` // a distinctive part of it
	dir := t.TempDir()
	cfg := labtest.Write(t, labtest.Inventory(lab, testinfra.UserOps), faultConfig(0))
	os.Setenv("GOPROV_BECOME_PASSWORD", secret)
	defer os.Unsetenv("GOPROV_BECOME_PASSWORD")

	planFile, journalFile := filepath.Join(dir, "p.plan"), filepath.Join(dir, "j.jsonl")
	var outputs []string
	r := goprov(t, "plan", cfg, "-out", planFile)
	outputs = append(outputs, r.stdout, r.stderr)
	if r.code != 0 {
		t.Fatalf("plan as ops: %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Sample every command line on the host while the apply runs.
	stop := make(chan struct{})
	var mu sync.Mutex
	samples, seenSudo, leaked := 0, false, ""
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			out, _, _, err := h.Exec(context.Background(), `for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' < "$f" 2>/dev/null; echo; done`)
			if err == nil {
				mu.Lock()
				samples++
				s := string(out)
				if strings.Contains(s, "sudo") {
					seenSudo = true
				}
				if strings.Contains(s, needle) {
					leaked = s
				}
				mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	r = goprov(t, "apply", "-auto-approve", "-journal", journalFile, planFile)
	close(stop)
	wg.Wait()
	outputs = append(outputs, r.stdout, r.stderr)
	if r.code != 0 {
		t.Fatalf("apply as ops: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("%d samples of /proc/*/cmdline during apply; sudo seen: %v", samples, seenSudo)
	if leaked != "" {
		t.Fatalf("the sudo password was in a command line on the host:\n%s", leaked)
	}
	if !seenSudo || samples < 5 {
		t.Fatalf("the sampler saw too little (%d samples, sudo seen %v) to prove anything", samples, seenSudo)
	}

	hostJournal, err := os.ReadFile(filepath.Join(h.RootDir, "var/log/goprov/journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	planBytes, _ := os.ReadFile(planFile)
	journalBytes, _ := os.ReadFile(journalFile)
	sshdLog, _ := h.SSHDLog()
	r = goprov(t, "show", "-json", planFile)
	outputs = append(outputs, r.stdout, r.stderr)
	// A wrong password: a clear per-host error, which must not echo it either.
	os.Setenv("GOPROV_BECOME_PASSWORD", "Wr0ng "+needle)
	r = goprov(t, "plan", cfg)
	if r.code != 1 || !strings.Contains(r.stdout, "incorrect password") {
		t.Fatalf("wrong password: want a clear error, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	outputs = append(outputs, r.stdout, r.stderr)
	for name, text := range map[string]string{
		"plan file": string(planBytes), "controller journal": string(journalBytes), "host journal": string(hostJournal),
		"sshd log": string(sshdLog), "output": strings.Join(outputs, "\n"),
	} {
		if strings.Contains(text, needle) {
			t.Errorf("the sudo password appears in the %s", name)
		}
	}
}

// A full filesystem under /etc/sudoers.d fails the apply before any rename;
// the original drop-in is intact and sudo still works.
func TestDiskFull(t *testing.T) {
	lab := testinfra.Start(t, testinfra.Options{Hosts: 1})
	h := lab.Hosts[0]
	inv := labtest.Inventory(lab, testinfra.UserDeploy)
	if r := goprov(t, "apply", "-auto-approve", labtest.Write(t, inv, faultConfig(0))); r.code != 0 {
		t.Fatalf("apply: %d %s", r.code, r.stderr)
	}
	before, _ := h.MustExec(context.Background(), "cat /etc/sudoers.d/faults")
	restore, err := h.FillDir("/etc/sudoers.d", "64k")
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	// A bigger file than the space left.
	big := strings.Replace(faultConfig(1), `"/usr/bin/true 1"`, `"/usr/bin/true `+strings.Repeat("y", 100000)+`"`, 1)
	r := goprov(t, "apply", "-auto-approve", labtest.Write(t, inv, big))
	if r.code != 1 || !strings.Contains(r.stdout, "sudoers_dropin.faults") {
		t.Fatalf("apply onto a full filesystem: want exit 1 naming the resource, got %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	after, _ := h.MustExec(context.Background(), "cat /etc/sudoers.d/faults; ls -A /etc/sudoers.d")
	if !strings.HasPrefix(after, before) {
		t.Fatalf("the original drop-in changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if strings.Contains(after, ".goprov.") {
		t.Fatalf("a temp file was left behind:\n%s", after)
	}
	if out, err := h.MustExec(context.Background(), `/usr/sbin/visudo -c >/dev/null && su deploy -s /bin/sh -c 'sudo -n true' && echo ok`); err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("sudo broken: %v %s", err, out)
	}
}
