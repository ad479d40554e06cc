package dsl

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: no input, however broken, makes the loader panic; an invalid
// config always comes back as diagnostics.
func FuzzLoad(f *testing.F) {
	fixtures, _ := filepath.Glob("testdata/errors/*/main.hcl")
	for _, p := range fixtures {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b))
		}
	}
	f.Add(`variable "a" {
  default = "x"
}
locals {
  b = "${var.a}-${sha256("x")}"
}
resource "test" "r" {
  for_each = toset(["a", "b"])
  name     = each.key
  value    = local.b
}`)
	f.Fuzz(func(t *testing.T, src string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, diags := Load(dir, Options{Kinds: testKinds{}})
		if !diags.HasErrors() && cfg == nil {
			t.Fatal("no config and no error")
		}
		for _, d := range diags {
			if d.Summary == "" {
				t.Fatalf("diagnostic without a summary: %#v", d)
			}
		}
	})
}
