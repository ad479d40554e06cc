package connect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/goprov/goprov/internal/hostspec"
	"github.com/goprov/goprov/internal/inert"
	"github.com/goprov/goprov/transport"
	sshtransport "github.com/goprov/goprov/transport/ssh"
)

func (c *Connector) sshConfig(h hostspec.Spec) sshtransport.Config {
	cfg := sshtransport.Config{
		Name:                h.Name,
		Address:             h.Address,
		Port:                h.Port,
		User:                h.User,
		HostKeyPolicy:       h.HostKeyPolicy,
		Become:              h.Become,
		BecomePassword:      c.BecomePassword,
		SSHConfigFiles:      c.SSHConfigs,
		UseDefaultSSHConfig: true,
		MaxOutput:           c.MaxOutput,
		Logf: func(format string, args ...any) {
			if c.Warnings != nil {
				// Values may come from ssh_config files or the host: inert.
				fmt.Fprintf(c.Warnings, "goprov: warning: %s\n", inert.Text(fmt.Sprintf(format, args...)))
			}
		},
	}
	if h.IdentityFile != "" {
		cfg.IdentityFiles = []string{h.IdentityFile}
	}
	if h.KnownHosts != "" {
		cfg.KnownHosts = []string{h.KnownHosts}
	}
	return cfg
}

func (c *Connector) dialSSH(ctx context.Context, h hostspec.Spec) (transport.Transport, error) {
	cfg := c.sshConfig(h)
	switch {
	case len(h.JumpChain) > 0:
		for _, j := range h.JumpChain {
			jc := c.sshConfig(j)
			jc.BecomePassword = "" // a hop only forwards
			cfg.Jump = append(cfg.Jump, jc)
		}
	case h.Jump != "":
		chain, err := sshtransport.ParseJump(h.Jump)
		if err != nil {
			return nil, fmt.Errorf("jump %q: %w", h.Jump, err)
		}
		cfg.Jump = chain
	}
	cl, err := sshtransport.Dial(ctx, cfg)
	if err != nil {
		return nil, err // the transport's errors name the host and the step
	}
	return cl, nil
}

// becomePassword returns the sudo password for this run: asked once on the
// terminal (no echo) with -ask-become-pass, else $GOPROV_BECOME_PASSWORD,
// else none (NOPASSWD sudo, or root logins).
func becomePassword(ask bool) (string, error) {
	// Read once, then gone from goprov's own environment (also when the
	// terminal is asked instead): no child can inherit it, and
	// /proc/PID/environ of goprov no longer shows it.
	pw, set := os.LookupEnv("GOPROV_BECOME_PASSWORD")
	if set {
		if err := os.Unsetenv("GOPROV_BECOME_PASSWORD"); err != nil {
			return "", fmt.Errorf("unset GOPROV_BECOME_PASSWORD: %w", err)
		}
		_ = scrubInitialEnv("GOPROV_BECOME_PASSWORD") // best effort, see there
	}
	if !ask {
		return pw, nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", errors.New("-ask-become-pass needs a terminal; in pipelines set GOPROV_BECOME_PASSWORD instead")
	}
	defer tty.Close()
	fmt.Fprint(tty, "BECOME password (sudo): ")
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return "", fmt.Errorf("read sudo password: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
