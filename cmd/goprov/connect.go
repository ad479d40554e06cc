package main

import (
	"context"
	"fmt"
	"io"

	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/transport"
)

// connector opens transports for the planner; it alone holds the run's
// secrets (the sudo password), so they never reach plans or views.
type connector struct {
	sshConfigs []string
	becomePass string
	stderr     io.Writer
}

func newConnector(sshConfigs []string, askBecomePass bool, stderr io.Writer) (*connector, error) {
	c := &connector{sshConfigs: sshConfigs, stderr: stderr}
	pass, err := becomePassword(askBecomePass, c)
	if err != nil {
		return nil, err
	}
	c.becomePass = pass
	return c, nil
}

func (c *connector) Connect(ctx context.Context, h planner.HostSpec) (transport.Transport, error) {
	switch h.Connection {
	case "local":
		return transport.NewLocal(), nil
	case "ssh":
		return c.dialSSH(ctx, h)
	}
	return nil, fmt.Errorf("unknown connection %q", h.Connection)
}
