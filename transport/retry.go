package transport

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// ErrConnectTimeout is wrapped by transports when a connection attempt
// (TCP connect or handshake) ran out of its own time, as opposed to the
// caller's context ending.
var ErrConnectTimeout = errors.New("connect timed out")

// Transient reports whether a connection error is one a loaded or
// restarting host gives and a new attempt may not: refused (a reloading
// sshd is briefly not listening), dropped before or during the handshake
// (sshd's MaxStartups), reset, or timed out. Authentication, host key and
// configuration errors are not transient.
func Transient(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || Dropped(err)
}

// Dropped is Transient without "refused": a host that is up but
// overloaded. A refused port is usually a wrong port or a stopped sshd,
// which waiting does not fix.
func Dropped(err error) bool {
	return errors.Is(err, ErrConnectTimeout) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.ETIMEDOUT)
}
