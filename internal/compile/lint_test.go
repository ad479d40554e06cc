package compile_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/goprov/goprov/dsl"
	"github.com/goprov/goprov/internal/compile"
	"github.com/goprov/goprov/resources"
	_ "github.com/goprov/goprov/resources/all"
)

func lintOf(t *testing.T, src string) hcl.Diagnostics {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := dsl.Load(dir, dsl.Options{Kinds: resources.Registry{}})
	if diags.HasErrors() {
		t.Fatalf("load: %s", diags.Error())
	}
	// Lint is for valid configurations: the kinds must accept these.
	if _, diags := compile.Compile(cfg, ""); diags.HasErrors() {
		t.Fatalf("compile: %s", diags.Error())
	}
	return compile.Lint(cfg)
}

// line of the first occurrence of marker in src (1-based).
func lineOf(src, marker string) int {
	i := strings.Index(src, marker)
	if i < 0 {
		return -1
	}
	return strings.Count(src[:i], "\n") + 1
}

const hosts = `
host "a" {
  connection = "local"
  groups     = ["egress"]
}
host "b" {
  connection = "local"
}
`

// lintCase is one configuration and the warnings lint must give for it.
type lintCase struct {
	name string
	src  string
	// want: summary => marker on the line the warning must point at;
	// empty means no warning at all.
	want   map[string]string
	detail string // substring of the (first) warning's detail
}

// TestLint runs one table per topic (each kind's lint, and the
// toolchain-behind-firewall check that spans kinds).
func TestLint(t *testing.T) {
	for _, topic := range []struct {
		name  string
		cases []lintCase
	}{
		{"sudoers", sudoersLint}, {"goenv", goenvLint}, {"fetch", fetchLint}, {"sysctl", sysctlLint}, {"sshd_config", sshdLint},
	} {
		t.Run(topic.name, func(t *testing.T) { runLint(t, topic.cases) })
	}
}

// sudoersLint: NOPASSWD and wildcards, in rules and in raw content.
var sudoersLint = []lintCase{
	{
		name: "sudoers rule NOPASSWD ALL",
		src: `resource "sudoers_dropin" "x" {
  name = "x"
  rule {
    users    = ["%ops"]
    nopasswd = true
    commands = ["ALL"] # HERE
  }
}`,
		want:   map[string]string{"NOPASSWD: ALL": "# HERE"},
		detail: "%ops run anything as root",
	},
	{
		name: "ALL with a password is not linted",
		src: `resource "sudoers_dropin" "x" {
  name = "x"
  rule {
    users    = ["%admins"]
    commands = ["ALL"]
  }
}`,
	},
	{
		name: "second rule's wildcard points at the second rule",
		src: `resource "sudoers_dropin" "x" {
  name = "x"
  rule {
    users    = ["%ops"]
    runas    = "www-data"
    nopasswd = true
    commands = ["/usr/bin/systemctl restart nginx"]
  }
  rule {
    users    = ["%ops"]
    commands = ["/usr/bin/journalctl -u *"] # HERE
  }
}`,
		want:   map[string]string{"Wildcard in a sudo command": "# HERE"},
		detail: `"/usr/bin/journalctl -u *"`,
	},
	{
		name: "content NOPASSWD ALL after other tags and commands",
		src: `resource "sudoers_dropin" "x" {
  name    = "x"
  content = "# NOPASSWD: ALL in a comment is fine\n#includedir /etc/x\n%ops ALL=(ALL:ALL) SETENV: NOPASSWD: /usr/bin/id, ALL\n#1000 ALL = NOPASSWD:ALL\n" # HERE
}`,
		want:   map[string]string{"NOPASSWD: ALL": "# HERE"},
		detail: `"%ops ALL=(ALL:ALL) SETENV: NOPASSWD: /usr/bin/id, ALL", "#1000 ALL = NOPASSWD:ALL"`,
	},
	{
		name: "content PASSWD resets the tag",
		src: `resource "sudoers_dropin" "x" {
  name    = "x"
  content = "%ops ALL = NOPASSWD: /usr/bin/id, PASSWD: ALL\nDefaults env_reset\n"
}`,
	},
	{
		name: "content wildcard",
		src: `resource "sudoers_dropin" "x" {
  name    = "x"
  content = "Cmnd_Alias LOGS = /usr/bin/tail /var/log/*\n%ops ALL = (root) LOGS\n" # HERE
}`,
		want: map[string]string{"Wildcard in a sudo command": "# HERE"},
	},
	{
		name: "absent drop-in is not linted",
		src: `resource "sudoers_dropin" "x" {
  name    = "x"
  content = "%ops ALL = NOPASSWD: ALL\n"
  ensure  = "absent"
}`,
	},
}

