// Package minimalkind_test proves that adding a resource kind is one folder
// plus one registration line: the kind below lives in this file only,
// registers itself, and is planned and applied through the real DSL,
// planner and local transport (an image root in a temporary directory)
// without any change to planner or CLI code. docs/writing-a-kind.md walks
// through a full kind; this is the smallest one that honours the contract.
package minimalkind_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/internal/ci"
	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/resources"
)

// The one registration line (a real kind has it in init of its package,
// and its import in resources/all).
func init() { resources.Register("test_note", noteKind{}) }

var noteNameRe = regexp.MustCompile(`^[a-z0-9_-]+$`)

// noteKind manages /etc/goprov-notes/NAME, a file holding text.
type noteKind struct{}

func (noteKind) Spec() hcldec.Spec {
	return &hcldec.ObjectSpec{
		"name": &hcldec.AttrSpec{Name: "name", Type: cty.String, Required: true},
		"text": &hcldec.AttrSpec{Name: "text", Type: cty.String, Required: true},
	}
}

// New validates without a host, pointing diagnostics at the attribute.
func (noteKind) New(address string, v cty.Value, body hcl.Body) (resources.Resource, hcl.Diagnostics) {
	n := &note{name: v.GetAttr("name").AsString(), text: v.GetAttr("text").AsString()}
	if !noteNameRe.MatchString(n.name) {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid test_note name",
			Detail: fmt.Sprintf("%q: use a-z, 0-9, '-' and '_'.", n.name), Subject: resources.AttrRange(body, "name")}}
	}
	return n, nil
}

type note struct{ name, text string }

func (n *note) path() string { return "/etc/goprov-notes/" + n.name }

func (n *note) want() *resources.DesiredFile {
	return &resources.DesiredFile{Path: n.path(), Content: []byte(n.text + "\n"), Mode: 0o644}
}

// Probe: read-only and deterministic; the shared file probe quotes the path.
func (n *note) Probe(h *resources.Host) string { return resources.FileProbe(h.Path(n.path())) }

// Diff is pure: probe output in, Change out.
func (n *note) Diff(_ *resources.Host, probe []byte) (resources.Change, error) {
	cur, err := resources.ParseFileState(probe)
	if err != nil {
		return resources.Change{}, fmt.Errorf("%s: %w", n.path(), err)
	}
	return resources.FileChange(cur, n.want(), n.path()), nil
}

// Apply goes through the one safe write path (temp file, checks, rename).
func (n *note) Apply(ctx context.Context, h *resources.Host, _ resources.Change) error {
	return resources.WriteFile(ctx, h, *n.want(), resources.WriteOptions{MkdirMode: 0o755})
}

// Owns: two test_note blocks for one file on one host are refused.
func (n *note) Owns() []resources.Claim { return []resources.Claim{{What: n.path(), Attr: "name"}} }

// TestMinimalKindPlansAndApplies: the kind above, known only through its
// registration, is validated, planned, applied and converges.
func TestMinimalKindPlansAndApplies(t *testing.T) {
	ci.RequireRoot(t, "an image root's scripts run in goprov's namespace sandbox")
	root := t.TempDir()
	cfg := labtest.Write(t, `
host "img" {
  connection = "local"
  root       = "`+root+`"
}

resource "test_note" "hello" {
  name = "hello"
  text = "written by a kind the planner has never heard of"
}
`)
	p := labtest.Plan(t, cfg, labtest.Options{})
	labtest.RequireOK(t, p)
	if c := labtest.Change(p, "img", "test_note.hello"); c == nil || c.Action != resources.Create {
		t.Fatalf("first plan: %+v, want a create of test_note.hello", c)
	}
	labtest.RequireOK(t, labtest.Apply(t, cfg, labtest.Options{}))
	got, err := os.ReadFile(filepath.Join(root, "etc/goprov-notes/hello"))
	if err != nil || string(got) != "written by a kind the planner has never heard of\n" {
		t.Fatalf("file in the image: %q %v", got, err)
	}
	labtest.RequireEmpty(t, labtest.Plan(t, cfg, labtest.Options{}))
}
