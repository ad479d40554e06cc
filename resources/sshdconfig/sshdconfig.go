// Package sshdconfig manages sshd drop-ins, /etc/ssh/sshd_config.d/NAME.conf.
//
// The candidate is checked with the whole configuration (`sshd -t` on a
// copy of the main config whose sshd_config.d include points at the live
// drop-ins with this one replaced) before it goes live, and the plan shows
// what sshd will really use (`sshd -T`, with -C for goprov's own login):
// sshd takes the FIRST value it reads for most keywords, so a setting an
// earlier file already makes is noted, never reported as applied.
//
// It never locks goprov out: a change whose effective configuration would
// refuse goprov's login user, its authentication method or its port is
// refused at plan; at apply sshd is reloaded and a NEW login must succeed,
// else the previous file is put back and sshd reloaded again (the
// resources.DeadMan pattern the firewall uses).
package sshdconfig

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// KindName is the resource kind's name in HCL.
const KindName = "sshd_config"

// Dir is where the drop-ins live; MainConfig must include Dir/*.conf.
const (
	Dir        = "/etc/ssh/sshd_config.d"
	MainConfig = "/etc/ssh/sshd_config"
	SSHD       = "/usr/sbin/sshd"
)

func init() { resources.Register(KindName, kind{}) }

var (
	nameRe    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	keywordRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)
)

type kind struct{}

func (kind) Spec() hcldec.Spec { return spec.Spec() }

// Setting is one keyword and its value.
type Setting struct {
	Keyword string // sshd's spelling: PasswordAuthentication
	Value   string // whitespace runs folded to one space
}

// File is a decoded sshd_config resource.
type File struct {
	Address  string
	Name     string
	Settings []Setting // sorted by Keyword
	Present  bool
}

// spec is what New checks as sysctl does (resources.KeyValueFile).
var spec = resources.KeyValueFile{
	Kind: KindName, Dir: Dir, Name: nameRe.MatchString, Attr: "settings",
	Key: "sshd keyword", Value: "sshd value",
	Empty: "No settings", EmptyDetail: `A present sshd_config needs at least one setting; to remove the file, write ensure = "absent".`,
	Canon:      Keyword,
	Same:       func(string) string { return "are the same keyword (sshd ignores case)" },
	CheckValue: checkValue,
	ValueLabel: func(_, keyword string) string { return keyword },
}

func (kind) New(address string, v cty.Value, body hcl.Body) (resources.Resource, hcl.Diagnostics) {
	name, present, kvs, diags := spec.Decode(v, body)
	f := &File{Address: address, Name: name, Present: present}
	for _, kv := range kvs {
		f.Settings = append(f.Settings, Setting{Keyword: kv.Canon, Value: kv.Value})
	}
	sort.Slice(f.Settings, func(i, j int) bool { return f.Settings[i].Keyword < f.Settings[j].Keyword })
	return f, diags
}

// Keyword checks a keyword against sshd's list (case-insensitively, as
// sshd reads them) and returns sshd's spelling.
func Keyword(k string) (string, error) {
	if !keywordRe.MatchString(k) {
		return "", fmt.Errorf("not an sshd keyword: letters and digits only")
	}
	switch strings.ToLower(k) {
	case "match":
		return "", fmt.Errorf("Match blocks are not supported: a drop-in's settings apply to every connection; put conditional settings in a file of their own outside goprov, or use AllowUsers/AllowGroups")
	case "include":
		return "", fmt.Errorf("Include is not supported: goprov checks the settings it writes, not files they would pull in")
	}
	kw, ok := keywords[strings.ToLower(k)]
	if !ok {
		return "", fmt.Errorf("not a keyword OpenSSH's sshd knows (see sshd_config(5))")
	}
	return kw, nil
}

// checkValue refuses what cannot be one line of sshd_config.
func checkValue(v string) (string, error) {
	for _, r := range v {
		if r == '\n' || r == '\r' {
			return "", fmt.Errorf("a newline would start another setting; one line per keyword (several values: separate them with spaces)")
		}
		if r < 0x20 && r != '\t' || r == 0x7f {
			return "", fmt.Errorf("control characters (NUL, …) cannot be written to sshd_config")
		}
	}
	n := strings.Join(strings.Fields(v), " ")
	switch strings.ToLower(n) {
	case "":
		return "", fmt.Errorf("empty value; to stop managing the keyword, remove it from settings")
	case "true", "false":
		return "", fmt.Errorf("%q is not a value sshd takes: write yes or no", n)
	}
	for _, w := range strings.Fields(n) {
		// sshd ends a line at a word starting with '#': the rest would
		// be silently dropped.
		if strings.HasPrefix(w, "#") {
			return "", fmt.Errorf("a word starting with '#' starts a comment for sshd, which ignores the rest of the line")
		}
	}
	return n, nil
}

