package resources

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func batchFile(p string, content []byte) FileWrite {
	return FileWrite{File: DesiredFile{Path: p, Content: content, Mode: 0o640, UID: os.Getuid(), GID: os.Getgid()}, Opt: WriteOptions{MkdirMode: 0o755}}
}

// Several files in one command: each gets exactly its own bytes (empty,
// binary, no final newline), and the first failure stops the batch with
// the files after it untouched.
func TestWriteFiles(t *testing.T) {
	ctx := context.Background()
	bin := bytes.Repeat([]byte{0, 0xff, '\n', 'x'}, 5000)
	tests := []struct {
		name     string
		files    []FileWrite
		wantDone int
		wantErr  func(error) bool
	}{
		{"all written", []FileWrite{batchFile("/etc/a.conf", []byte("a\n")), batchFile("/etc/b/b.conf", nil),
			batchFile("/etc/c.bin", bin), batchFile("/etc/d.conf", []byte("no newline"))}, 4, nil},
		{"validation stops the batch", []FileWrite{batchFile("/etc/a.conf", []byte("a2\n")),
			{File: batchFile("/etc/b/b.conf", []byte("bad\n")).File, Opt: WriteOptions{Validate: `echo "b is bad" >&2; exit 1`}},
			batchFile("/etc/d.conf", []byte("d2\n"))}, 1, func(err error) bool {
			var ve *ErrValidation
			return errors.As(err, &ve) && ve.Msg == "b is bad"
		}},
		{"after failure restores and stops", []FileWrite{batchFile("/etc/a.conf", []byte("a3\n")),
			{File: batchFile("/etc/c.bin", []byte("c3")).File, Opt: WriteOptions{After: `exit 1`}},
			batchFile("/etc/d.conf", []byte("d3\n"))}, 1, func(err error) bool { return err != nil }},
	}
	h, root := testHost(t)
	want := map[string][]byte{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			done, err := WriteFiles(ctx, h, tc.files)
			if done != tc.wantDone {
				t.Fatalf("written %d, want %d (err %v)", done, tc.wantDone, err)
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !tc.wantErr(err) {
				t.Fatalf("unexpected error %v", err)
			}
			var we *WriteError
			if err != nil && (!errors.As(err, &we) || we.Index != done) {
				t.Fatalf("want a WriteError at %d, got %#v", done, err)
			}
			for _, w := range tc.files[:done] {
				want[w.File.Path] = w.File.Content
			}
			for p, c := range want {
				got, err := os.ReadFile(filepath.Join(root, p))
				if err != nil || !bytes.Equal(got, c) {
					t.Fatalf("%s: %q (%v), want %q", p, got, err, c)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(root, "etc/.goprov*")); len(left) > 0 {
				t.Fatalf("temp files left: %v", left)
			}
		})
	}
}

// A connection cut mid-stream: the files that arrived whole are written,
// the cut one and those after it keep their old content.
func TestWriteFilesCut(t *testing.T) {
	h, root := testHost(t)
	ctx := context.Background()
	if _, err := WriteFiles(ctx, h, []FileWrite{batchFile("/etc/a.conf", []byte("old-a\n")), batchFile("/etc/b.conf", []byte("old-b\n"))}); err != nil {
		t.Fatal(err)
	}
	h.T = cutTransport{h.T, int64(len("new-a\n") + 3)}
	done, err := WriteFiles(ctx, h, []FileWrite{batchFile("/etc/a.conf", []byte("new-a\n")), batchFile("/etc/b.conf", []byte("new-b\n")), batchFile("/etc/c.conf", []byte("c\n"))})
	if done != 1 || err == nil {
		t.Fatalf("want 1 written and an error, got %d, %v", done, err)
	}
	for p, c := range map[string]string{"etc/a.conf": "new-a\n", "etc/b.conf": "old-b\n"} {
		if got, _ := os.ReadFile(filepath.Join(root, p)); string(got) != c {
			t.Fatalf("%s: %q, want %q", p, got, c)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/c.conf")); !os.IsNotExist(err) {
		t.Fatalf("c.conf written after the cut: %v", err)
	}
}
