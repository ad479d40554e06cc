package pkg_test

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
	_ "github.com/goprov/goprov/resources/pkg"
)

func build(t *testing.T, attrs map[string]cty.Value) (resources.Resource, string) {
	t.Helper()
	v := map[string]cty.Value{
		"names":              cty.ListValEmpty(cty.String),
		"ensure":             cty.StringVal("present"),
		"version":            cty.StringVal(""),
		"install_recommends": cty.False,
		"cache_max_age":      cty.StringVal("24h"),
		"lock_timeout":       cty.StringVal("5m"),
	}
	for k, a := range attrs {
		v[k] = a
	}
	r, diags := resources.Build("package", "package.x", cty.ObjectVal(v), nil)
	if diags.HasErrors() {
		return nil, diags.Error()
	}
	return r, ""
}

func names(ns ...string) cty.Value {
	var vs []cty.Value
	for _, n := range ns {
		vs = append(vs, cty.StringVal(n))
	}
	return cty.ListVal(vs)
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs map[string]cty.Value
		want  string
	}{
		{"no names", nil, "at least one package"},
		{"option as name", map[string]cty.Value{"names": names("-oAPT::x=1")}, "not a Debian package name"},
		{"shell in name", map[string]cty.Value{"names": names("a;touch /tmp/pwned")}, "not a Debian package name"},
		{"arch qualifier", map[string]cty.Value{"names": names("libc6:i386")}, "not a Debian package name"},
		{"duplicate", map[string]cty.Value{"names": names("zsh", "zsh")}, "twice"},
		{"version for two", map[string]cty.Value{"names": names("a1", "b1"), "version": cty.StringVal("1.0")}, "one name only"},
		{"bad version", map[string]cty.Value{"names": names("a1"), "version": cty.StringVal("1.0 && x")}, "not a Debian version"},
		{"version and absent", map[string]cty.Value{"names": names("a1"), "version": cty.StringVal("1.0"), "ensure": cty.StringVal("absent")}, "version"},
		{"bad ensure", map[string]cty.Value{"names": names("a1"), "ensure": cty.StringVal("latest")}, "ensure"},
		{"bad age", map[string]cty.Value{"names": names("a1"), "cache_max_age": cty.StringVal("a day")}, "cache_max_age"},
		{"negative lock", map[string]cty.Value{"names": names("a1"), "lock_timeout": cty.StringVal("-1s")}, "lock_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build(t, tc.attrs)
			if !strings.Contains(err, tc.want) {
				t.Fatalf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	const installedA = "backend apt\ngoprov-a\t2.0\tinstall ok installed\n"
	for _, tc := range []struct {
		name    string
		attrs   map[string]cty.Value
		probe   string
		action  resources.Action
		summary string
		note    string
	}{
		{"install", map[string]cty.Value{"names": names("goprov-a", "goprov-b")}, "backend apt\n", resources.Create, "install goprov-a, goprov-b", ""},
		{"partly installed", map[string]cty.Value{"names": names("goprov-a", "goprov-b")}, installedA, resources.Update, "install goprov-b", ""},
		{"in sync", map[string]cty.Value{"names": names("goprov-a")}, installedA, resources.NoOp, "", ""},
		{"config-files only is not installed", map[string]cty.Value{"names": names("goprov-a")}, "backend apt\ngoprov-a\t2.0\tdeinstall ok config-files\n", resources.Create, "install goprov-a", ""},
		{"pinned", map[string]cty.Value{"names": names("goprov-a"), "version": cty.StringVal("1:1.0-1")}, installedA, resources.Update, "goprov-a 2.0 → 1:1.0-1", ""},
		{"pinned in sync", map[string]cty.Value{"names": names("goprov-a"), "version": cty.StringVal("2.0")}, installedA, resources.NoOp, "", ""},
		{"remove", map[string]cty.Value{"names": names("goprov-a", "goprov-b"), "ensure": cty.StringVal("absent")}, installedA, resources.Delete, "remove goprov-a", ""},
		{"absent in sync", map[string]cty.Value{"names": names("goprov-b"), "ensure": cty.StringVal("absent")}, installedA, resources.NoOp, "", ""},
		{"half-configured managed", map[string]cty.Value{"names": names("goprov-a")}, "backend apt\ngoprov-a\t2.0\tinstall ok half-configured\n", resources.Update, "configure goprov-a", "goprov-a is half-configured"},
		{"half-installed elsewhere is noted", map[string]cty.Value{"names": names("goprov-a")}, installedA + "other\t1\tinstall reinstreq half-installed\n", resources.NoOp, "", "other is half-installed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := build(t, tc.attrs)
			if err != "" {
				t.Fatal(err)
			}
			ch, derr := r.Diff(&resources.Host{Root: "/"}, []byte(tc.probe))
			if derr != nil {
				t.Fatal(derr)
			}
			if ch.Action != tc.action || !strings.Contains(ch.Summary, tc.summary) {
				t.Fatalf("got %s %q, want %s %q", ch.Action, ch.Summary, tc.action, tc.summary)
			}
			if n := strings.Join(ch.Notes, "; "); !strings.Contains(n, tc.note) {
				t.Fatalf("notes %q, want %q", n, tc.note)
			}
		})
	}
}

func TestDiffWithoutApt(t *testing.T) {
	r, e := build(t, map[string]cty.Value{"names": names("zsh")})
	if e != "" {
		t.Fatal(e)
	}
	if _, err := r.Diff(&resources.Host{Root: "/"}, []byte("backend none\n")); err == nil || !strings.Contains(err.Error(), "apt") {
		t.Fatalf("err %v", err)
	}
}
