package main

// Golden images (-root DIR) are hostile input: their links must not lead
// goprov out of the root, their binaries must not reach the build machine,
// and no child goprov starts may see the controller's secrets.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	escapeOnce sync.Once
	escapeBin  string
	escapeErr  error
	canaryPath string
)

// escapeBinary builds testdata/escape, a static hostile "visudo" that tries
// to write canaryPath on the build machine. One build per test binary.
func escapeBinary(t *testing.T) (bin, canary string) {
	t.Helper()
	escapeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "goprov-escape-")
		if err != nil {
			escapeErr = err
			return
		}
		canaryPath = filepath.Join(dir, "canary")
		escapeBin = filepath.Join(dir, "visudo")
		cmd := exec.Command("go", "build", "-o", escapeBin, "-ldflags", "-X main.canary="+canaryPath, "./testdata/escape")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			escapeErr = fmt.Errorf("build escape: %v\n%s", err, out)
		}
	})
	if escapeErr != nil {
		t.Fatal(escapeErr)
	}
	_ = os.Remove(canaryPath)
	t.Cleanup(func() { _ = os.Remove(canaryPath) })
	return escapeBin, canaryPath
}

// hostileImage is a root with a static shell (the machine's busybox) and
// the escape binary as /usr/sbin/visudo.
func hostileImage(t *testing.T) (root, canary string) {
	t.Helper()
	bin, canary := escapeBinary(t)
	root = t.TempDir()
	for _, d := range []string{"bin", "usr/sbin", "etc/sudoers.d", "tmp", "dev", "proc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, "/bin/busybox", filepath.Join(root, "bin/busybox"), 0o755)
	if err := os.Symlink("busybox", filepath.Join(root, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	copyFile(t, bin, filepath.Join(root, "usr/sbin/visudo"), 0o755)
	return root, canary
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

const dropinHCL = `
resource "sudoers_dropin" "ops" {
  name = "ops"
  rule {
    users    = ["%ops"]
    commands = ["/usr/bin/true"]
  }
}
`

// TestImageBinariesCannotReachBuildMachine: a static binary in the image
// that goprov runs at plan time (visudo) tries the chroot escape and
// /proc/1/root; the canary outside the root must never appear.
func TestImageBinariesCannotReachBuildMachine(t *testing.T) {
	requireRoot(t)
	root, canary := hostileImage(t)
	cfg := writeConfig(t, dropinHCL)
	for _, cmd := range [][]string{{"plan", cfg, "-root", root}, {"apply", "-auto-approve", cfg, "-root", root}} {
		r := goprov(t, cmd...)
		if b, err := os.ReadFile(canary); err == nil {
			t.Fatalf("%s: the image's visudo wrote %s on the build machine: %q\nstdout: %s\nstderr: %s", cmd[0], canary, b, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout+r.stderr, "ENV PATH=") {
			t.Fatalf("%s: the image's visudo did not run (exit %d)\nstdout: %s\nstderr: %s", cmd[0], r.code, r.stdout, r.stderr)
		}
	}
}

// TestImageChildrenGetNoSecrets: the controller's secrets never reach a
// process goprov starts; the image's visudo prints its environment.
func TestImageChildrenGetNoSecrets(t *testing.T) {
	requireRoot(t)
	root, _ := hostileImage(t)
	cfg := writeConfig(t, dropinHCL)
	secrets := map[string]string{
		"GOPROV_BECOME_PASSWORD": "s3cret-become-Zq81",
		"SSH_AUTH_SOCK":          "/run/agent-Zq81.sock",
		"AWS_SECRET_ACCESS_KEY":  "aws-Zq81-secret",
	}
	for _, cmd := range [][]string{{"plan", cfg, "-root", root}, {"apply", "-auto-approve", cfg, "-root", root}} {
		c := exec.Command(goprovBin, cmd...)
		c.Env = os.Environ()
		for k, v := range secrets {
			c.Env = append(c.Env, k+"="+v)
		}
		r := runCmd(t, c, cmd)
		out := r.stdout + r.stderr
		if !strings.Contains(out, "ENV PATH=") {
			t.Fatalf("%s: the image's visudo did not print its environment (exit %d)\n%s", cmd[0], r.code, out)
		}
		for k, v := range secrets {
			if strings.Contains(out, v) || strings.Contains(out, "ENV "+k+"=") {
				t.Errorf("%s: a child of goprov was given %s", cmd[0], k)
			}
		}
	}
}

// TestImageLinksStayInRoot: links in the image (absolute, and relative
// ones climbing above the root) at the paths goprov writes — a resource's
// directory, the lock's directory, the journal — never lead outside the
// root: they resolve as if the root were "/", or the apply is refused
// naming the link. A canary directory outside the root stays as it was.
func TestImageLinksStayInRoot(t *testing.T) {
	requireRoot(t)
	up := strings.Repeat("../", 16)
	for _, tc := range []struct {
		name string
		// links maps a path in the image to its target; "C" in a target
		// is the canary directory's absolute path without its leading "/".
		links map[string]string
		// inRoot: the targets also exist inside the root, so the apply
		// succeeds and writes there.
		inRoot bool
	}{
		{name: "targets only outside", links: map[string]string{
			"etc/profile.d":                "/C/profile.d",
			"var/lib/goprov":               up + "C/lock",
			"var/log/goprov/journal.jsonl": "/C/journal.jsonl",
		}},
		{name: "targets inside too", inRoot: true, links: map[string]string{
			"etc/profile.d":                "/C/profile.d",
			"var/lib/goprov":               "../../C/lock",
			"var/log/goprov/journal.jsonl": up + "C/journal.jsonl",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, canary := t.TempDir(), t.TempDir()
			mkCanary := func(base string) {
				for _, d := range []string{"profile.d", "lock"} {
					if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
						t.Fatal(err)
					}
				}
			}
			mkCanary(canary)
			if err := os.WriteFile(filepath.Join(canary, "journal.jsonl"), []byte("keep\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.inRoot {
				mkCanary(filepath.Join(root, canary))
			}
			for at, to := range tc.links {
				to = strings.ReplaceAll(to, "C/", strings.TrimPrefix(canary, "/")+"/")
				if err := os.MkdirAll(filepath.Dir(filepath.Join(root, at)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(to, filepath.Join(root, at)); err != nil {
					t.Fatal(err)
				}
			}
			r := goprov(t, "apply", "-auto-approve", writeConfig(t, goScript), "-root", root)
			var changed []string
			_ = filepath.Walk(canary, func(p string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() && p != filepath.Join(canary, "journal.jsonl") {
					changed = append(changed, p)
				}
				return nil
			})
			if b, _ := os.ReadFile(filepath.Join(canary, "journal.jsonl")); string(b) != "keep\n" {
				changed = append(changed, "journal.jsonl")
			}
			if len(changed) > 0 {
				t.Fatalf("apply on -root wrote outside the root: %v\nstdout: %s\nstderr: %s", changed, r.stdout, r.stderr)
			}
			if !tc.inRoot {
				if r.code != 1 || !strings.Contains(r.stdout, "/var/lib/goprov is a link") {
					t.Fatalf("apply: exit %d, want 1 naming the link /var/lib/goprov\n%s", r.code, r.stdout)
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("apply: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			for _, f := range []string{"profile.d/go.sh", "lock/apply.lock", "journal.jsonl"} {
				if _, err := os.Stat(filepath.Join(root, canary, f)); err != nil {
					t.Errorf("%s not written inside the root, where the link leads: %v", f, err)
				}
			}
		})
	}
}

// TestImageLargeBatch: six 30 KB sudoers drop-ins on -root make a batched
// read of about 180 KB, beyond one argv string's limit (128 KiB).
func TestImageLargeBatch(t *testing.T) {
	requireRoot(t)
	var b strings.Builder
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&b, "resource \"sudoers_dropin\" \"big%d\" {\n  name = \"big%d\"\n  content = <<EOT\n", i, i)
		for b.Len() < (i+1)*30_000 {
			b.WriteString("# a comment line that makes this drop-in large, on purpose\n")
		}
		b.WriteString("EOT\n}\n")
	}
	cfg := writeConfig(t, b.String())
	r := goprov(t, "plan", cfg, "-root", t.TempDir(), "-detailed-exitcode")
	if r.code != 2 || !strings.Contains(r.stdout, "6 to add") {
		t.Fatalf("plan of six 30 KB drop-ins on -root: exit %d, want 2 with 6 to add\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// fakeGoArchive is a go1.22.5 release archive (official layout) whose
// bin/go is a script printing what a real one would; it returns its path
// and SHA-256.
func fakeGoArchive(t *testing.T) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range []struct {
		name, body string
		typ        byte
		mode       int64
	}{
		{name: "go/", typ: tar.TypeDir, mode: 0o755},
		{name: "go/VERSION", body: "go1.22.5\ntime 2024-06-27T20:11:12Z\n", mode: 0o644},
		{name: "go/go.env", body: "GOTOOLCHAIN=auto\n", mode: 0o644},
		{name: "go/bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "go/bin/go", body: "#!/bin/sh\necho 'go version go1.22.5 linux/" + runtime.GOARCH + "'\n", mode: 0o755},
	} {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: typ, Mode: e.mode, Size: int64(len(e.body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "go1.22.5.linux-"+runtime.GOARCH+".tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return p, hex.EncodeToString(sum[:])
}

// TestImageToolchainLinkStaysInRoot: an image whose install_root is a link
// to a directory of the build machine gets its toolchain tree inside the
// root (where the link leads when the root is "/"), never there.
func TestImageToolchainLinkStaysInRoot(t *testing.T) {
	requireRoot(t)
	archive, sum := fakeGoArchive(t)
	root, canary := t.TempDir(), t.TempDir()
	for _, d := range []string{"bin", "opt", filepath.Join(canary[1:])} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, "/bin/busybox", filepath.Join(root, "bin/sh"), 0o755) // for bin/go's #!/bin/sh
	if err := os.Symlink(canary, filepath.Join(root, "opt/go")); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf(`
resource "go_toolchain" "go" {
  version      = "1.22.5"
  source       = "file"
  path         = %q
  sha256       = %q
  install_root = "/opt/go"
  link         = "/opt/go-current"
}
`, archive, sum))
	r := goprov(t, "apply", "-auto-approve", cfg, "-root", root)
	if ents, _ := os.ReadDir(canary); len(ents) > 0 {
		t.Fatalf("apply on -root wrote the toolchain outside the root, into %s: %v\nstdout: %s\nstderr: %s", canary, ents, r.stdout, r.stderr)
	}
	if r.code != 0 {
		t.Fatalf("apply: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(root, canary, "go-1.22.5/bin/go")); err != nil {
		t.Fatalf("the toolchain is not inside the root, where install_root's link leads: %v", err)
	}
}

// TestBecomePasswordLeavesGoprovEnviron: goprov reads GOPROV_BECOME_PASSWORD
// once; while it then works, its /proc/PID/environ no longer holds it.
// The image's visudo (a script) holds the apply until the test has looked.
func TestBecomePasswordLeavesGoprovEnviron(t *testing.T) {
	requireRoot(t)
	root, _ := hostileImage(t)
	// Read-only (the plan's read): return at once. Apply: say so, then
	// wait for the test's release.
	hold := "#!/bin/sh\ncat >/dev/null\ntouch /started 2>/dev/null || exit 0\nwhile [ ! -e /release ]; do sleep 0.1; done\n"
	if err := os.WriteFile(filepath.Join(root, "usr/sbin/visudo"), []byte(hold), 0o755); err != nil {
		t.Fatal(err)
	}
	const secret = "pw-environ-Zq81"
	cmd := exec.Command(goprovBin, "apply", "-auto-approve", writeConfig(t, dropinHCL), "-root", root)
	cmd.Env = append(os.Environ(), "GOPROV_BECOME_PASSWORD="+secret)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	release := func() { _ = os.WriteFile(filepath.Join(root, "release"), nil, 0o644) }
	defer func() { release(); _ = cmd.Wait() }()
	for {
		if _, err := os.Stat(filepath.Join(root, "started")); err == nil {
			break
		}
		if cmd.ProcessState != nil || !processAlive(cmd.Process.Pid) {
			t.Fatalf("goprov ended before the image's visudo ran:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling, not a timed assertion
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env, []byte(secret)) {
		t.Error("goprov's /proc/PID/environ still holds GOPROV_BECOME_PASSWORD's value while it applies")
	}
}

// processAlive: pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// TestImagePlanWritesNothing: README's first command on a root that does
// not exist yet, preceded by plans: a plan creates neither the root nor
// anything in an empty one (not even the sandbox's mount points); the
// apply then creates it.
func TestImagePlanWritesNothing(t *testing.T) {
	requireRoot(t)
	empty := t.TempDir()
	root := filepath.Join(t.TempDir(), "goprov-demo")
	dir := filepath.Join(repoRoot, "examples/quickstart")
	for _, r := range []string{root, empty} {
		if res := goprov(t, "plan", "-detailed-exitcode", "-root", r, dir); res.code != 2 {
			t.Fatalf("plan on %s: exit %d, want 2\n%s%s", r, res.code, res.stdout, res.stderr)
		}
	}
	if _, err := os.Stat(root); err == nil {
		t.Fatal("plan created the missing root")
	}
	if ents, _ := os.ReadDir(empty); len(ents) > 0 {
		t.Fatalf("plan wrote into the empty root: %v", ents)
	}
	if res := goprov(t, "apply", "-auto-approve", "-root", root, dir); res.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/profile.d/go.sh")); err != nil {
		t.Fatal(err)
	}
}
