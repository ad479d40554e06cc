package profilescript

import (
	"strings"
	"testing"

	"github.com/goprov/goprov/resources"
)

func TestZProfileBlock(t *testing.T) {
	debian := "# /etc/zsh/zprofile: system-wide .zprofile file for zsh(1).\n"
	kali := debian + "emulate sh -c 'source /etc/profile'\n"
	a := &Script{Name: "a", Present: true, ZshLogin: true}
	b := &Script{Name: "b", Present: true, ZshLogin: true}
	gone := &Script{Name: "a", Present: false, ZshLogin: true}
	off := &Script{Name: "a", Present: true, ZshLogin: false}
	apply := func(s *Script, content string) string {
		want, ok := s.zprofile(resources.FileState{Exists: true, Regular: true, Content: []byte(content), Mode: 0o644})
		if !ok {
			t.Fatal("zprofile not managed")
		}
		return string(want.Content)
	}
	one := apply(a, debian)
	if !strings.Contains(one, "# BEGIN goprov profile_script a\nif [ -r /etc/profile.d/a.sh ]; then emulate sh -c '. /etc/profile.d/a.sh'; fi\n# END goprov profile_script a\n") {
		t.Fatalf("block not added:\n%s", one)
	}
	two := apply(b, one)
	if apply(a, two) != two || apply(b, two) != two {
		t.Fatal("re-applying either block changes the file: not idempotent")
	}
	if strings.Index(two, "profile_script a") > strings.Index(two, "profile_script b") {
		t.Fatal("blocks reordered")
	}
	if got := apply(gone, two); strings.Contains(got, "profile_script a\n") || !strings.Contains(got, "profile_script b\n") {
		t.Fatalf("ensure=absent must remove only its own block:\n%s", got)
	}
	if got := apply(off, one); got != debian {
		t.Fatalf("zsh_login=false must remove the block:\n%s", got)
	}
	if got := apply(a, kali); got != kali {
		t.Fatalf("a zprofile that already reads /etc/profile needs no block:\n%s", got)
	}
	if _, ok := a.zprofile(resources.FileState{}); ok {
		t.Fatal("without zsh (no zprofile) nothing must be managed")
	}
}
