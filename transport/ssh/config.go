// Package ssh is goprov's SSH transport: one connection per host per run,
// OpenSSH-compatible configuration (ssh_config, known_hosts, ProxyJump,
// ssh-agent) and privilege escalation through sudo with the password sent on
// stdin only.
//
// # Settings and their precedence
//
// For each setting: an explicit value in Config (the HCL host block) wins;
// otherwise the first value obtained from the ssh_config files (Config.
// SSHConfigFiles in order, then ~/.ssh/config and /etc/ssh/ssh_config when
// UseDefaultSSHConfig is set), matched against Config.Address (or Name) as
// OpenSSH matches the alias on its command line; otherwise the default.
// Understood keys: HostName (with %h), User, Port, IdentityFile,
// IdentitiesOnly, IdentityAgent, ProxyJump, UserKnownHostsFile,
// GlobalKnownHostsFile, StrictHostKeyChecking, HashKnownHosts, HostKeyAlias,
// ConnectTimeout. Other keys are ignored; a file the parser rejects (e.g.
// "Match exec", which it refuses to run) is an error naming the file, not
// skipped, since skipping could drop a ProxyJump or a known_hosts setting. ProxyCommand is refused with an error rather than ignored:
// silently connecting directly could reach a different machine.
//
// # Host keys
//
// HostKeyPolicy "strict" (the default) refuses unknown and changed keys.
// "accept-new" appends an unknown key to the first known_hosts file (under a
// file lock, so parallel dials do not interleave lines) and still refuses a
// changed key. ssh_config StrictHostKeyChecking maps as: yes/ask → strict,
// accept-new → accept-new, no/off → accept-new plus a warning. We do not
// honour "no" as OpenSSH does (OpenSSH then connects even to a CHANGED key):
// goprov runs sudo on production hosts, so a changed key is always fatal.
// This keeps `vagrant ssh-config` output working: vagrant pairs
// "StrictHostKeyChecking no" with "UserKnownHostsFile /dev/null", so no key
// is ever known, every key is "new", and recording it into /dev/null is
// skipped; the warning says that the host's identity is not verified.
//
// # Running commands
//
// Every Run is one session and one exec request on the host's single
// connection, and every exec line is the same fixed string (execLine in
// become.go): sshd hands it to the login user's shell, which may be sh,
// bash, zsh, fish, tcsh or csh, and all of them pass it to /bin/sh
// unchanged. The script travels on stdin, framed by length, ahead of
// Cmd.Stdin; through sudo (when Cmd.Sudo is set and the login user is not
// root) only once sudo is done with stdin. What one Run may print is capped
// (MaxOutput): a host printing more fails that Run and the command stops.
// Jump-host connections are shared between Dials (pool.go).
package ssh

