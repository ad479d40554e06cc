package ssh

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newEd25519(t *testing.T) gossh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	k, err := gossh.NewPublicKey(pub)
	must(t, err)
	return k
}

func newECDSA(t *testing.T) gossh.PublicKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	k, err := gossh.NewPublicKey(&priv.PublicKey)
	must(t, err)
	return k
}

func khLine(host string, k gossh.PublicKey) string {
	return knownhosts.Line([]string{host}, k) + "\n"
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

func checkKey(hk *hostKeyChecker, addr string, key gossh.PublicKey) error {
	db, err := hk.load()
	if err != nil {
		return err
	}
	return hk.check(db)(addr, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 99), Port: 22}, key)
}

func TestHostKeyPolicy(t *testing.T) {
	known, other, revoked := newEd25519(t), newEd25519(t), newEd25519(t)
	base := khLine("10.0.0.11", known) + khLine("[10.0.0.12]:2222", known) + "@revoked * " + string(gossh.MarshalAuthorizedKey(revoked))

	tests := []struct {
		name      string
		policy    string
		addr      string
		key       gossh.PublicKey
		wantErr   string // substring; "" means accepted
		mismatch  bool
		wantAdded string // line appended to the file
	}{
		{name: "known key, strict", policy: PolicyStrict, addr: "10.0.0.11:22", key: known},
		{name: "known key on a port", policy: PolicyStrict, addr: "10.0.0.12:2222", key: known},
		{name: "known key, accept-new, nothing written", policy: PolicyAcceptNew, addr: "10.0.0.11:22", key: known},
		{name: "changed key, strict", policy: PolicyStrict, addr: "10.0.0.11:22", key: other, mismatch: true,
			wantErr: "host key mismatch for 10.0.0.11 (known_hosts KH:1) — possible man-in-the-middle"},
		{name: "changed key, accept-new still refused", policy: PolicyAcceptNew, addr: "10.0.0.11:22", key: other, mismatch: true,
			wantErr: "host key mismatch for 10.0.0.11 (known_hosts KH:1)"},
		{name: "changed key on a port", policy: PolicyAcceptNew, addr: "10.0.0.12:2222", key: other, mismatch: true,
			wantErr: "host key mismatch for 10.0.0.12:2222 (known_hosts KH:2)"},
		{name: "same host, other port is another host", policy: PolicyStrict, addr: "10.0.0.11:2222", key: other,
			wantErr: "unknown host key for 10.0.0.11:2222"},
		{name: "unknown, strict", policy: PolicyStrict, addr: "10.0.0.13:22", key: other,
			wantErr: "unknown host key for 10.0.0.13:22 (ssh-ed25519 SHA256:"},
		{name: "unknown, accept-new records", policy: PolicyAcceptNew, addr: "10.0.0.13:22", key: other,
			wantAdded: khLine("10.0.0.13", other)},
		{name: "unknown on a port, accept-new records [host]:port", policy: PolicyAcceptNew, addr: "10.0.0.13:2222", key: other,
			wantAdded: khLine("[10.0.0.13]:2222", other)},
		{name: "revoked, accept-new", policy: PolicyAcceptNew, addr: "10.0.0.14:22", key: revoked, wantErr: "@revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			must(t, os.WriteFile(kh, []byte(base), 0o600))
			hk := &hostKeyChecker{policy: tt.policy, files: []string{kh}}
			err := checkKey(hk, tt.addr, tt.key)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "KH", kh)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want %q", err, want)
				}
				var he *HostKeyError
				if !errors.As(err, &he) || he.Mismatch != tt.mismatch {
					t.Errorf("HostKeyError = %#v, want Mismatch=%t", he, tt.mismatch)
				}
				if hk.refused() == nil {
					t.Error("refused() did not keep the error for the dial message")
				}
			}
			if d := cmp.Diff(base+tt.wantAdded, readFile(t, kh)); d != "" {
				t.Errorf("known_hosts (-want +got):\n%s", d)
			}
		})
	}
}

func TestAcceptNewCreatesFileAndDir(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "new", ".ssh", "known_hosts")
	key := newEd25519(t)
	hk := &hostKeyChecker{policy: PolicyAcceptNew, files: []string{kh}}
	must(t, checkKey(hk, "h:22", key))
	if got, want := readFile(t, kh), khLine("h", key); got != want {
		t.Errorf("known_hosts = %q, want %q", got, want)
	}
	st, err := os.Stat(kh)
	must(t, err)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	// Strict with the file missing refuses, and creates nothing.
	kh2 := filepath.Join(t.TempDir(), "kh")
	if err := checkKey(&hostKeyChecker{policy: PolicyStrict, files: []string{kh2}}, "h:22", key); err == nil {
		t.Error("strict accepted a key with no known_hosts")
	}
	if _, err := os.Stat(kh2); !errors.Is(err, os.ErrNotExist) {
		t.Error("strict created known_hosts")
	}
}