// goenvLint: Go environment settings that turn off checksum or TLS checks.
var goenvLint = []lintCase{
	{
		name: "GOSUMDB off in go.env",
		src: `resource "go_toolchain" "go" {
  version = "1.22.5"
  env     = { GOSUMDB = "off" } # HERE
}`,
		want:   map[string]string{"Module verification turned off": "# HERE"},
		detail: "GOSUMDB=off",
	},
	{
		name: "GONOSUMDB star and GOFLAGS insecure in a profile script",
		src: `resource "profile_script" "go" {
  name = "go"
  env = { # HERE
    GONOSUMDB = "*"
    GOFLAGS   = "-mod=readonly -insecure"
  }
}`,
		want: map[string]string{"Module verification turned off": "# HERE"},
	},
	{
		name: "GOPRIVATE=* and GOINSECURE=* in go.env, one warning naming both",
		src: `resource "go_toolchain" "go" {
  version = "1.22.5"
  env     = { GOPRIVATE = "*", GOINSECURE = "*/*" } # HERE
}`,
		want:   map[string]string{"Module verification turned off": "# HERE"},
		detail: "GOINSECURE=*/* lets every module be fetched over plain HTTP or unverified TLS; GOPRIVATE=* exempts every module from the checksum database",
	},
	{
		name: "narrow GOPRIVATE and a normal GOFLAGS are fine",
		src: `resource "go_toolchain" "go" {
  version = "1.22.5"
  env     = { GOPRIVATE = "git.example.internal/*", GOFLAGS = "-mod=readonly", GOSUMDB = "sum.golang.org" }
}`,
	},
}

// egress is the two hosts behind a firewall whose outgoing policy is out,
// with the SSH rule and then rules; the cases differ in what follows.
func egress(out, rules string) string {
	return hosts + `
resource "firewall" "fw" {
  default_outgoing = "` + out + `"
}
resource "firewall_rule" "ssh" {
  port = 22
}
` + rules
}

// hostFetch is a go_toolchain the hosts download themselves; marker ends
// its fetch line.
func hostFetch(marker string) string {
	return `resource "go_toolchain" "go" {
  version = "1.22.5"
  source  = "dl"
  sha256  = "904b924d435eaea086515bc63235b192ea441bd8c9b198c507e85009e6e4c7f0"
  fetch   = "host"` + marker + `
}`
}

// fetchLint: a toolchain fetched on hosts whose firewall blocks HTTPS out.
var fetchLint = []lintCase{
	{
		name:   "fetch=host behind default-deny outgoing without HTTPS",
		src:    egress("deny", hostFetch(" # HERE")),
		want:   map[string]string{"Toolchain download blocked by the firewall": "# HERE"},
		detail: "on: a, b",
	},
	{
		name: "HTTPS out allowed on one host only",
		src: egress("reject", `resource "firewall_rule" "https" {
  targets   = [group.egress]
  port      = "400-500"
  direction = "out"
}
`+hostFetch(" # HERE")),
		want:   map[string]string{"Toolchain download blocked by the firewall": "# HERE"},
		detail: "on: b.",
	},
	{
		name: "HTTPS out by service name, fetch on host is fine",
		src: egress("deny", `resource "firewall_rule" "https" {
  service   = "https"
  direction = "out"
}
`+hostFetch("")),
	},
	{
		name: "a denied or absent HTTPS rule does not count; controller fetch is fine",
		src: egress("deny", `resource "firewall_rule" "https" {
  port      = 443
  direction = "out"
  ensure    = "absent"
}
resource "go_toolchain" "ctl" {
  version = "1.22.5"
}
resource "go_toolchain" "onhost" {
  version      = "1.22.4"
  install_root = "/opt"
  link         = "/opt/go"
  source       = "dl"
  sha256       = "904b924d435eaea086515bc63235b192ea441bd8c9b198c507e85009e6e4c7f0"
  fetch        = "host" # HERE
}`),
		want: map[string]string{"Toolchain download blocked by the firewall": "# HERE"},
	},
}

