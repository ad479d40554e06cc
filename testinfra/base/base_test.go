package base

import (
	"strings"
	"testing"
)

func TestAptSources(t *testing.T) {
	tests := []struct {
		name       string
		deb822     map[string]string
		list       string
		wantMirror string
		wantLines  []string
		wantErr    bool
	}{
		{
			name: "deb822 with security and a disabled stanza",
			deb822: map[string]string{"/etc/apt/sources.list.d/debian.sources": `Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://elsewhere.example/debian
Suites: bookworm
`},
			wantMirror: "http://mirror.example/debian",
			wantLines: []string{
				"deb http://mirror.example/debian bookworm main contrib",
				"deb http://mirror.example/debian bookworm-updates main contrib",
				"deb http://mirror.example/debian-security bookworm-security main",
			},
		},
		{
			name:       "one-line sources.list with options; other releases ignored",
			list:       "# x\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\ndeb-src http://m.example/debian bookworm main\ndeb http://m.example/debian trixie main\n",
			wantMirror: "http://m.example/debian",
			wantLines:  []string{"deb http://m.example/debian bookworm main"},
		},
		{
			name:    "no bookworm anywhere",
			list:    "deb http://m.example/debian trixie main\n",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mirror, list, err := aptSources(tt.deb822, tt.list)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want error, got mirror %q", mirror)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if mirror != tt.wantMirror {
				t.Errorf("mirror %q, want %q", mirror, tt.wantMirror)
			}
			if got := strings.Split(strings.TrimSpace(list), "\n"); strings.Join(got, "|") != strings.Join(tt.wantLines, "|") {
				t.Errorf("sources:\n%s\nwant:\n%s", list, strings.Join(tt.wantLines, "\n"))
			}
		})
	}
}

func TestKeyChangesWithInputs(t *testing.T) {
	a := Config{OpsPassword: "x"}.Key()
	if a != (Config{OpsPassword: "x"}).Key() {
		t.Fatal("key not stable")
	}
	if a == (Config{OpsPassword: "y"}).Key() {
		t.Fatal("key ignores the password")
	}
	if c := (Config{CacheRoot: "/c"}); !strings.HasPrefix(c.Dir(), "/c/base-") {
		t.Fatalf("dir %s", c.Dir())
	}
}

func TestTrixieSourcesAndKey(t *testing.T) {
	got := renameSuite("deb http://m.example/debian bookworm main\ndeb http://m.example/debian bookworm-updates main\ndeb http://m.example/debian-security bookworm-security main\n", Trixie)
	want := "deb http://m.example/debian trixie main\ndeb http://m.example/debian trixie-updates main\ndeb http://m.example/debian-security trixie-security main\n"
	if got != want {
		t.Errorf("renameSuite:\n%s\nwant:\n%s", got, want)
	}
	bw, tx := Config{OpsPassword: "p"}, Config{OpsPassword: "p", Suite: Trixie}
	if bw.Key() != (Config{OpsPassword: "p", Suite: Bookworm}).Key() || bw.Key() == tx.Key() || bw.Dir() == tx.Dir() ||
		!strings.Contains(tx.Dir(), "base-trixie-") {
		t.Errorf("keys and dirs: %s %s, %s %s", bw.Key(), bw.Dir(), tx.Key(), tx.Dir())
	}
}

// TestConfigVariants: each suite and variant has its own image directory
// (and key), and only minimal images have a mirror; bookworm's full image
// keeps its directory name.
func TestConfigVariants(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		c          Config
		dirPrefix  string
		mirrorPref string
	}{
		{Config{CacheRoot: root}, root + "/base-", ""},
		{Config{CacheRoot: root, Suite: Trixie}, root + "/base-trixie-", ""},
		{Config{CacheRoot: root, Minimal: true}, root + "/base-minimal-bookworm-", root + "/debs/bookworm-minimal-"},
		{Config{CacheRoot: root, Suite: Trixie, Minimal: true}, root + "/base-minimal-trixie-", root + "/debs/trixie-minimal-"},
	}
	keys := map[string]bool{}
	for _, tt := range tests {
		key := tt.c.Key()
		if keys[key] {
			t.Errorf("%+v: key %s shared with another image", tt.c, key)
		}
		keys[key] = true
		if got := tt.c.Dir(); got != tt.dirPrefix+key {
			t.Errorf("%+v: Dir %s, want %s%s", tt.c, got, tt.dirPrefix, key)
		}
		want := ""
		if tt.mirrorPref != "" {
			want = tt.mirrorPref + key
		}
		if got := tt.c.MirrorDir(); got != want {
			t.Errorf("%+v: MirrorDir %q, want %q", tt.c, got, want)
		}
	}
}
