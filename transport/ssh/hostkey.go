package ssh

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is a refused host key. Mismatch is true when the host is
// known with a different key: the case that must never be accepted.
type HostKeyError struct {
	Host     string // "host:port" as dialled
	Mismatch bool
	Revoked  bool
	File     string // the known_hosts file and line that hold the expected key
	Line     int
	msg      string
}

func (e *HostKeyError) Error() string { return e.msg }

// hostKeyChecker applies a HostKeyPolicy to one hop.
type hostKeyChecker struct {
	policy string
	files  []string // user known_hosts; accept-new appends to files[0]
	global []string // read-only
	hash   bool

	mu       sync.Mutex
	err      *HostKeyError // what the callback refused, for a precise message
	recorded string        // "KEYTYPE FINGERPRINT in FILE" once a new key was appended
}

// load reads every existing known_hosts file. A missing file is an empty
// one (OpenSSH behaves the same); an unreadable or corrupt one is an error,
// since ignoring it could turn a mismatch into "unknown". Parsed files are
// cached by version (knownHostsCache): a run of 200 hosts parses them once.
func (k *hostKeyChecker) load() (gossh.HostKeyCallback, error) {
	var existing []string
	var key strings.Builder
	for _, f := range append(append([]string(nil), k.files...), k.global...) {
		st, err := os.Stat(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
		existing = append(existing, f)
		fmt.Fprintf(&key, "%q %d %d %d\n", f, st.ModTime().UnixNano(), st.Size(), inode(st))
	}
	return khCache.get(key.String(), existing)
}

// knownHostsCache holds parsed known_hosts sets keyed by every file's
// path, mtime, size and inode. The callbacks only read their database, so
// they are safe to share between connections. accept-new's write drops
// the entries of the file it wrote (a write within the clock's resolution
// could keep mtime and, rarely, size).
type knownHostsCache struct {
	mu sync.Mutex // held while parsing: concurrent dials wait for one parse
	m  map[string]knownHostsEntry
}

type knownHostsEntry struct {
	files []string
	cb    gossh.HostKeyCallback
}

var khCache = &knownHostsCache{m: map[string]knownHostsEntry{}}

func (c *knownHostsCache) get(key string, files []string) (gossh.HostKeyCallback, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		return e.cb, nil
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("known_hosts: %w", err)
	}
	if len(c.m) >= 64 { // file versions come and go: keep the cache small
		clear(c.m)
	}
	c.m[key] = knownHostsEntry{files: files, cb: cb}
	return cb, nil
}

// forget drops every cached set that includes path.
func (c *knownHostsCache) forget(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if slices.Contains(e.files, path) {
			delete(c.m, k)
		}
	}
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

var (
	probeKeyOnce sync.Once
	probeKey     gossh.PublicKey
)

