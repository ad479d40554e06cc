package ssh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// vagrantSSHConfig is `vagrant ssh-config` output, verbatim in shape
// (including the quoted IdentityFile path with a space).
const vagrantSSHConfig = `Host default
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile "/home/me/my vms/.vagrant/machines/default/virtualbox/private_key"
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa
`

const fleetSSHConfig = `
Host bastion
  HostName 192.0.2.1
  User jumper
  Port 2200

Host web* !web9
  User deploy
  ProxyJump bastion
  IdentityFile ~/.ssh/fleet_%r
  UserKnownHostsFile ~/.ssh/fleet_known_hosts %d/.ssh/other_known
  StrictHostKeyChecking accept-new
  ConnectTimeout 3

Host web1
  HostName 10.0.0.11
  User ignored-because-web*-came-first

Host *.example.com
  HostName %h.internal
  Port 2022

Host chained
  ProxyJump ops@bastion:2201,10.0.0.5

Host looped
  ProxyJump looped

Host piped
  ProxyCommand nc %h %p

Host badstrict
  StrictHostKeyChecking sometimes
`

// resolved is the comparable view of a hop.
type resolved struct {
	Name, Host, User, Policy string
	Port                     int
	Identities               []string
	IdentitiesOnly           bool
	KnownHosts               []string
	Timeout                  time.Duration
	Warnings                 int
}

func view(h *hop) resolved {
	r := resolved{Name: h.name, Host: h.host, User: h.user, Policy: h.policy, Port: h.port,
		IdentitiesOnly: h.identitiesOnly, KnownHosts: h.knownHosts, Timeout: h.timeout, Warnings: len(h.warnings)}
	for _, id := range h.identities {
		r.Identities = append(r.Identities, id.path)
	}
	return r
}

