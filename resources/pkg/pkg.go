// Package pkg is the `package` resource kind: system packages installed or
// removed through the host's package manager.
//
// The backend is a host fact read in the plan's one batched read: apt
// (Debian and its derivatives) today. The HCL names no backend, so dnf
// can be added later behind the same attributes. A plan reads the
// installed state with dpkg-query and never touches apt's index (a plan
// writes nothing); apply refreshes the index only when it is missing or
// older than cache_max_age, runs apt non-interactively, waits for the
// dpkg lock, and verifies the result by reading the state again.
package pkg

import (
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// KindName is the resource kind's name in HCL.
const KindName = "package"

func init() { resources.Register(KindName, kind{}) }

var (
	// Debian policy §5.6.1: lower case letters, digits, + - . ; at least
	// two characters, starting with a letter or digit. No ":arch".
	nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	// Debian policy §5.6.12: [epoch:]upstream[-revision].
	versionRe = regexp.MustCompile(`^([0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$`)
)

type kind struct{}

func (kind) Spec() hcldec.Spec {
	def := func(name string, ty cty.Type, v cty.Value) hcldec.Spec {
		return &hcldec.DefaultSpec{Primary: &hcldec.AttrSpec{Name: name, Type: ty}, Default: &hcldec.LiteralSpec{Value: v}}
	}
	return &hcldec.ObjectSpec{
		"names":              &hcldec.AttrSpec{Name: "names", Type: cty.List(cty.String), Required: true},
		"ensure":             def("ensure", cty.String, cty.StringVal("present")),
		"version":            def("version", cty.String, cty.StringVal("")),
		"install_recommends": def("install_recommends", cty.Bool, cty.False),
		"cache_max_age":      def("cache_max_age", cty.String, cty.StringVal("24h")),
		"lock_timeout":       def("lock_timeout", cty.String, cty.StringVal("5m")),
	}
}

// Packages is a decoded package resource.
type Packages struct {
	Address    string
	Names      []string // in the order written
	Present    bool
	Version    string // "" unless pinned (one name only)
	Recommends bool
	MaxAge     time.Duration // index older than this is refreshed before installing
	LockWait   time.Duration // how long apt waits for another apt/dpkg
}

func (kind) New(address string, v cty.Value, body hcl.Body) (resources.Resource, hcl.Diagnostics) {
	p := &Packages{Address: address, Version: v.GetAttr("version").AsString(), Recommends: v.GetAttr("install_recommends").True()}
	var diags hcl.Diagnostics
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: resources.AttrRange(body, attr)})
	}
	present, dg := resources.Ensure(v, body)
	p.Present = present
	if dg != nil {
		diags = append(diags, dg)
	}
	seen := map[string]bool{}
	for _, nv := range v.GetAttr("names").AsValueSlice() {
		n := nv.AsString()
		switch {
		case !nameRe.MatchString(n):
			bad("names", "Invalid package name", fmt.Sprintf("%q is not a Debian package name: lower-case letters, digits, '+', '-' and '.', starting with a letter or digit (no architecture qualifier).", n))
		case seen[n]:
			bad("names", "Duplicate package name", fmt.Sprintf("%q is listed twice.", n))
		default:
			seen[n] = true
			p.Names = append(p.Names, n)
		}
	}
	if len(v.GetAttr("names").AsValueSlice()) == 0 {
		bad("names", "No packages", "names needs at least one package name.")
	}
	if p.Version != "" {
		switch {
		case !versionRe.MatchString(p.Version):
			bad("version", "Invalid version", fmt.Sprintf("%q is not a Debian version ([epoch:]upstream[-revision]).", p.Version))
		case len(v.GetAttr("names").AsValueSlice()) != 1:
			bad("version", "Version needs one name", "version pins one name only: write one package resource per pinned package.")
		case !p.Present:
			bad("version", "Version with ensure = \"absent\"", "a removed package has no version: drop version, or ensure it present.")
		}
	}
	var err error
	if p.MaxAge, err = duration(v, "cache_max_age"); err != nil {
		bad("cache_max_age", "Invalid cache_max_age", err.Error())
	}
	if p.LockWait, err = duration(v, "lock_timeout"); err != nil {
		bad("lock_timeout", "Invalid lock_timeout", err.Error())
	}
	return p, diags
}

func duration(v cty.Value, attr string) (time.Duration, error) {
	s := v.GetAttr(attr).AsString()
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%s = %q: a duration such as \"24h\" or \"90s\"", attr, s)
	case d < 0:
		return 0, fmt.Errorf("%s = %q: must not be negative", attr, s)
	}
	return d, nil
}

// Owns implements resources.Owner: each package. Two resources with one
// package (present here, absent there; two pins) would undo each other.
func (p *Packages) Owns() []resources.Claim {
	var out []resources.Claim
	for _, n := range p.Names {
		out = append(out, resources.Claim{What: "the package " + n, Attr: "names"})
	}
	return out
}

// ProvidesPackages implements resources.PackageProvider: a present
// resource's names, which the planner matches against the packages a
// missing tool comes from.
func (p *Packages) ProvidesPackages() []string {
	if !p.Present {
		return nil
	}
	return append([]string(nil), p.Names...)
}
