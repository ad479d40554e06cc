// Package transport moves commands and bytes to a host. It knows nothing of
// resources: a resource builds a POSIX sh script and hands it over.
package transport

import (
	"context"
	"fmt"
	"io"
)

// Transport runs commands on one host. Implementations: Local (this machine,
// optionally a root directory) and SSH.
type Transport interface {
	// Run executes c. The error is non-nil only when the command could not be
	// run or its result could not be collected (connection lost, context
	// cancelled); a command that ran and exited non-zero is a Result.
	Run(ctx context.Context, c Cmd) (Result, error)
	Close() error
}

// Cmd is one POSIX sh script. Every value interpolated into Script must go
// through shell.Quote; file contents and secrets travel on Stdin, never in
// Script, so they never show up in a process list.
type Cmd struct {
	Script string
	Stdin  io.Reader
	Sudo   bool // run privileged (sudo on SSH hosts; as-is when already root)
	// Stdout, when set, receives stdout as it arrives, instead of
	// Result.Stdout (which then stays empty), for commands that print for
	// as long as they run, such as the host lock's holder: the transport
	// keeps none of it and does not count it against -max-output, so the
	// writer must bound what it keeps itself. Stderr is still collected
	// and capped.
	Stdout io.Writer
	// ReadOnly says the script only reads (a plan's batched read). On an
	// image root the local transport then mounts the image read-only: the
	// kernel itself keeps a plan from writing there.
	ReadOnly bool
	// Network says the command may use the network (apt's download phase
	// in an image). Honoured by image-root sandboxes only when the
	// operator allowed it (Local.AllowNetwork, from -root-network); every
	// other command there runs with no network. SSH hosts have their own
	// network anyway: it changes nothing there.
	Network bool
}

// Result of a command that ran.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Err turns a non-zero exit into an error carrying what the command printed
// on stderr, for callers that treat any failure as fatal.
func (r Result) Err(what string) error {
	if r.ExitCode == 0 {
		return nil
	}
	msg := trimOutput(r.Stderr)
	if msg == "" {
		msg = trimOutput(r.Stdout)
	}
	if msg == "" {
		return fmt.Errorf("%s: exit status %d", what, r.ExitCode)
	}
	return fmt.Errorf("%s: exit status %d: %s", what, r.ExitCode, msg)
}

func trimOutput(b []byte) string {
	const max = 2000
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