import (
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// Host key policies.
const (
	PolicyStrict    = "strict"
	PolicyAcceptNew = "accept-new"
)

const (
	defaultConnectTimeout = 10 * time.Second
	defaultKeepAlive      = 15 * time.Second
	maxJumpDepth          = 8
)

// Config describes how to reach one host. The zero value of every field
// means "from ssh_config, else the default".
type Config struct {
	Name                string        // goprov host name, used in every error message
	Address             string        // IP, hostname or ssh_config alias; "" means Name
	Port                int           // 0: from ssh_config, else 22
	User                string        // "": from ssh_config, else current user
	IdentityFiles       []string      // "~" expanded; plus ssh_config IdentityFile; plus SSH_AUTH_SOCK agent
	KnownHosts          []string      // empty: ssh_config UserKnownHostsFile, else ~/.ssh/known_hosts
	HostKeyPolicy       string        // "strict" (default) | "accept-new"; see the package doc
	Jump                []Config      // ProxyJump chain, outermost first; if empty, ssh_config's ProxyJump applies
	Become              bool          // Cmd.Sudo runs through sudo unless the login user is root
	BecomePassword      string        // secret; never printed
	SSHConfigFiles      []string      // extra files (-ssh-config), read before ~/.ssh/config
	UseDefaultSSHConfig bool          // also read ~/.ssh/config and /etc/ssh/ssh_config
	ConnectTimeout      time.Duration // per hop and attempt: TCP connect + handshake + auth; 0: ssh_config ConnectTimeout, else 10s
	// DialDeadline bounds all attempts at one hop: a handshake that times
	// out or is dropped (a loaded host) is tried again with back-off until
	// then. 0: 3 × ConnectTimeout.
	DialDeadline time.Duration

	// KeepAliveInterval is how often keepalive@openssh.com is sent; after
	// three intervals without a reply the connection is declared dead and
	// every Run on it fails. 0: 15s; negative: off.
	KeepAliveInterval time.Duration
	// MaxOutput caps the bytes one Run may print (stdout and stderr
	// together); 0: transport.DefaultMaxOutput.
	MaxOutput int64
	// Logf receives warnings (never secrets), e.g. a weakened host key
	// check. nil: log.Printf.
	Logf func(format string, args ...any)
}

// String never shows the password, so a Config may be printed safely.
func (c Config) String() string {
	pw := ""
	if c.BecomePassword != "" {
		pw = " become_password=<redacted>"
	}
	return fmt.Sprintf("ssh.Config{name=%s address=%s port=%d user=%s become=%t%s}", c.Name, c.Address, c.Port, c.User, c.Become, pw)
}

// GoString keeps %#v from printing the password too.
func (c Config) GoString() string { return c.String() }

// hop is one fully resolved connection target.
type hop struct {
	name           string // goprov name (or the jump spec) for messages
	alias          string // what ssh_config was matched against
	host           string // what is dialled
	port           int
	user           string
	identities     []identitySpec
	identitiesOnly bool
	agentSock      string   // "" : no agent
	knownHosts     []string // user files; accept-new writes to [0]
	globalKnown    []string // read-only
	policy         string
	hashKnown      bool
	hostKeyAlias   string        // ssh_config HostKeyAlias: the known_hosts name instead of host:port
	timeout        time.Duration // one attempt
	deadline       time.Duration // all attempts (dialRetry)
	warnings       []string
	notify         func(string) // reports a newly recorded host key (set by Dial)
}

func (h *hop) addr() string { return net.JoinHostPort(h.host, strconv.Itoa(h.port)) }

type identitySpec struct {
	path     string
	explicit bool // from Config (must exist) rather than ssh_config/defaults
}

// sshConfigs is the ordered list of parsed ssh_config files.
type sshConfigs struct {
	files []*ssh_config.Config
	names []string
}

func loadSSHConfigs(cfg Config) (*sshConfigs, error) {
	sc := &sshConfigs{}
	add := func(path string, mustExist bool) error {
		data, err := os.ReadFile(path)
		if err != nil {
			if !mustExist && errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("read ssh_config: %w", err)
		}
		c, err := ssh_config.DecodeBytes(data)
		if err != nil {
			return fmt.Errorf("parse ssh_config %s: %w", path, err)
		}
		sc.files = append(sc.files, c)
		sc.names = append(sc.names, path)
		return nil
	}
	for _, f := range cfg.SSHConfigFiles {
		p, err := expandTilde(f)
		if err != nil {
			return nil, err
		}
		if err := add(p, true); err != nil {
			return nil, err
		}
	}
	if cfg.UseDefaultSSHConfig {
		if home, err := os.UserHomeDir(); err == nil {
			if err := add(filepath.Join(home, ".ssh", "config"), false); err != nil {
				return nil, err
			}
		}
		if err := add("/etc/ssh/ssh_config", false); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// get returns the first value obtained for key, as OpenSSH does.
func (sc *sshConfigs) get(alias, key string) (string, error) {
	for i, c := range sc.files {
		v, err := c.Get(alias, key)
		if err != nil {
			return "", fmt.Errorf("ssh_config %s: %s: %w", sc.names[i], key, err)
		}
		if v != "" {
			return v, nil
		}
	}
	return "", nil
}

// getAll accumulates a multi-valued key (IdentityFile) over all files.
func (sc *sshConfigs) getAll(alias, key string) ([]string, error) {
	var all []string
	for i, c := range sc.files {
		v, err := c.GetAll(alias, key)
		if err != nil {
			return nil, fmt.Errorf("ssh_config %s: %s: %w", sc.names[i], key, err)
		}
		all = append(all, v...)
	}
	return all, nil
}

// resolveChain turns cfg into the hops to dial, outermost jump first and the
// target last.
func resolveChain(cfg Config) ([]*hop, error) {
	sc, err := loadSSHConfigs(cfg)
	if err != nil {
		return nil, err
	}
	return resolveChainDepth(cfg, sc, 0)
}

func resolveChainDepth(cfg Config, sc *sshConfigs, depth int) ([]*hop, error) {
	if depth > maxJumpDepth {
		return nil, fmt.Errorf("ProxyJump chain longer than %d hops (a loop in ssh_config?)", maxJumpDepth)
	}
	target, jumpSpec, err := resolveHop(cfg, sc)
	if err != nil {
		return nil, err
	}
	jumps := cfg.Jump
	if len(jumps) == 0 && jumpSpec != "" {
		jumps, err = ParseJump(jumpSpec)
		if err != nil {
			return nil, fmt.Errorf("ssh_config ProxyJump for %s: %w", target.alias, err)
		}
	}
	if len(jumps) == 0 {
		return []*hop{target}, nil
	}
	var hops []*hop
	for i, j := range jumps {
		j = inherit(j, cfg)
		if i == 0 {
			// Only the outermost jump may itself need a jump (from its own
			// Jump or ssh_config); later ones are reached through the
			// previous hop, as with OpenSSH's "ProxyJump a,b".
			sub, err := resolveChainDepth(j, sc, depth+1)
			if err != nil {
				return nil, err
			}
			hops = append(hops, sub...)
			continue
		}
		h, _, err := resolveHop(j, sc)
		if err != nil {
			return nil, err
		}
		hops = append(hops, h)
	}
	return append(hops, target), nil
}

// inherit fills a jump's unset settings from the host it leads to.
func inherit(j, parent Config) Config {
	if j.Name == "" {
		j.Name = j.Address
	}
	if len(j.SSHConfigFiles) == 0 {
		j.SSHConfigFiles = parent.SSHConfigFiles
	}
	j.UseDefaultSSHConfig = j.UseDefaultSSHConfig || parent.UseDefaultSSHConfig
	if len(j.IdentityFiles) == 0 {
		j.IdentityFiles = parent.IdentityFiles
	}
	if len(j.KnownHosts) == 0 {
		j.KnownHosts = parent.KnownHosts
	}
	if j.HostKeyPolicy == "" {
		j.HostKeyPolicy = parent.HostKeyPolicy
	}
	if j.ConnectTimeout == 0 {
		j.ConnectTimeout = parent.ConnectTimeout
	}
	if j.DialDeadline == 0 {
		j.DialDeadline = parent.DialDeadline
	}
	return j
}

// resolveHop applies precedence (explicit > ssh_config > default) for one
// host. It also returns the ssh_config ProxyJump value, for the caller.
// Each setting is one named step below.
func resolveHop(cfg Config, sc *sshConfigs) (*hop, string, error) {
	alias := cfg.Address
	if alias == "" {
		alias = cfg.Name
	}
	if alias == "" {
		return nil, "", errors.New("no address and no name")
	}
	if strings.ContainsAny(alias, " \t\r\n\x00") || strings.HasPrefix(alias, "-") {
		return nil, "", fmt.Errorf("invalid address %q", alias)
	}
	h := &hop{name: cfg.Name, alias: alias}
	if h.name == "" {
		h.name = alias
	}
	// OpenSSH lowercases the host name before matching Host patterns; the
	// library matches case-sensitively, so lowercase it here.
	r := &hopResolver{cfg: cfg, sc: sc, alias: alias, match: strings.ToLower(alias)}
	r.get = func(key string) (string, error) { return sc.get(r.match, key) }
	steps := []func(*hop) error{r.hostName, r.port, r.user, r.identities, r.agent, r.knownHosts, r.policy, r.timeout}
	for _, step := range steps {
		if err := step(h); err != nil {
			return nil, "", err
		}
	}
	jump, err := r.get("ProxyJump")
	if err != nil {
		return nil, "", err
	}
	return h, jump, nil
}

// hopResolver is what every step of resolveHop reads: the explicit
// settings, ssh_config, and the alias it matches under.
type hopResolver struct {
	cfg          Config
	sc           *sshConfigs
	alias, match string
	get          func(key string) (string, error)
}

func (r *hopResolver) tokens(h *hop) tokenExpander {
	return tokenExpander{alias: r.alias, host: h.host, port: h.port, ruser: h.user}
}

// hostName refuses ProxyCommand and applies HostName.
func (r *hopResolver) hostName(h *hop) error {
	if pc, err := r.get("ProxyCommand"); err != nil {
		return err
	} else if pc != "" && !strings.EqualFold(pc, "none") {
		return fmt.Errorf("ssh_config sets ProxyCommand for %s, which goprov does not run; use ProxyJump", r.alias)
	}
	h.host = r.alias
	hn, err := r.get("HostName")
	if err != nil {
		return err
	}
	if hn != "" {
		h.host = strings.ReplaceAll(strings.ReplaceAll(hn, "%h", r.alias), "%%", "%")
	}
	return nil
}

// port is the explicit port, else ssh_config's, else 22.
func (r *hopResolver) port(h *hop) error {
	get, cfg, alias := r.get, r.cfg, r.alias
	switch {
	case cfg.Port != 0:
		h.port = cfg.Port
	default:
		p, err := get("Port")
		if err != nil {
			return err
		}
		h.port = 22
		if p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				return fmt.Errorf("ssh_config Port %q for %s: not a number", p, alias)
			}
			h.port = n
		}
	}
	if h.port < 1 || h.port > 65535 {
		return fmt.Errorf("port %d out of range", h.port)
	}
	return nil
}

// user is the explicit user, else ssh_config's, else the local one.
func (r *hopResolver) user(h *hop) error {
	get, cfg := r.get, r.cfg
	var err error
	h.user = cfg.User
	if h.user == "" {
		if h.user, err = get("User"); err != nil {
			return err
		}
	}
	if h.user == "" {
		h.user = localUser()
	}
	if h.user == "" {
		return errors.New("no user: set user, or User in ssh_config")
	}
	return nil
}

// identities lists the keys to try: explicit first (they must exist), then
// ssh_config's, else OpenSSH's defaults; and IdentitiesOnly.
func (r *hopResolver) identities(h *hop) error {
	get, cfg, match, sc := r.get, r.cfg, r.match, r.sc
	tokens := r.tokens(h)
	for _, f := range cfg.IdentityFiles {
		p, err := expandTilde(f) // explicit paths are taken literally, bar "~"
		if err != nil {
			return err
		}
		h.identities = append(h.identities, identitySpec{path: p, explicit: true})
	}
	ids, err := sc.getAll(match, "IdentityFile")
	if err != nil {
		return err
	}
	for _, f := range ids {
		p, err := tokens.expand(f)
		if err != nil {
			return err
		}
		h.identities = append(h.identities, identitySpec{path: p})
	}
	if len(h.identities) == 0 {
		// OpenSSH's default identities, used only if present.
		if home, err := os.UserHomeDir(); err == nil {
			for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
				h.identities = append(h.identities, identitySpec{path: filepath.Join(home, ".ssh", n)})
			}
		}
	}
	if v, err := get("IdentitiesOnly"); err != nil {
		return err
	} else {
		h.identitiesOnly = strings.EqualFold(v, "yes")
	}
	return nil
}

