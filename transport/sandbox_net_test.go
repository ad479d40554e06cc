package transport

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/goprov/goprov/testinfra"
)

// TestSandboxNetwork: an image's script gets this machine's network only
// when it asks for it (Cmd.Network) and the operator allowed it
// (AllowNetwork); even then it cannot reach this machine's abstract UNIX
// sockets, which belong to the network namespace it now shares (the
// probe does reach that socket when run on this machine).
func TestSandboxNetwork(t *testing.T) {
	root, _ := testinfra.ImageRoot(t) // a Debian root: bash and perl
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	name := fmt.Sprintf("goprov-sandbox-test-%d", os.Getpid())
	unix, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close()
	// perl-base's Socket, as the image's sh is dash (no /dev/tcp).
	probe := fmt.Sprintf(`perl -MSocket -e '
socket(my $t, AF_INET, SOCK_STREAM, 0) or die "socket: $!";
print connect($t, pack_sockaddr_in(%d, inet_aton("127.0.0.1"))) ? "tcp reached\n" : "tcp unreachable\n";
socket(my $u, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
print connect($u, pack_sockaddr_un("\0%s")) ? "unix reached\n" : "unix refused\n"'
`, tcp.Addr().(*net.TCPAddr).Port, name)

	out, err := exec.Command("sh", "-c", probe).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "unix reached") {
		t.Fatalf("the probe does not reach the socket from this machine itself (%v %q): it would prove nothing", err, out)
	}
	for _, tc := range []struct {
		name           string
		allow, network bool
		want           string
	}{
		{"not asked, not allowed", false, false, "tcp unreachable\nunix refused\n"},
		{"asked, not allowed", false, true, "tcp unreachable\nunix refused\n"},
		{"allowed, not asked", true, false, "tcp unreachable\nunix refused\n"},
		{"asked and allowed", true, true, "tcp reached\nunix refused\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLocalRoot(root)
			l.AllowNetwork = tc.allow
			res, err := l.Run(context.Background(), Cmd{Script: probe, Network: tc.network})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(res.Stdout); got != tc.want || res.ExitCode != 0 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %q", res.ExitCode, got, res.Stderr, tc.want)
			}
		})
	}
}
