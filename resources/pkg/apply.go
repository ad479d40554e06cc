package pkg

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// Apply implements resources.Resource: one apt-get run (after a refresh
// of the index when it is missing or stale), then the state read again
// and diffed, so "applied" means dpkg says so. In an image's sandbox an
// install is two runs: apt's download phase, the one that may use the
// network (-root-network), then the install itself with none, so the
// image's maintainer scripts never have it.
func (p *Packages) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	if ch.Action == resources.NoOp {
		return nil
	}
	st, err := parse(ch.Current)
	if err != nil {
		return err
	}
	pl := p.decide(st)
	if pl.empty() {
		return nil
	}
	apt := p.aptCommand(h)
	if !h.Sandboxed() || len(pl.remove) > 0 {
		if err := runApt(ctx, h, transport.Cmd{Script: p.script(apt, pl, phaseAll), Sudo: true}); err != nil {
			return err
		}
		return p.verify(ctx, h)
	}
	download := transport.Cmd{Script: p.script(apt, pl, phaseDownload), Sudo: true, Network: true}
	if err := runApt(ctx, h, download); err != nil {
		if !networkAllowed(h) {
			err = fmt.Errorf("%w (the image's sandbox has no network: if apt must download, run goprov apply with -root-network, which gives apt's download phase this machine's network while maintainer scripts stay offline; or use a file: source inside the image)", err)
		}
		return err
	}
	// No network: only what the download phase fetched (or a file:
	// source inside the image) can be installed. Not --no-download: with
	// a file: source apt then fails ("Pathname to install is not
	// absolute"), as it never copies those .debs into its cache.
	if err := runApt(ctx, h, transport.Cmd{Script: p.script(apt, pl, phaseInstall), Sudo: true}); err != nil {
		return err
	}
	return p.verify(ctx, h)
}

func runApt(ctx context.Context, h *resources.Host, c transport.Cmd) error {
	res, err := h.Run(ctx, c)
	if err != nil {
		return fmt.Errorf("apt-get: %w", err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("apt-get failed (exit %d): %s", res.ExitCode, aptMessage(res.Stderr))
	}
	return nil
}

// networkAllowed reports whether h's transport gives commands that ask for
// it the network (an image root with -root-network).
func networkAllowed(h *resources.Host) bool {
	n, ok := h.T.(interface{ NetworkAllowed() bool })
	return ok && n.NetworkAllowed()
}

// aptCommand is apt-get with the options of every run on h.
func (p *Packages) aptCommand(h *resources.Host) string {
	opts := []string{"-q", "-o", "DPkg::Lock::Timeout=" + strconv.Itoa(int((p.LockWait.Seconds())+0.999))}
	if h.Sandboxed() {
		// An image's sandbox is a user namespace where apt's download
		// user _apt is not mapped: apt would fail to drop to it.
		opts = append(opts, "-o", "APT::Sandbox::User=root")
	}
	return "apt-get " + quoteAll(opts)
}

// phase is which part of an install one apt run does.
type phase int

const (
	phaseAll      phase = iota // refresh the index when due, download, install
	phaseDownload              // refresh the index when due, download only
	phaseInstall               // install what is downloaded
)

// script is one apt run: a removal, or the phase of an install. apt's own
// output goes to stderr, whose tail is the error on failure.
func (p *Packages) script(apt string, pl plan, ph phase) string {
	var b strings.Builder
	b.WriteString("export DEBIAN_FRONTEND=noninteractive LC_ALL=C\nexec >&2\n")
	if len(pl.remove) > 0 {
		fmt.Fprintf(&b, "%s -y remove %s\n", apt, quoteAll(pl.remove))
		return b.String()
	}
	if ph != phaseInstall {
		// The index is refreshed only when missing or older than MaxAge:
		// an unreachable mirror then does not stop an install it is not
		// needed for, and a plan never refreshes it (a plan writes nothing).
		fmt.Fprintf(&b, `newest=$(find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock -printf '%%T@\n' 2>/dev/null | sort -n | tail -n 1)
newest=${newest%%.*}
if [ -z "$newest" ] || [ $(( $(date +%%s) - newest )) -ge %d ]; then
  %s update || { echo 'E: apt-get update failed; nothing was installed'; exit 1; }
fi
`, int64(p.MaxAge.Seconds()), apt)
	}
	install := []string{"-y", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}
	if ph == phaseDownload {
		install = append(install, "--download-only")
	}
	if p.Recommends {
		install = append(install, "-o", "APT::Install-Recommends=true")
	} else {
		install = append(install, "--no-install-recommends")
	}
	var names []string
	names = append(names, pl.install...)
	names = append(names, pl.configure...)
	if p.Version != "" {
		install = append(install, "--allow-downgrades")
		names = []string{p.Names[0] + "=" + p.Version}
	}
	fmt.Fprintf(&b, "%s %s install %s\n", apt, quoteAll(install), quoteAll(names))
	return b.String()
}

func quoteAll(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = shell.Quote(x)
	}
	return strings.Join(q, " ")
}

// aptMessage is the end of apt's output: the "E:" lines and what the
// failing maintainer script printed come last.
func aptMessage(out []byte) string {
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	const keep = 12
	if len(lines) > keep {
		lines = lines[len(lines)-keep:]
	}
	if len(lines) == 0 {
		return "no output"
	}
	return strings.Join(lines, "; ")
}

// verify reads the packages again: anything still to do is an error
// naming what dpkg says.
func (p *Packages) verify(ctx context.Context, h *resources.Host) error {
	res, err := h.Run(ctx, transport.Cmd{Script: p.Probe(h), Sudo: true, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("verify with dpkg-query: %w", err)
	}
	if err := res.Err("verify with dpkg-query"); err != nil {
		return err
	}
	ch, err := p.Diff(h, res.Stdout)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if ch.Action != resources.NoOp {
		return fmt.Errorf("apt-get succeeded but dpkg-query still shows work to do: %s", ch.Summary)
	}
	return nil
}