// repeated are keywords sshd takes one value per line and accumulates:
// a space-separated value becomes one line each.
var repeated = map[string]bool{"Port": true, "ListenAddress": true, "HostKey": true, "HostCertificate": true}

// Path is the file on the host.
func (f *File) Path() string { return Dir + "/" + f.Name + ".conf" }

// Render produces the file: sorted keywords, sshd's spelling, so an
// unchanged configuration gives byte-identical content.
func (f *File) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by goprov (%s). Local edits are overwritten on the next apply.\n", f.Address)
	for _, s := range f.Settings {
		if repeated[s.Keyword] {
			for _, v := range strings.Fields(s.Value) {
				fmt.Fprintf(&b, "%s %s\n", s.Keyword, v)
			}
			continue
		}
		fmt.Fprintf(&b, "%s %s\n", s.Keyword, s.Value)
	}
	return b.String()
}

func (f *File) desired() *resources.DesiredFile {
	if !f.Present {
		return nil
	}
	return &resources.DesiredFile{Path: f.Path(), Content: []byte(f.Render()), Mode: 0o644}
}

// keywords are sshd_config(5)'s keywords (OpenSSH 9.x/10.x, with Debian's
// GSSAPI additions and old aliases), by lower case. A keyword the host's
// sshd does not know is caught by `sshd -t` at plan.
var keywords = func() map[string]string {
	m := map[string]string{}
	for _, k := range strings.Fields(`AcceptEnv AddressFamily AllowAgentForwarding AllowGroups
AllowStreamLocalForwarding AllowTcpForwarding AllowUsers AuthenticationMethods AuthorizedKeysCommand
AuthorizedKeysCommandUser AuthorizedKeysFile AuthorizedPrincipalsCommand AuthorizedPrincipalsCommandUser
AuthorizedPrincipalsFile Banner CASignatureAlgorithms ChallengeResponseAuthentication ChannelTimeout
ChrootDirectory Ciphers ClientAliveCountMax ClientAliveInterval Compression DenyGroups DenyUsers
DisableForwarding ExposeAuthInfo FingerprintHash ForceCommand GatewayPorts GSSAPIAuthentication
GSSAPICleanupCredentials GSSAPIKexAlgorithms GSSAPIKeyExchange GSSAPIStoreCredentialsOnRekey
GSSAPIStrictAcceptorCheck HostbasedAcceptedAlgorithms HostbasedAcceptedKeyTypes HostbasedAuthentication
HostbasedUsesNameFromPacketOnly HostCertificate HostKey HostKeyAgent HostKeyAlgorithms IgnoreRhosts
IgnoreUserKnownHosts IPQoS KbdInteractiveAuthentication KerberosAuthentication KerberosGetAFSToken
KerberosOrLocalPasswd KerberosTicketCleanup KexAlgorithms ListenAddress LoginGraceTime LogLevel LogVerbose
MACs MaxAuthTries MaxSessions MaxStartups ModuliFile PasswordAuthentication PermitEmptyPasswords
PermitListen PermitOpen PermitRootLogin PermitTTY PermitTunnel PermitUserEnvironment PermitUserRC
PerSourceMaxStartups PerSourceNetBlockSize PerSourcePenalties PerSourcePenaltyExemptList PidFile Port
PrintLastLog PrintMotd PubkeyAcceptedAlgorithms PubkeyAcceptedKeyTypes PubkeyAuthentication
PubkeyAuthOptions RDomain RefuseConnection RekeyLimit RequiredRSASize RevokedKeys SecurityKeyProvider
SetEnv SshdAuthPath SshdSessionPath StreamLocalBindMask StreamLocalBindUnlink StrictModes Subsystem
SyslogFacility TCPKeepAlive TrustedUserCAKeys UnusedConnectionTimeout UseDNS UsePAM VersionAddendum
X11DisplayOffset X11Forwarding X11UseLocalhost XAuthLocation`) {
		m[strings.ToLower(k)] = k
	}
	return m
}()
