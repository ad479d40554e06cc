package transport

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// DefaultMaxOutput is how many bytes one command may print (stdout and
// stderr together) unless configured otherwise: far above any honest probe,
// far below what would exhaust the controller.
const DefaultMaxOutput int64 = 64 << 20

// OutputLimitError says a command printed more than its budget. The
// command was stopped; what it printed is dropped.
type OutputLimitError struct{ Limit int64 }

func (e *OutputLimitError) Error() string {
	return fmt.Sprintf("host printed more than %d bytes in one command (limit -max-output); command stopped", e.Limit)
}

// OutputLimit is the most one command on t may print (-max-output), for
// callers that read a command's output from a stream of their own (see
// Cmd.Stdout): DefaultMaxOutput unless t says otherwise.
func OutputLimit(t Transport) int64 {
	if l, ok := t.(interface{ MaxOutputBytes() int64 }); ok && l.MaxOutputBytes() > 0 {
		return l.MaxOutputBytes()
	}
	return DefaultMaxOutput
}

// Budget bounds what one command may return, so a compromised host cannot
// fill the controller's memory: every writer it wraps draws on one
// allowance; the first write beyond it fails and closes Exceeded, so the
// transport can stop the command.
type Budget struct {
	mu    sync.Mutex
	limit int64
	left  int64
	over  chan struct{}
	once  sync.Once
}

// NewBudget allows limit bytes (DefaultMaxOutput when limit <= 0).
func NewBudget(limit int64) *Budget {
	if limit <= 0 {
		limit = DefaultMaxOutput
	}
	return &Budget{limit: limit, left: limit, over: make(chan struct{})}
}

// Wrap returns a writer that passes bytes on to w while the budget lasts.
func (b *Budget) Wrap(w io.Writer) io.Writer { return &budgetWriter{b: b, w: w} }

// Exceeded is closed once the budget is spent and more was written.
func (b *Budget) Exceeded() <-chan struct{} { return b.over }

// Err is an *OutputLimitError once the budget is exceeded, else nil.
func (b *Budget) Err() error {
	select {
	case <-b.over:
		return &OutputLimitError{Limit: b.limit}
	default:
		return nil
	}
}

func (b *Budget) take(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if int64(n) > b.left {
		b.left = 0
		b.once.Do(func() { close(b.over) })
		return false
	}
	b.left -= int64(n)
	return true
}

type budgetWriter struct {
	b *Budget
	w io.Writer
}

func (w *budgetWriter) Write(p []byte) (int, error) {
	if !w.b.take(len(p)) {
		return 0, w.b.Err()
	}
	return w.w.Write(p)
}

// limitContext returns a context cancelled as soon as b is exceeded, for
// transports that stop a command by cancelling it (os/exec).
func limitContext(ctx context.Context, b *Budget) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-b.Exceeded():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
