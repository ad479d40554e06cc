// Package connect opens transports to hosts for the planner: local or SSH,
// with the run's secrets. It alone holds the sudo password, so the password
// never reaches plans, views or logs.
package connect

import (
	"context"
	"fmt"
	"io"

	"github.com/goprov/goprov/internal/hostspec"
	"github.com/goprov/goprov/transport"
)

// Connector implements planner.Connector.
type Connector struct {
	SSHConfigs     []string  // -ssh-config files, read before ~/.ssh/config
	BecomePassword string    // sudo password; never printed
	Warnings       io.Writer // where transport warnings go (nil: discarded)
	MaxOutput      int64     // bytes one command may print (-max-output); 0: transport.DefaultMaxOutput
	RootNetwork    bool      // -root-network: image roots' commands that ask for the network get it
}

// New returns a connector; with askBecomePass it asks for the sudo password
// once on the terminal, else it takes $GOPROV_BECOME_PASSWORD.
func New(sshConfigs []string, askBecomePass bool, warnings io.Writer) (*Connector, error) {
	c := &Connector{SSHConfigs: sshConfigs, Warnings: warnings}
	pass, err := becomePassword(askBecomePass)
	if err != nil {
		return nil, err
	}
	c.BecomePassword = pass
	return c, nil
}

// Connect implements planner.Connector.
func (c *Connector) Connect(ctx context.Context, h hostspec.Spec) (transport.Transport, error) {
	switch h.Connection {
	case "local":
		l := transport.NewLocalRoot(h.Root)
		l.MaxOutput = c.MaxOutput
		l.AllowNetwork = c.RootNetwork
		return l, nil
	case "ssh":
		return c.dialSSH(ctx, h)
	}
	return nil, fmt.Errorf("unknown connection %q", h.Connection)
}
