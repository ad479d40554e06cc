package transport

import (
	"bytes"
	"errors"
	"testing"
)

func TestBudget(t *testing.T) {
	b := NewBudget(10)
	var out, errOut bytes.Buffer
	o, e := b.Wrap(&out), b.Wrap(&errOut)
	for _, w := range []struct {
		w    interface{ Write([]byte) (int, error) }
		s    string
		fail bool
	}{{o, "12345", false}, {e, "1234", false}, {o, "1", false}, {e, "x", true}, {o, "y", true}} {
		_, err := w.w.Write([]byte(w.s))
		var le *OutputLimitError
		if got := errors.As(err, &le); got != w.fail {
			t.Errorf("write %q: err %v, want failure %t", w.s, err, w.fail)
		}
	}
	if out.String() != "123451" || errOut.String() != "1234" {
		t.Errorf("kept %q %q", out.String(), errOut.String())
	}
	select {
	case <-b.Exceeded():
	default:
		t.Error("Exceeded not closed")
	}
	if err := b.Err(); err == nil || err.Error() != "host printed more than 10 bytes in one command (limit -max-output); command stopped" {
		t.Errorf("Err = %v", err)
	}
}
