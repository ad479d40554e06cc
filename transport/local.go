package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// Local runs commands on this machine with /bin/sh. The root directory a
// golden-image host is built in is not the transport's business: resources
// prefix their paths with the host's root; the commands themselves run here.
type Local struct {
	MaxOutput int64 // bytes one command may print; 0: DefaultMaxOutput
}

// NewLocal returns a transport for this machine.
func NewLocal() *Local { return &Local{} }

// Run implements Transport.
func (l *Local) Run(ctx context.Context, c Cmd) (Result, error) {
	argv := []string{"/bin/sh", "-c", c.Script}
	if c.Sudo && os.Geteuid() != 0 {
		// Never prompt: a local run that needs a password must be started
		// with sudo by the operator.
		argv = append([]string{"sudo", "-n", "--"}, argv...)
	}
	budget := NewBudget(l.MaxOutput)
	ctx, cancel := limitContext(ctx, budget)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = c.Stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = budget.Wrap(&stdout), budget.Wrap(&stderr)
	if c.Stdout != nil {
		cmd.Stdout = budget.Wrap(io.MultiWriter(&stdout, c.Stdout))
	}
	err := cmd.Run()
	if err := budget.Err(); err != nil {
		return Result{}, fmt.Errorf("local: %w", err)
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		res.ExitCode = exitErr.ExitCode()
	case ctx.Err() != nil:
		return res, fmt.Errorf("local: %w", ctx.Err())
	default:
		return res, fmt.Errorf("local: run /bin/sh: %w", err)
	}
	return res, nil
}

// Close implements Transport.
func (l *Local) Close() error { return nil }
