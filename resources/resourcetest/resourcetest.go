// Package resourcetest holds what every resource kind's unit tests need:
// decode a resource body from HCL text through the kind's own schema and
// validation, and check validation tables.
package resourcetest

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/goprov/goprov/resources"
)

// Decode parses src as the body of a resource of kind k and builds it, as
// the DSL and planner do. Parse errors fail t; schema and validation
// problems come back as diagnostics.
func Decode(t testing.TB, k resources.Kind, address, src string) (resources.Resource, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	v, diags := hcldec.Decode(f.Body, k.Spec(), nil)
	if diags.HasErrors() {
		return nil, diags
	}
	return k.New(address, v, f.Body)
}

// Case is one row of a validation table: Want is "" for a valid body, else
// the summary of a diagnostic it must produce.
// (An alias of an unnamed struct, so tables may use positional literals.)
type Case = struct {
	Src, Want string
}

// Validation checks every case, and that every diagnostic points at a
// source position (users get file:line:col, never a bare message).
func Validation(t *testing.T, k resources.Kind, address string, cases []Case) {
	t.Helper()
	for _, tc := range cases {
		_, diags := Decode(t, k, address, tc.Src)
		switch {
		case tc.Want == "" && diags.HasErrors():
			t.Errorf("%q: unexpected error %v", tc.Src, diags)
		case tc.Want != "" && !HasSummary(diags, tc.Want):
			t.Errorf("%q: want %q, got %v", tc.Src, tc.Want, diags)
		}
		for _, d := range diags {
			if d.Subject == nil || d.Subject.Start.Line == 0 {
				t.Errorf("%q: diagnostic without a position: %v", tc.Src, d)
			}
		}
	}
}

// HasSummary reports whether diags holds one with summary s.
func HasSummary(diags hcl.Diagnostics, s string) bool {
	for _, d := range diags {
		if d.Summary == s {
			return true
		}
	}
	return false
}