// TestResolveChain stays whole: one table; its rows share the HOME and ssh_config files set up first.
func TestResolveChain(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USER", "me")
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := t.TempDir()
	fleet := filepath.Join(dir, "fleet.config")
	vagrant := filepath.Join(dir, "vagrant.ssh")
	override := filepath.Join(dir, "override.config")
	must(t, os.WriteFile(fleet, []byte(fleetSSHConfig), 0o600))
	must(t, os.WriteFile(vagrant, []byte(vagrantSSHConfig), 0o600))
	must(t, os.WriteFile(override, []byte("Host web2\n  Port 2202\n  User first\n"), 0o600))
	defKH := []string{filepath.Join(home, ".ssh/known_hosts")}
	defIDs := []string{filepath.Join(home, ".ssh/id_ed25519"), filepath.Join(home, ".ssh/id_ecdsa"), filepath.Join(home, ".ssh/id_rsa")}
	fleetKH := []string{filepath.Join(home, ".ssh/fleet_known_hosts"), filepath.Join(home, ".ssh/other_known")}
	bastion := resolved{Name: "bastion", Host: "192.0.2.1", User: "jumper", Port: 2200, Policy: PolicyStrict,
		Identities: defIDs, KnownHosts: defKH, Timeout: 10 * time.Second}

	tests := []struct {
		name    string
		cfg     Config
		want    []resolved
		wantErr string
	}{
		{
			name: "defaults without ssh_config",
			cfg:  Config{Name: "db1", Address: "10.0.0.20"},
			want: []resolved{{Name: "db1", Host: "10.0.0.20", User: localUser(), Port: 22, Policy: PolicyStrict,
				Identities: defIDs, KnownHosts: defKH, Timeout: 10 * time.Second}},
		},
		{
			name: "vagrant ssh-config",
			cfg:  Config{Name: "vm", Address: "default", SSHConfigFiles: []string{vagrant}},
			want: []resolved{{Name: "vm", Host: "127.0.0.1", User: "vagrant", Port: 2222, Policy: PolicyAcceptNew,
				Identities:     []string{"/home/me/my vms/.vagrant/machines/default/virtualbox/private_key"},
				IdentitiesOnly: true, KnownHosts: []string{"/dev/null"}, Timeout: 10 * time.Second, Warnings: 1}},
		},
		{
			name: "Host pattern, first match wins, ProxyJump from ssh_config",
			cfg:  Config{Name: "web1", SSHConfigFiles: []string{fleet}},
			want: []resolved{
				bastion,
				{Name: "web1", Host: "10.0.0.11", User: "deploy", Port: 22, Policy: PolicyAcceptNew,
					Identities: []string{filepath.Join(home, ".ssh/fleet_deploy")}, KnownHosts: fleetKH, Timeout: 3 * time.Second},
			},
		},
		{
			name: "negated pattern excludes web9",
			cfg:  Config{Name: "web9", SSHConfigFiles: []string{fleet}},
			want: []resolved{{Name: "web9", Host: "web9", User: localUser(), Port: 22, Policy: PolicyStrict,
				Identities: defIDs, KnownHosts: defKH, Timeout: 10 * time.Second}},
		},
		{
			name: "explicit values win over ssh_config, explicit jump replaces ProxyJump",
			cfg: Config{Name: "web1", Port: 2000, User: "root", IdentityFiles: []string{"~/k"}, KnownHosts: []string{"~/kh"},
				HostKeyPolicy: PolicyStrict, ConnectTimeout: time.Second, SSHConfigFiles: []string{fleet},
				Jump: []Config{{Address: "10.0.0.5", User: "j"}}},
			want: []resolved{
				{Name: "10.0.0.5", Host: "10.0.0.5", User: "j", Port: 22, Policy: PolicyStrict,
					Identities: []string{filepath.Join(home, "k")}, KnownHosts: []string{filepath.Join(home, "kh")}, Timeout: time.Second},
				{Name: "web1", Host: "10.0.0.11", User: "root", Port: 2000, Policy: PolicyStrict,
					Identities: []string{filepath.Join(home, "k"), filepath.Join(home, ".ssh/fleet_root")},
					KnownHosts: []string{filepath.Join(home, "kh")}, Timeout: time.Second},
			},
		},
		{
			name: "earlier ssh_config file wins",
			cfg:  Config{Name: "web2", SSHConfigFiles: []string{override, fleet}},
			want: []resolved{
				bastion,
				{Name: "web2", Host: "web2", User: "first", Port: 2202, Policy: PolicyAcceptNew,
					Identities: []string{filepath.Join(home, ".ssh/fleet_first")}, KnownHosts: fleetKH, Timeout: 3 * time.Second},
			},
		},
		{
			name: "HostName %h",
			cfg:  Config{Name: "a", Address: "app.example.com", SSHConfigFiles: []string{fleet}},
			want: []resolved{{Name: "a", Host: "app.example.com.internal", User: localUser(), Port: 2022, Policy: PolicyStrict,
				Identities: defIDs, KnownHosts: defKH, Timeout: 10 * time.Second}},
		},
		{
			name: "ProxyJump chain, first hop resolved through ssh_config",
			cfg:  Config{Name: "chained", SSHConfigFiles: []string{fleet}},
			want: []resolved{
				{Name: "bastion", Host: "192.0.2.1", User: "ops", Port: 2201, Policy: PolicyStrict,
					Identities: defIDs, KnownHosts: defKH, Timeout: 10 * time.Second},
				{Name: "10.0.0.5", Host: "10.0.0.5", User: localUser(), Port: 22, Policy: PolicyStrict,
					Identities: defIDs, KnownHosts: defKH, Timeout: 10 * time.Second},
				{Name: "chained", Host: "chained", User: localUser(), Port: 22, Policy: PolicyStrict,
					Identities: defIDs, KnownHosts: defKH, Timeout: 10 * time.Second},
			},
		},
		{name: "ProxyJump loop", cfg: Config{Name: "looped", SSHConfigFiles: []string{fleet}}, wantErr: "ProxyJump chain longer"},
		{name: "ProxyCommand refused", cfg: Config{Name: "piped", SSHConfigFiles: []string{fleet}}, wantErr: "ProxyCommand"},
		{name: "bad StrictHostKeyChecking", cfg: Config{Name: "badstrict", SSHConfigFiles: []string{fleet}}, wantErr: "StrictHostKeyChecking"},
		{name: "bad policy", cfg: Config{Name: "x", HostKeyPolicy: "yolo"}, wantErr: "host_key_policy"},
		{name: "missing -ssh-config file", cfg: Config{Name: "x", SSHConfigFiles: []string{filepath.Join(dir, "nope")}}, wantErr: "no such file"},
		{name: "address with space", cfg: Config{Name: "x", Address: "a b"}, wantErr: "invalid address"},
		{name: "address like an option", cfg: Config{Name: "x", Address: "-oProxyCommand=x"}, wantErr: "invalid address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hops, err := resolveChain(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []resolved
			for _, h := range hops {
				got = append(got, view(h))
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("resolved hops (-want +got):\n%s", d)
			}
		})
	}
}

