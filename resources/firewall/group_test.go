package firewall

import (
	"testing"

	"github.com/goprov/goprov/resources"
)

// A probe is a deterministic read: the same resource on the same host
// yields the same snippet, however many times and in whatever order the
// firewall resources of that host are asked.
func TestProbeDeterministic(t *testing.T) {
	a, diags := build(t, KindRule, `port = "22"`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b, diags := build(t, KindRule, `port = "443"`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	fw, diags := build(t, KindFirewall, `default_incoming = "deny"`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := func(r resources.Resource) string { return r.Probe(&resources.Host{Name: "fresh", Root: "/"}) }
	h := &resources.Host{Name: "h", Root: "/"}
	for i, r := range []resources.Resource{a, b, fw, a, b, fw} {
		if got, w := r.Probe(h), want(r); got != w {
			t.Errorf("probe %d on the same host differs from a fresh host's:\n%.80q\nwant\n%.80q", i, got, w)
		}
	}
}
