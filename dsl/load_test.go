package dsl

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// testKinds is a one-kind schema so the DSL is tested without real kinds.
type testKinds struct{}

func (testKinds) Spec(kind string) (hcldec.Spec, bool) {
	if kind != "test" {
		return nil, false
	}
	return &hcldec.ObjectSpec{
		"name":  &hcldec.AttrSpec{Name: "name", Type: cty.String, Required: true},
		"value": &hcldec.AttrSpec{Name: "value", Type: cty.String},
		"list":  &hcldec.AttrSpec{Name: "list", Type: cty.List(cty.String)},
	}, true
}
func (testKinds) Kinds() []string { return []string{"test"} }

var wantRe = regexp.MustCompile(`^# want: (?:(\S+):)?(\d+):(\d+) (.*)$`)

// Each fixture under testdata/errors states on its first line the
// diagnostic it must produce: "# want: [FILE:]LINE:COL Summary[: detail part]".
func TestErrorFixtures(t *testing.T) {
	dirs, err := filepath.Glob("testdata/errors/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, "main.hcl"))
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(src), "\n")
			m := wantRe.FindStringSubmatch(first)
			if m == nil {
				t.Fatalf("fixture lacks a '# want: LINE:COL Summary' first line")
			}
			file := "main.hcl"
			if m[1] != "" {
				file = m[1]
			}
			line, _ := strconv.Atoi(m[2])
			col, _ := strconv.Atoi(m[3])
			summary, detail, _ := strings.Cut(m[4], ": ")
			_, diags := Load(dir, Options{Kinds: testKinds{}})
			if !diags.HasErrors() {
				t.Fatalf("no error; want %q", m[4])
			}
			for _, d := range diags {
				if d.Summary != summary || d.Subject == nil {
					continue
				}
				if !strings.HasSuffix(d.Subject.Filename, filepath.Join(dir, file)) {
					continue
				}
				if d.Subject.Start.Line == line && d.Subject.Start.Column == col && strings.Contains(d.Detail, detail) {
					return
				}
			}
			var got []string
			for _, d := range diags {
				got = append(got, d.Error()+" | "+d.Detail)
			}
			t.Fatalf("want %s:%d:%d %q, got:\n%s", file, line, col, m[4], strings.Join(got, "\n"))
		})
	}
}

func load(t *testing.T, src string, opts Options) (*Config, hcl.Diagnostics) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if opts.Kinds == nil {
		opts.Kinds = testKinds{}
	}
	return Load(dir, opts)
}

func values(cfg *Config) map[string]string {
	out := map[string]string{}
	for _, r := range cfg.Resources {
		v := r.Value.GetAttr("value")
		if v.IsNull() {
			out[r.Address] = "<null>"
		} else {
			out[r.Address] = v.AsString()
		}
	}
	return out
}

