package ssh

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseJump(t *testing.T) {
	hop := func(user, host string, port int) Config {
		return Config{Name: host, Address: host, User: user, Port: port}
	}
	tests := []struct {
		spec    string
		want    []Config
		wantErr bool
	}{
		{spec: "bastion", want: []Config{hop("", "bastion", 0)}},
		{spec: "user@host:2222,host2", want: []Config{hop("user", "host", 2222), hop("", "host2", 0)}},
		{spec: "a,b,c", want: []Config{hop("", "a", 0), hop("", "b", 0), hop("", "c", 0)}},
		{spec: "ssh://ops@jump.example.com:22", want: []Config{hop("ops", "jump.example.com", 22)}},
		{spec: "10.0.0.1", want: []Config{hop("", "10.0.0.1", 0)}},
		{spec: "[2001:db8::1]:2200", want: []Config{hop("", "2001:db8::1", 2200)}},
		{spec: "deploy@[fe80::1%eth0]", want: []Config{hop("deploy", "fe80::1%eth0", 0)}},
		{spec: "2001:db8::1", want: []Config{hop("", "2001:db8::1", 0)}},
		{spec: "none", want: nil},
		{spec: "NONE", want: nil},
		{spec: "user_1.x-y@h_1", want: []Config{hop("user_1.x-y", "h_1", 0)}},

		{spec: "", wantErr: true},
		{spec: "a,,b", wantErr: true},
		{spec: "a,", wantErr: true},
		{spec: "host name", wantErr: true},
		{spec: " host", wantErr: true},
		{spec: "host;rm -rf /", wantErr: true},
		{spec: "$(touch /tmp/pwned)", wantErr: true},
		{spec: "`id`", wantErr: true},
		{spec: "h'x", wantErr: true},
		{spec: "h\"x", wantErr: true},
		{spec: "h|x", wantErr: true},
		{spec: "h&x", wantErr: true},
		{spec: "h\nx", wantErr: true},
		{spec: "-oProxyCommand=sh", wantErr: true},
		{spec: "u@-host", wantErr: true},
		{spec: "-u@host", wantErr: true},
		{spec: "u@h@x", wantErr: true},
		{spec: "@host", wantErr: true},
		{spec: "host:", wantErr: true},
		{spec: "host:0", wantErr: true},
		{spec: "host:65536", wantErr: true},
		{spec: "host:+22", wantErr: true},
		{spec: "host:22x", wantErr: true},
		{spec: "[::1", wantErr: true},
		{spec: "[notip]:22", wantErr: true},
		{spec: "[::1]x", wantErr: true},
		{spec: "a:b:c", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseJump(tt.spec)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseJump(%q) = %v, want an error", tt.spec, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseJump(%q): %v", tt.spec, err)
			continue
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("ParseJump(%q) (-want +got):\n%s", tt.spec, d)
		}
	}
}
