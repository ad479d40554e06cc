package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// GOPROV_CPUPROFILE writes a pprof CPU profile of the run (gzip data); a
// path that cannot be created is a warning on stderr, and the run goes on.
func TestStartProfile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, path, warn string
	}{
		{"unset", "", ""},
		{"writable", filepath.Join(dir, "cpu.pprof"), ""},
		{"missing dir", filepath.Join(dir, "no", "cpu.pprof"), "goprov: GOPROV_CPUPROFILE: open "},
	} {
		var stderr bytes.Buffer
		stop := startProfile(tc.path, &stderr)
		stop()
		if tc.warn == "" && stderr.Len() != 0 || !strings.HasPrefix(stderr.String(), tc.warn) {
			t.Errorf("%s: stderr %q, want prefix %q", tc.name, stderr.String(), tc.warn)
		}
		if tc.path == "" || tc.warn != "" {
			continue
		}
		b, err := os.ReadFile(tc.path)
		if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s: profile %d bytes, err %v: not a gzip'ed pprof profile", tc.name, len(b), err)
		}
	}
}
