package dsl

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDependsOnFromReferences: a resource depends on what its depends_on
// names AND on every resource its arguments refer to (directly, or
// through a module's outputs), at instance addresses (a counted resource
// is its instances), without duplicates.
func TestDependsOnFromReferences(t *testing.T) {
	dir := t.TempDir()
	mod := filepath.Join(dir, "m")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		filepath.Join(mod, "main.hcl"): `
variable "in" {
}
resource "test" "inner" {
  name = var.in
}
output "out" {
  value = test.inner.name
}`,
		filepath.Join(dir, "main.hcl"): `
resource "test" "pkg" {
  name = "p"
  list = ["a", "b"]
}
resource "test" "counted" {
  count = 2
  name  = "c${count.index}"
}
resource "test" "byref" {
  name = "r"
  list = test.pkg.list
}
resource "test" "explicit" {
  name       = "e"
  value      = test.pkg.name
  depends_on = [test.pkg]
}
resource "test" "one" {
  name  = "o"
  value = test.counted[1].name
}
resource "test" "every" {
  name = "v"
  list = test.counted[*].name
}
resource "test" "dcount" {
  name       = "d"
  depends_on = [test.counted]
}
resource "test" "interp" {
  name = "i-${test.pkg.name}"
}
module "m" {
  source = "./m"
  in     = test.pkg.name
}
resource "test" "usesmod" {
  name = module.m.out
}
resource "test" "none" {
  name = "n"
}`,
	}
	for p, src := range files {
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, diags := Load(dir, Options{Kinds: testKinds{}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	got := map[string][]string{}
	for _, r := range cfg.Resources {
		got[r.Address] = r.DependsOn
	}
	want := map[string][]string{
		"test.pkg":            nil,
		"test.counted[0]":     nil,
		"test.counted[1]":     nil,
		"test.byref":          {"test.pkg"},
		"test.explicit":       {"test.pkg"},
		"test.one":            {"test.counted[1]"},
		"test.every":          {"test.counted[0]", "test.counted[1]"},
		"test.dcount":         {"test.counted[0]", "test.counted[1]"},
		"test.interp":         {"test.pkg"},
		"module.m.test.inner": {"test.pkg"},
		"test.usesmod":        {"module.m.test.inner"},
		"test.none":           nil,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("DependsOn (-want +got):\n%s", d)
	}
}