// agent is the agent socket: SSH_AUTH_SOCK unless IdentityAgent says otherwise.
func (r *hopResolver) agent(h *hop) error {
	get := r.get
	tokens := r.tokens(h)
	h.agentSock = os.Getenv("SSH_AUTH_SOCK")
	if v, err := get("IdentityAgent"); err != nil {
		return err
	} else if v != "" {
		switch {
		case strings.EqualFold(v, "none"):
			h.agentSock = ""
		case v == "SSH_AUTH_SOCK":
		case strings.HasPrefix(v, "$"):
			h.agentSock = os.Getenv(strings.TrimPrefix(v, "$"))
		default:
			if h.agentSock, err = tokens.expand(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// knownHosts are the explicit known_hosts files, else ssh_config's, else
// ~/.ssh/known_hosts; with the global ones, HostKeyAlias and HashKnownHosts.
func (r *hopResolver) knownHosts(h *hop) error {
	get, cfg := r.get, r.cfg
	var err error
	tokens := r.tokens(h)
	for _, f := range cfg.KnownHosts {
		p, err := expandTilde(f)
		if err != nil {
			return err
		}
		h.knownHosts = append(h.knownHosts, p)
	}
	if len(h.knownHosts) == 0 {
		v, err := get("UserKnownHostsFile")
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(v) {
			if strings.EqualFold(f, "none") {
				continue
			}
			p, err := tokens.expand(f)
			if err != nil {
				return err
			}
			h.knownHosts = append(h.knownHosts, p)
		}
	}
	if len(h.knownHosts) == 0 {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("known_hosts: no home directory: %w", err)
		}
		h.knownHosts = []string{filepath.Join(home, ".ssh", "known_hosts")}
	}
	if cfg.UseDefaultSSHConfig {
		v, err := get("GlobalKnownHostsFile")
		if err != nil {
			return err
		}
		if v == "" {
			v = "/etc/ssh/ssh_known_hosts"
		}
		for _, f := range strings.Fields(v) {
			if p, err := tokens.expand(f); err == nil && !strings.EqualFold(f, "none") {
				h.globalKnown = append(h.globalKnown, p)
			}
		}
	}
	if h.hostKeyAlias, err = get("HostKeyAlias"); err != nil {
		return err
	}
	if v, err := get("HashKnownHosts"); err != nil {
		return err
	} else {
		h.hashKnown = strings.EqualFold(v, "yes")
	}
	return nil
}

// policy is the host key policy: explicit, else StrictHostKeyChecking.
func (r *hopResolver) policy(h *hop) error {
	get, cfg, alias := r.get, r.cfg, r.alias
	switch cfg.HostKeyPolicy {
	case PolicyStrict, PolicyAcceptNew:
		h.policy = cfg.HostKeyPolicy
	case "":
		v, err := get("StrictHostKeyChecking")
		if err != nil {
			return err
		}
		switch strings.ToLower(v) {
		case "", "yes", "ask":
			h.policy = PolicyStrict
		case "accept-new":
			h.policy = PolicyAcceptNew
		case "no", "off":
			h.policy = PolicyAcceptNew
			w := fmt.Sprintf("ssh_config sets StrictHostKeyChecking %s for %s: goprov accepts and records unknown host keys but still refuses changed ones", v, alias)
			if allDevNull(h.knownHosts) {
				w = fmt.Sprintf("ssh_config sets StrictHostKeyChecking %s and UserKnownHostsFile /dev/null for %s: the host's identity is NOT verified (fine for a local VM, never for production)", v, alias)
			}
			h.warnings = append(h.warnings, w)
		default:
			return fmt.Errorf("ssh_config StrictHostKeyChecking %q for %s: want yes, accept-new or no", v, alias)
		}
	default:
		return fmt.Errorf("host_key_policy %q: want %q or %q", cfg.HostKeyPolicy, PolicyStrict, PolicyAcceptNew)
	}
	return nil
}

// timeout is the connect timeout: explicit, else ConnectTimeout, else the default.
func (r *hopResolver) timeout(h *hop) error {
	get, cfg, alias := r.get, r.cfg, r.alias
	h.timeout = cfg.ConnectTimeout
	if h.timeout == 0 {
		v, err := get("ConnectTimeout")
		if err != nil {
			return err
		}
		if v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("ssh_config ConnectTimeout %q for %s: not a number of seconds", v, alias)
			}
			h.timeout = time.Duration(n) * time.Second
		}
	}
	if h.timeout <= 0 {
		h.timeout = defaultConnectTimeout
	}
	h.deadline = cfg.DialDeadline
	if h.deadline <= 0 {
		h.deadline = 3 * h.timeout
	}
	return nil
}

func allDevNull(files []string) bool {
	for _, f := range files {
		if f != os.DevNull {
			return false
		}
	}
	return len(files) > 0
}

func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// tokenExpander expands the ssh_config tokens that make sense for paths.
type tokenExpander struct {
	alias, host, ruser string
	port               int
}

func (t tokenExpander) expand(s string) (string, error) {
	if strings.Contains(s, "%") {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if s[i] != '%' {
				b.WriteByte(s[i])
				continue
			}
			if i+1 >= len(s) {
				return "", fmt.Errorf("path %q: trailing %%", s)
			}
			i++
			switch s[i] {
			case '%':
				b.WriteByte('%')
			case 'd':
				home, err := os.UserHomeDir()
				if err != nil {
					return "", fmt.Errorf("path %q: %%d: %w", s, err)
				}
				b.WriteString(home)
			case 'h':
				b.WriteString(t.host)
			case 'n':
				b.WriteString(t.alias)
			case 'p':
				b.WriteString(strconv.Itoa(t.port))
			case 'r':
				b.WriteString(t.ruser)
			case 'u':
				b.WriteString(localUser())
			default:
				return "", fmt.Errorf("path %q: unsupported token %%%c", s, s[i])
			}
		}
		s = b.String()
	}
	return expandTilde(s)
}

// expandTilde expands "~" and "~/..." to the home directory and "~user/..."
// to that user's.
func expandTilde(p string) (string, error) {
	if !strings.HasPrefix(p, "~") {
		return p, nil
	}
	name, rest, _ := strings.Cut(p[1:], "/")
	var home string
	if name == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("expand %q: %w", p, err)
		}
		home = h
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			return "", fmt.Errorf("expand %q: %w", p, err)
		}
		home = u.HomeDir
	}
	if rest == "" {
		return home, nil
	}
	return filepath.Join(home, rest), nil
}

// logf reports a warning. The default prefix says what it is; a caller's
// Logf adds its own.
func (c Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
		return
	}
	log.Printf("goprov: warning: "+format, args...)
}