func TestDefaultSSHConfigIsRead(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	must(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	must(t, os.WriteFile(filepath.Join(home, ".ssh/config"), []byte("Host h\n  User fromhome\n  Port 2\n"), 0o600))
	extra := filepath.Join(t.TempDir(), "extra")
	must(t, os.WriteFile(extra, []byte("Host h\n  Port 3\n"), 0o600))

	hops, err := resolveChain(Config{Name: "h", SSHConfigFiles: []string{extra}, UseDefaultSSHConfig: true})
	if err != nil {
		t.Fatal(err)
	}
	if h := hops[0]; h.user != "fromhome" || h.port != 3 {
		t.Errorf("user, port = %s, %d; want fromhome (from ~/.ssh/config), 3 (-ssh-config read first)", h.user, h.port)
	}
	hops, err = resolveChain(Config{Name: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if hops[0].port != 22 {
		t.Errorf("UseDefaultSSHConfig=false read ~/.ssh/config anyway (port %d)", hops[0].port)
	}
}

func TestStrictHostKeyCheckingMapping(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	for _, tc := range []struct{ value, policy string }{
		{"yes", PolicyStrict}, {"ask", PolicyStrict}, {"accept-new", PolicyAcceptNew}, {"no", PolicyAcceptNew}, {"off", PolicyAcceptNew},
	} {
		f := filepath.Join(t.TempDir(), "c")
		must(t, os.WriteFile(f, []byte("Host *\n  StrictHostKeyChecking "+tc.value+"\n"), 0o600))
		hops, err := resolveChain(Config{Name: "h", SSHConfigFiles: []string{f}})
		if err != nil {
			t.Fatal(err)
		}
		if hops[0].policy != tc.policy {
			t.Errorf("StrictHostKeyChecking %s → %s, want %s", tc.value, hops[0].policy, tc.policy)
		}
		if warned := len(hops[0].warnings) > 0; warned != (tc.value == "no" || tc.value == "off") {
			t.Errorf("StrictHostKeyChecking %s: warnings %q", tc.value, hops[0].warnings)
		}
		// An explicit policy overrides ssh_config.
		hops, err = resolveChain(Config{Name: "h", SSHConfigFiles: []string{f}, HostKeyPolicy: PolicyStrict})
		if err != nil {
			t.Fatal(err)
		}
		if hops[0].policy != PolicyStrict || len(hops[0].warnings) != 0 {
			t.Errorf("explicit strict with StrictHostKeyChecking %s → %s %q", tc.value, hops[0].policy, hops[0].warnings)
		}
	}
}

func TestConfigStringRedactsPassword(t *testing.T) {
	c := Config{Name: "web1", BecomePassword: "hunter2;$(x)"}
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password printed: %s", s)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestResolveCaseAndHostKeyAlias(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	f := filepath.Join(t.TempDir(), "c")
	must(t, os.WriteFile(f, []byte("Host web*\n  User deploy\n  HostKeyAlias fleet-web\n"), 0o600))
	hops, err := resolveChain(Config{Name: "x", Address: "WEB1.Example.com", SSHConfigFiles: []string{f}})
	must(t, err)
	// Matched case-insensitively, as OpenSSH does; dialled as written.
	if h := hops[0]; h.user != "deploy" || h.hostKeyAlias != "fleet-web" || h.host != "WEB1.Example.com" {
		t.Errorf("user %q, alias %q, host %q", h.user, h.hostKeyAlias, h.host)
	}
}
