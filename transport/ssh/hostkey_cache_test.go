package ssh

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// known_hosts is parsed once per file version (path, mtime, size), not per
// connection: many concurrent connections share one parse; a file that
// changed is read again; accept-new's own write is seen at once.
func TestKnownHostsParsedOncePerVersion(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	keyA, keyB := newEd25519(t), newEd25519(t)
	lineA := khLine("a.example", keyA)
	must(t, os.WriteFile(kh, []byte(lineA), 0o600))
	stamp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	must(t, os.Chtimes(kh, stamp, stamp))
	strict := func() *hostKeyChecker { return &hostKeyChecker{policy: PolicyStrict, files: []string{kh}} }

	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := checkKey(strict(), "a.example:22", keyA); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()

	// Same path, size and mtime, other bytes: a parse would now fail, so
	// success proves the file was not parsed again.
	must(t, os.WriteFile(kh, []byte(strings.Repeat("#", len(lineA)-1)+"\n"), 0o600))
	must(t, os.Chtimes(kh, stamp, stamp))
	if err := checkKey(strict(), "a.example:22", keyA); err != nil {
		t.Fatalf("same file version parsed again: %v", err)
	}

	// A new mtime is a new version: read again (now without a's key).
	later := stamp.Add(time.Second)
	must(t, os.Chtimes(kh, later, later))
	if err := checkKey(strict(), "a.example:22", keyA); err == nil || !strings.Contains(err.Error(), "unknown host key") {
		t.Fatalf("changed file not read again: %v", err)
	}

	// accept-new records b (its write invalidates the cache); the next
	// connection knows b at once.
	must(t, os.WriteFile(kh, []byte(lineA), 0o600))
	must(t, os.Chtimes(kh, stamp, stamp))
	if err := checkKey(&hostKeyChecker{policy: PolicyAcceptNew, files: []string{kh}}, "b.example:22", keyB); err != nil {
		t.Fatal(err)
	}
	must(t, os.Chtimes(kh, stamp, stamp))
	if err := checkKey(strict(), "b.example:22", keyB); err != nil {
		t.Fatalf("recorded key unknown to the next connection: %v", err)
	}
	if err := checkKey(strict(), "b.example:22", newEd25519(t)); err == nil {
		t.Fatal("a changed key for b was accepted")
	}
}
