package testinfra

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// These run without root.

func TestSubnetFor(t *testing.T) {
	tests := []struct {
		id   int
		want string
	}{{1, "10.200.0"}, {250, "10.200.249"}, {251, "10.201.0"}, {maxLabID, "10.249.249"}}
	for _, tt := range tests {
		if got := subnetFor(tt.id); got != tt.want {
			t.Errorf("subnetFor(%d) = %s, want %s", tt.id, got, tt.want)
		}
	}
}

func TestOverlaps(t *testing.T) {
	cidr := func(s string) *net.IPNet { _, n, _ := net.ParseCIDR(s); return n }
	lab := cidr("10.200.3.0/24")
	tests := []struct {
		taken string
		want  bool
	}{
		{"10.0.0.0/8", true},      // a wider route covers the lab
		{"10.200.3.128/25", true}, // a narrower one inside it
		{"10.200.3.7/32", true},   // one address
		{"10.200.4.0/24", false},  // the neighbour
		{"192.168.0.0/16", false}, // unrelated
	}
	for _, tt := range tests {
		if got := overlaps(lab, []*net.IPNet{cidr(tt.taken)}); got != tt.want {
			t.Errorf("overlaps(%s) = %v, want %v", tt.taken, got, tt.want)
		}
	}
}

func TestShq(t *testing.T) {
	for _, s := range []string{"", "plain", "a b", OpsPassword, `'`, `\'$x"`} {
		out, err := exec.Command("sh", "-c", "printf %s "+shq(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("shq(%q) round trip: %q %v", s, out, err)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/a\040b\011c`); got != "/a b\tc" {
		t.Errorf("got %q", got)
	}
}

func TestReadProcSelf(t *testing.T) {
	p, err := readProc(os.Getpid())
	if err != nil || p.PPID != os.Getppid() || p.Start == 0 {
		t.Fatalf("readProc(self) = %+v, %v", p, err)
	}
	if !alive(os.Getpid(), p.Start) || alive(os.Getpid(), p.Start+1) {
		t.Error("alive does not tell a reused PID apart")
	}
}