// knownAlgorithms returns the host key algorithms known_hosts holds for
// addr, so the server is asked for a key we can verify. Without this, a
// host known only by its ECDSA key that offers Ed25519 first would look
// like a changed key. nil means "unknown host: any algorithm".
func knownAlgorithms(cb gossh.HostKeyCallback, addr string) []string {
	probeKeyOnce.Do(func() {
		pub, _, err := ed25519.GenerateKey(nil)
		if err == nil {
			probeKey, _ = gossh.NewPublicKey(pub)
		}
	})
	if probeKey == nil {
		return nil
	}
	err := cb(addr, &net.TCPAddr{IP: net.IPv4zero}, probeKey)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var algos []string
	add := func(a ...string) {
		for _, s := range a {
			if !seen[s] {
				seen[s] = true
				algos = append(algos, s)
			}
		}
	}
	for _, w := range ke.Want {
		switch t := w.Key.Type(); t {
		case gossh.KeyAlgoRSA:
			add(gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// check is the HostKeyCallback.
func (k *hostKeyChecker) check(cb gossh.HostKeyCallback) gossh.HostKeyCallback {
	return func(addr string, remote net.Addr, key gossh.PublicKey) error {
		err := k.decide(cb(addr, remote, key), addr, key)
		if err != nil {
			var he *HostKeyError
			if errors.As(err, &he) {
				k.mu.Lock()
				k.err = he
				k.mu.Unlock()
			}
		}
		return err
	}
}

// decide maps a known_hosts verdict to the policy. It is separate from the
// callback so the decision table can be tested without a server.
func (k *hostKeyChecker) decide(verdict error, addr string, key gossh.PublicKey) error {
	if verdict == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(verdict, &re):
		return &HostKeyError{Host: addr, Revoked: true, File: re.Revoked.Filename, Line: re.Revoked.Line,
			msg: fmt.Sprintf("host key for %s is marked @revoked (known_hosts %s:%d)", addr, re.Revoked.Filename, re.Revoked.Line)}
	case errors.As(verdict, &ke) && len(ke.Want) > 0:
		return mismatch(addr, ke.Want[0])
	case errors.As(verdict, &ke):
		if k.policy != PolicyAcceptNew {
			hint := fmt.Sprintf("add it to %s, or set host_key_policy = \"accept-new\"", k.files[0])
			if allDevNull(k.files) {
				hint = "known_hosts is /dev/null, so no key can be verified; set known_hosts"
			}
			return &HostKeyError{Host: addr,
				msg: fmt.Sprintf("unknown host key for %s (%s %s): %s", addr, key.Type(), gossh.FingerprintSHA256(key), hint)}
		}
		return k.record(addr, key)
	default:
		return fmt.Errorf("verify host key of %s: %w", addr, verdict)
	}
}

func mismatch(addr string, want knownhosts.KnownKey) *HostKeyError {
	return &HostKeyError{Host: addr, Mismatch: true, File: want.Filename, Line: want.Line,
		msg: fmt.Sprintf("host key mismatch for %s (known_hosts %s:%d) — possible man-in-the-middle", hostOnly(addr), want.Filename, want.Line)}
}

func hostOnly(addr string) string {
	if h, p, err := net.SplitHostPort(addr); err == nil && p == "22" {
		return h
	}
	return addr
}

// record appends an unknown key to the first known_hosts file. Under an
// exclusive flock it re-reads the files: another goroutine or goprov
// process may have recorded this host meanwhile, possibly with a different
// key, which is then a mismatch like any other.
func (k *hostKeyChecker) record(addr string, key gossh.PublicKey) error {
	path := k.files[0]
	if path == os.DevNull {
		return nil // vagrant style: nothing is ever remembered
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("record host key in %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("record host key: lock %s: %w", path, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)

	cb, err := k.load()
	if err != nil {
		return err
	}
	var ke *knownhosts.KeyError
	switch verdict := cb(addr, &net.TCPAddr{IP: net.IPv4zero}, key); {
	case verdict == nil:
		return nil
	case errors.As(verdict, &ke) && len(ke.Want) > 0:
		return mismatch(addr, ke.Want[0])
	case errors.As(verdict, &ke):
	default:
		return k.decide(verdict, addr, key)
	}

	host := knownhosts.Normalize(addr)
	if k.hash {
		host = knownhosts.HashHostname(host)
	}
	line := knownhosts.Line([]string{host}, key) + "\n"
	// Never glue our line onto a last line that lacks its newline.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err != nil && err != io.EOF {
			return fmt.Errorf("record host key: read %s: %w", path, err)
		}
		if last[0] != '\n' {
			line = "\n" + line
		}
	}
	_, err = f.WriteString(line)
	khCache.forget(path) // even after a partial write
	if err != nil {
		return fmt.Errorf("record host key: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("record host key: sync %s: %w", path, err)
	}
	k.mu.Lock()
	k.recorded = fmt.Sprintf("%s %s in %s", key.Type(), gossh.FingerprintSHA256(key), path)
	k.mu.Unlock()
	return nil
}

func (k *hostKeyChecker) recordedNote() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.recorded
}

func (k *hostKeyChecker) refused() *HostKeyError {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}
