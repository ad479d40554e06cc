package gotoolchain

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testKey is a throwaway OpenPGP key in its own GNUPGHOME.
type testKey struct {
	home     string
	armored  string // public key, ASCII-armored
	identity string
}

func newTestKey(t testing.TB, name string) *testKey {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatalf("these tests make a throwaway signing key with gpg (Debian: apt-get install gnupg): %v", err)
	}
	// A short path: gpg-agent's socket path must fit in sockaddr_un.
	home, err := os.MkdirTemp("", "gpg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	k := &testKey{home: home, identity: name + " <" + name + "@goprov.invalid>"}
	t.Cleanup(func() {
		k.gpg(t, "gpgconf", "--kill", "gpg-agent")
		os.RemoveAll(home)
	})
	k.gpg(t, "gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key", k.identity, "ed25519", "sign", "never")
	k.armored = k.gpg(t, "gpg", "--batch", "--armor", "--export", k.identity)
	return k
}

func (k *testKey) gpg(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+k.home)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		if args[0] == "gpgconf" {
			return ""
		}
		t.Fatalf("%v: %v: %s", args, err, stderr)
	}
	return string(out)
}

// sign writes file.asc, a detached armored signature.
func (k *testKey) sign(t testing.TB, file string) {
	t.Helper()
	os.Remove(file + ".asc")
	k.gpg(t, "gpg", "--batch", "--yes", "--armor", "--local-user", k.identity, "--detach-sign", "-o", file+".asc", file)
}

func TestDearmor(t *testing.T) {
	k := newTestKey(t, "dearmor")
	bin, err := Dearmor([]byte(k.armored))
	if err != nil {
		t.Fatal(err)
	}
	if len(bin) == 0 || bin[0]&0x80 == 0 {
		t.Fatalf("not an OpenPGP packet: % x", bin[:4])
	}
	// Two blocks concatenate.
	two, err := Dearmor([]byte(k.armored + "\n" + k.armored))
	if err != nil || len(two) != 2*len(bin) {
		t.Errorf("two blocks: %d bytes, %v", len(two), err)
	}
	for name, text := range map[string]string{
		"empty":     "",
		"no block":  "hello",
		"truncated": k.armored[:len(k.armored)/2],
		"altered":   alterBody(k.armored),
		"private":   strings.ReplaceAll(k.armored, "PUBLIC KEY", "PRIVATE KEY"),
	} {
		if _, err := Dearmor([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// alterBody changes one base64 character of the armor body, which the
// CRC-24 line must catch.
func alterBody(armored string) string {
	lines := strings.Split(armored, "\n")
	for i, l := range lines {
		if len(l) > 40 && !strings.Contains(l, ":") {
			c := byte('A')
			if l[10] == 'A' {
				c = 'B'
			}
			lines[i] = l[:10] + string(c) + l[11:]
			break
		}
	}
	return strings.Join(lines, "\n")
}

func TestVerifySignature(t *testing.T) {
	good := newTestKey(t, "signer")
	other := newTestKey(t, "mallory")
	dir := t.TempDir()
	data := filepath.Join(dir, "go1.22.5.linux-amd64.tar.gz")
	os.WriteFile(data, []byte("the archive"), 0o644)
	good.sign(t, data)
	kr, err := Dearmor([]byte(good.armored))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := VerifySignature(ctx, kr, data, data+".asc", data); err != nil {
		t.Fatalf("good signature refused: %v", err)
	}
	// Tampered data.
	os.WriteFile(data, []byte("the archivE"), 0o644)
	if err := VerifySignature(ctx, kr, data, data+".asc", data); err == nil {
		t.Error("tampered data accepted")
	}
	// Signed by a key not in the keyring.
	os.WriteFile(data, []byte("the archive"), 0o644)
	other.sign(t, data)
	if err := VerifySignature(ctx, kr, data, data+".asc", data); err == nil || !strings.Contains(err.Error(), "bad OpenPGP signature") {
		t.Errorf("foreign signature: %v", err)
	}
	// Garbage signature file.
	os.WriteFile(data+".asc", []byte("-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n"), 0o644)
	if err := VerifySignature(ctx, kr, data, data+".asc", data); err == nil {
		t.Error("garbage signature accepted")
	}
}