// sysctlLint: one-way switches and weakening values.
var sysctlLint = []lintCase{
	{
		name: "sysctl one-way switch",
		src: `resource "sysctl" "x" {
  name   = "60-x"
  values = { "kernel/yama/ptrace_scope" = 3, "kernel.modules_disabled" = 1 } # HERE
}`,
		want:   map[string]string{"One-way kernel setting": "# HERE"},
		detail: `kernel.modules_disabled = 1, kernel.yama.ptrace_scope = 3`,
	},
	{
		name: "sysctl ptrace_scope 0",
		src: `resource "sysctl" "x" {
  name   = "60-x"
  values = { "kernel.yama.ptrace_scope" = "0" } # HERE
}`,
		want:   map[string]string{"Any process may debug its user's others": "# HERE"},
		detail: "kernel.yama.ptrace_scope = 0",
	},
	{
		name: "sysctl hardening values are not linted",
		src: `resource "sysctl" "x" {
  name   = "60-x"
  values = { "kernel.yama.ptrace_scope" = 2, "kernel.unprivileged_bpf_disabled" = 2, "kernel.kexec_load_disabled" = 0 }
}`,
	},
	{
		name: "absent sysctl is not linted",
		src: `resource "sysctl" "x" {
  name   = "60-x"
  values = { "kernel.yama.ptrace_scope" = 3 }
  ensure = "absent"
}`,
	},
}

// sshdLint: settings that weaken sshd.
var sshdLint = []lintCase{
	{
		name: "sshd_config weakening settings",
		src: `resource "sshd_config" "x" {
  name     = "50-x"
  settings = { permitrootlogin = "yes", PermitEmptyPasswords = "Yes", PasswordAuthentication = "yes" } # HERE
}`,
		want:   map[string]string{"sshd setting weakens logins": "# HERE"},
		detail: "PasswordAuthentication yes, PermitEmptyPasswords yes, PermitRootLogin yes",
	},
	{
		name: "sshd_config hardening is not linted",
		src: `resource "sshd_config" "x" {
  name     = "50-x"
  settings = { PermitRootLogin = "prohibit-password", PasswordAuthentication = "no", MaxAuthTries = 3 }
}`,
	},
}

// runLint lints each case's configuration: only warnings, each once, each
// at the line of its marker in main.hcl.
func runLint(t *testing.T, tests []lintCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diags := lintOf(t, tc.src)
			got := map[string]string{}
			for _, d := range diags {
				if d.Severity != hcl.DiagWarning {
					t.Errorf("lint must only warn, got %s: %s", sev(d), d.Summary)
				}
				if d.Subject == nil {
					t.Fatalf("%s: no source range", d.Summary)
				}
				if !strings.HasSuffix(d.Subject.Filename, "main.hcl") {
					t.Errorf("%s: subject in %s", d.Summary, d.Subject.Filename)
				}
				if _, dup := got[d.Summary]; dup {
					t.Errorf("%s reported twice", d.Summary)
				}
				got[d.Summary] = fmt.Sprint(d.Subject.Start.Line)
			}
			want := map[string]string{}
			for s, marker := range tc.want {
				want[s] = fmt.Sprint(lineOf(tc.src, marker))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("warnings (summary: line) = %v, want %v\n%v", got, want, diags)
			}
			if tc.detail != "" && !strings.Contains(diags[0].Detail, tc.detail) {
				t.Errorf("detail %q lacks %q", diags[0].Detail, tc.detail)
			}
		})
	}
}

func sev(d *hcl.Diagnostic) string {
	if d.Severity == hcl.DiagError {
		return "error"
	}
	return "warning"
}

// The shipped modules are what the lint recommends: they must lint clean.
func TestLintShippedModulesClean(t *testing.T) {
	diags := lintOf(t, `
module "go" {
  source     = "`+abs(t, "../../modules/go-workstation")+`"
  go_version = "1.22.5"
  goprivate  = "git.example.internal/*"
}
module "sudo" {
  source       = "`+abs(t, "../../modules/sudo-audit-baseline")+`"
  users        = ["%ops"]
  service_user = "www-data"
  commands     = ["/usr/bin/systemctl restart nginx"]
}
module "fw" {
  source = "`+abs(t, "../../modules/firewall-baseline")+`"
}
module "kernel" {
  source = "`+abs(t, "../../modules/kernel-hardening-baseline")+`"
}
`)
	for _, d := range diags {
		t.Errorf("%s: %s: %s", d.Subject, d.Summary, d.Detail)
	}
}

func abs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
