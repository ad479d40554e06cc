package compile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/dsl"
	"github.com/goprov/goprov/internal/compile"
	"github.com/goprov/goprov/resources"
)

// A warning about a resource inside a module points at the module file's
// attribute and names where the caller's module block is, so the operator
// finds the call that brought it in.
func TestLintInModulePointsAtCaller(t *testing.T) {
	dir := t.TempDir()
	mod := filepath.Join(dir, "modules", "ops")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	main := `
module "ops" {
  source = "./modules/ops"
}
`
	inner := `resource "sudoers_dropin" "x" {
  name = "x"
  rule {
    users    = ["%ops"]
    nopasswd = true
    commands = ["ALL"]
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "main.hcl"), []byte(inner), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := dsl.Load(dir, dsl.Options{Kinds: resources.Registry{}})
	if diags.HasErrors() {
		t.Fatalf("load: %s", diags.Error())
	}
	warns := compile.Lint(cfg)
	if len(warns) != 1 {
		t.Fatalf("want one warning, got %d: %v", len(warns), warns)
	}
	w := warns[0]
	if w.Subject == nil || !strings.HasSuffix(w.Subject.Filename, filepath.Join("modules", "ops", "main.hcl")) || w.Subject.Start.Line != 6 {
		t.Errorf("subject %v, want the module file's commands (line 6)", w.Subject)
	}
	if !strings.Contains(w.Detail, "module.ops") || !strings.Contains(w.Detail, "main.hcl:2") {
		t.Errorf("detail %q does not name the caller's module block (main.hcl:2)", w.Detail)
	}
}