func TestEvaluation(t *testing.T) {
	cases := []struct {
		name string
		src  string
		opts Options
		want map[string]string
	}{
		{
			name: "variables, locals and functions",
			src: `
variable "gopath" {
  default = "/opt/go"
}
locals {
  bin  = "${var.gopath}/bin"
  both = join(":", [local.bin, upper("x")])
}
resource "test" "a" {
  name  = "a"
  value = "${local.both}|${sha256("abc")}"
}`,
			want: map[string]string{"test.a": "/opt/go/bin:X|ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		},
		{
			name: "-var wins over default",
			src: `
variable "gopath" {
  default = "/opt/go"
}
resource "test" "a" {
  name  = "a"
  value = var.gopath
}`,
			opts: Options{Vars: map[string]string{"gopath": "/srv/go"}},
			want: map[string]string{"test.a": "/srv/go"},
		},
		{
			name: "typed -var is parsed as HCL",
			src: `
variable "n" {
  type = number
}
resource "test" "a" {
  name  = "a"
  value = tostring(var.n + 1)
}`,
			opts: Options{Vars: map[string]string{"n": "41"}},
			want: map[string]string{"test.a": "42"},
		},
		{
			name: "resource references order evaluation",
			src: `
resource "test" "b" {
  name  = "b"
  value = "${test.a.value}-b"
}
resource "test" "a" {
  name  = "a"
  value = "a"
}`,
			want: map[string]string{"test.a": "a", "test.b": "a-b"},
		},
		{
			name: "count and for_each",
			src: `
resource "test" "c" {
  count = 2
  name  = "c${count.index}"
  value = "i${count.index}"
}
resource "test" "e" {
  for_each = { x = "1", y = "2" }
  name     = each.key
  value    = each.value
}`,
			want: map[string]string{`test.c[0]`: "i0", `test.c[1]`: "i1", `test.e["x"]`: "1", `test.e["y"]`: "2"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, diags := load(t, tc.src, tc.opts)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			if d := cmp.Diff(tc.want, values(cfg)); d != "" {
				t.Fatalf("values (-want +got):\n%s", d)
			}
		})
	}
}

func TestImplicitLocalHost(t *testing.T) {
	cfg, diags := load(t, `resource "test" "a" {
  name = "a"
}`, Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(cfg.Hosts) != 1 || cfg.Hosts[0].Name != "local" || cfg.Hosts[0].Connection != ConnLocal || cfg.Hosts[0].Root != "/" {
		t.Fatalf("want one implicit local host at /, got %+v", cfg.Hosts)
	}
}

func TestTargets(t *testing.T) {
	cfg, diags := load(t, `
host "a" {
  connection = "local"
  groups     = ["web"]
}
host "b" {
  connection = "local"
  groups     = ["web", "db"]
}
host "c" {
  connection = "local"
}
resource "test" "web" {
  targets = [group.web]
  name    = "w"
}
resource "test" "one" {
  targets = [host.c, group.db]
  name    = "o"
}
resource "test" "all" {
  name = "all"
}`, Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	got := map[string][]string{}
	for _, r := range cfg.Resources {
		got[r.Address] = r.Targets
	}
	want := map[string][]string{"test.web": {"a", "b"}, "test.one": {"b", "c"}, "test.all": nil}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("targets (-want +got):\n%s", d)
	}
}

func TestModules(t *testing.T) {
	dir := t.TempDir()
	mod := filepath.Join(dir, "modules", "m")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(mod, "main.hcl"), []byte(`
variable "suffix" {
}
resource "test" "x" {
  name  = "x"
  value = "from-${var.suffix}"
}
output "v" {
  value = test.x.value
}`), 0o644)
	os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(`
host "h" {
  connection = "local"
  groups     = ["g"]
}
host "other" {
  connection = "local"
}
module "dev" {
  source  = "./modules/m"
  targets = [group.g]
  suffix  = "dev"
}
resource "test" "uses" {
  name  = "u"
  value = module.dev.v
}`), 0o644)
	cfg, diags := Load(dir, Options{Kinds: testKinds{}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	got := values(cfg)
	want := map[string]string{"module.dev.test.x": "from-dev", "test.uses": "from-dev"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	for _, r := range cfg.Resources {
		if r.Address == "module.dev.test.x" && !cmp.Equal(r.Targets, []string{"h"}) {
			t.Errorf("module targets not inherited: %v", r.Targets)
		}
	}
}

func TestTargetsPerInstance(t *testing.T) {
	cfg, diags := load(t, `
host "a" {
  connection = "local"
}
host "b" {
  connection = "local"
}
resource "test" "per_host" {
  for_each = toset(["a", "b"])
  targets  = [host[each.key]]
  name     = each.key
}`, Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	got := map[string][]string{}
	for _, r := range cfg.Resources {
		got[r.Address] = r.Targets
	}
	want := map[string][]string{`test.per_host["a"]`: {"a"}, `test.per_host["b"]`: {"b"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}
