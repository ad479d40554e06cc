package main

import (
	"context"
	"errors"
	"io"

	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/transport"
)

// Placeholder until the SSH transport lands.
func (c *connector) dialSSH(ctx context.Context, h planner.HostSpec) (transport.Transport, error) {
	return nil, errors.New("ssh transport not available yet")
}

func becomePassword(ask bool, stderr io.Writer) (string, error) { return "", nil }
