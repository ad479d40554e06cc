package connect

import (
	"os"
	"testing"
)

// TestBecomePasswordLeavesEnvironment: the password is read once, then gone
// from goprov's own environment, so no child can inherit it. (That
// /proc/PID/environ no longer shows it is TestBecomePasswordLeavesGoprovEnviron
// in cmd/goprov: only a real process start puts it in the initial block.)
func TestBecomePasswordLeavesEnvironment(t *testing.T) {
	t.Setenv("GOPROV_BECOME_PASSWORD", "pw-Zq81")
	c, err := New(nil, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.BecomePassword != "pw-Zq81" {
		t.Fatalf("password not read: %q", c.BecomePassword)
	}
	if v, ok := os.LookupEnv("GOPROV_BECOME_PASSWORD"); ok {
		t.Fatalf("GOPROV_BECOME_PASSWORD still in goprov's environment: %q", v)
	}
}
