package ssh

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/goprov/goprov/transport"
)

// Back-off between attempts at one hop: doubling from firstBackoff up to
// maxBackoff, each wait drawn from [½, 1] of the step so that hundreds of
// hosts that timed out together do not come back together.
const (
	firstBackoff = 250 * time.Millisecond
	maxBackoff   = 4 * time.Second
)

// maxHandshakes bounds the handshakes this process has in flight at once.
// With -parallel 200 every host would otherwise start its key exchange at
// the same moment; on a loaded network or controller all of them then
// crawl, time out together and retry together. A handshake takes a few
// milliseconds of controller CPU, so 32 at a time still opens hundreds of
// connections per second. An attempt's timeout starts once it holds a slot:
// waiting here is never mistaken for a slow host.
const maxHandshakes = 32

var handshakeSlots = make(chan struct{}, maxHandshakes)

// timeoutError is one attempt running out of its own time (not the
// caller's context).
type timeoutError struct{ d time.Duration }

func (e timeoutError) Error() string { return fmt.Sprintf("timed out after %s", e.d) }
func (e timeoutError) Unwrap() error { return transport.ErrConnectTimeout }

// dialRetry is dialHop tried again, with back-off, while the failure is
// one an overloaded host gives (a handshake that timed out, a connection
// dropped before or during the handshake: sshd's MaxStartups, a listen
// queue overflow) and h.deadline has not passed. Anything else — refused,
// host key, authentication, the caller's ctx — returns at once.
func dialRetry(ctx context.Context, prev *gossh.Client, h *hop) (*gossh.Client, error) {
	var start, deadline time.Time
	step := firstBackoff
	var last error
	for attempt := 1; ; attempt++ {
		select {
		case handshakeSlots <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("connect %s: %w (waiting for a handshake slot)", h.addr(), ctx.Err())
		}
		if attempt == 1 {
			start = time.Now()
			deadline = start.Add(h.deadline)
		}
		timeout := min(h.timeout, time.Until(deadline))
		if attempt > 1 && timeout < min(h.timeout, time.Second)/2 {
			// The wait for a slot used up the deadline.
			<-handshakeSlots
			return nil, fmt.Errorf("%w (%d attempts in %s)", last, attempt-1, time.Since(start).Round(10*time.Millisecond))
		}
		c, err := dialHop(ctx, prev, h, timeout)
		<-handshakeSlots
		if err != nil && ctx.Err() != nil && last != nil {
			// The caller gave up: keep its error, and say what the
			// attempts before met.
			return nil, fmt.Errorf("%w (after %d attempts; before: %v)", err, attempt, last)
		}
		if err == nil || ctx.Err() != nil || !transport.Dropped(err) {
			return c, err
		}
		last = err
		wait := step/2 + rand.N(step/2+1)
		step = min(2*step, maxBackoff)
		// Another attempt only if it would get a fair share of time.
		if time.Until(deadline)-wait < min(h.timeout, time.Second)/2 {
			if attempt == 1 {
				return nil, err
			}
			return nil, fmt.Errorf("%w (%d attempts in %s)", err, attempt, time.Since(start).Round(10*time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect %s: %w (after %d attempts; last: %v)", h.addr(), ctx.Err(), attempt, err)
		case <-time.After(wait):
		}
	}
}
