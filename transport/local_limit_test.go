package transport

import (
	"context"
	"strings"
	"testing"
)

// A command that prints more than the cap (default 64 MiB) fails with a
// clear error and is stopped; one within it returns everything.
func TestLocalOutputIsCapped(t *testing.T) {
	l := NewLocal()
	for _, tc := range []struct {
		script  string
		wantErr string
	}{
		{"head -c 1048576 /dev/zero", ""},
		{"head -c 80000000 /dev/zero", "host printed more than 67108864 bytes"},
		// Bounded, so that a regression costs 200 MB, not the machine.
		{"yes | head -c 200000000", "host printed more than 67108864 bytes"},
		{"yes | head -c 200000000 >&2", "host printed more than 67108864 bytes"},
	} {
		res, err := l.Run(context.Background(), Cmd{Script: tc.script})
		if tc.wantErr == "" {
			if err != nil || len(res.Stdout) != 1<<20 {
				t.Errorf("%s: %d bytes, err %v", tc.script, len(res.Stdout), err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: err %v (%d+%d bytes kept), want %q", tc.script, err, len(res.Stdout), len(res.Stderr), tc.wantErr)
		}
	}
}