func TestAcceptNewNoTrailingNewline(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "known_hosts")
	a, b := newEd25519(t), newEd25519(t)
	first := strings.TrimSuffix(khLine("a", a), "\n")
	must(t, os.WriteFile(kh, []byte(first), 0o600))
	must(t, checkKey(&hostKeyChecker{policy: PolicyAcceptNew, files: []string{kh}}, "b:22", b))
	if got, want := readFile(t, kh), first+"\n"+khLine("b", b); got != want {
		t.Errorf("known_hosts = %q, want %q", got, want)
	}
	// Both keys are now usable.
	must(t, checkKey(&hostKeyChecker{policy: PolicyStrict, files: []string{kh}}, "a:22", a))
	must(t, checkKey(&hostKeyChecker{policy: PolicyStrict, files: []string{kh}}, "b:22", b))
}

func TestAcceptNewHashed(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "known_hosts")
	key := newEd25519(t)
	must(t, checkKey(&hostKeyChecker{policy: PolicyAcceptNew, files: []string{kh}, hash: true}, "secret.example.com:22", key))
	got := readFile(t, kh)
	if !strings.HasPrefix(got, "|1|") || strings.Contains(got, "secret") {
		t.Errorf("HashKnownHosts yes wrote %q", got)
	}
	must(t, checkKey(&hostKeyChecker{policy: PolicyStrict, files: []string{kh}}, "secret.example.com:22", key))
}

func TestAcceptNewDevNull(t *testing.T) {
	hk := &hostKeyChecker{policy: PolicyAcceptNew, files: []string{os.DevNull}}
	must(t, checkKey(hk, "127.0.0.1:2222", newEd25519(t)))
	must(t, checkKey(hk, "127.0.0.1:2222", newEd25519(t))) // nothing remembered: vagrant semantics
	if err := checkKey(&hostKeyChecker{policy: PolicyStrict, files: []string{os.DevNull}}, "127.0.0.1:2222", newEd25519(t)); err == nil ||
		!strings.Contains(err.Error(), "known_hosts is /dev/null") {
		t.Errorf("strict with /dev/null: %v", err)
	}
}

// Parallel dials (many hosts, or one jump host shared by many) must not
// corrupt the file or accept two different keys for one host.
func TestAcceptNewConcurrent(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "known_hosts")
	same := newEd25519(t)
	var keys []gossh.PublicKey
	for i := 0; i < 10; i++ {
		keys = append(keys, newEd25519(t))
	}
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hk := &hostKeyChecker{policy: PolicyAcceptNew, files: []string{kh}}
			switch {
			case i < 20: // one host, same key, many dials
				errs[i] = checkKey(hk, "shared:22", same)
			case i < 30: // one host, different keys: only one may win
				errs[i] = checkKey(hk, "contested:22", keys[i-20])
			default: // distinct hosts
				errs[i] = checkKey(hk, fmt.Sprintf("h%d:22", i), keys[i-30])
			}
		}()
	}
	wg.Wait()
	contestedOK := 0
	for i, err := range errs {
		switch {
		case i < 20 || i >= 30:
			if err != nil {
				t.Errorf("dial %d: %v", i, err)
			}
		case err == nil:
			contestedOK++
		default:
			var he *HostKeyError
			if !errors.As(err, &he) || !he.Mismatch {
				t.Errorf("contested dial %d: %v, want a mismatch", i, err)
			}
		}
	}
	if contestedOK != 1 {
		t.Errorf("%d different keys accepted for one host, want 1", contestedOK)
	}
	lines := strings.Split(strings.TrimSuffix(readFile(t, kh), "\n"), "\n")
	if len(lines) != 1+1+10 {
		t.Errorf("known_hosts has %d lines, want 12:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if _, _, _, _, _, err := gossh.ParseKnownHosts([]byte(l)); err != nil {
			t.Errorf("corrupt line %q: %v", l, err)
		}
	}
}

func TestKnownAlgorithms(t *testing.T) {
	ec := newECDSA(t)
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	rsaPub, err := gossh.NewPublicKey(&rsaPriv.PublicKey)
	must(t, err)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	must(t, os.WriteFile(kh, []byte(khLine("ec", ec)+khLine("rsa", rsaPub)+khLine("both", ec)+khLine("both", newEd25519(t))), 0o600))
	db, err := (&hostKeyChecker{files: []string{kh}}).load()
	must(t, err)
	for _, tc := range []struct {
		addr string
		want []string
	}{
		{"ec:22", []string{gossh.KeyAlgoECDSA256}},
		{"rsa:22", []string{gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA}},
		{"both:22", []string{gossh.KeyAlgoECDSA256, gossh.KeyAlgoED25519}},
		{"unknown:22", nil},
	} {
		if d := cmp.Diff(tc.want, knownAlgorithms(db, tc.addr)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.addr, d)
		}
	}
}

func TestCorruptKnownHostsIsAnError(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "known_hosts")
	must(t, os.WriteFile(kh, []byte("10.0.0.1 ssh-ed25519 not-base64!!\n"), 0o600))
	if _, err := (&hostKeyChecker{files: []string{kh}}).load(); err == nil {
		t.Error("a corrupt known_hosts was ignored (a mismatch could pass as unknown)")
	}
}
