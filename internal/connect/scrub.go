package connect

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// scrubInitialEnv overwrites the value of name in the environment block
// the kernel shows as /proc/self/environ. os.Unsetenv only changes Go's
// copy of the environment; the block goprov was started with stays in its
// memory, readable by the same user and by root for as long as goprov
// runs. Go copied the block at start-up and never reads it again, so it
// can be zeroed in place. Best effort: where /proc/self/mem cannot be
// written, only Go's copy is gone.
func scrubInitialEnv(name string) error {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return err
	}
	// Fields after the command name (which may hold spaces), from field 3.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return fmt.Errorf("unexpected /proc/self/stat")
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 49 {
		return fmt.Errorf("/proc/self/stat has no env_start/env_end")
	}
	start, err1 := strconv.ParseInt(fields[47], 10, 64) // field 50: env_start
	end, err2 := strconv.ParseInt(fields[48], 10, 64)   // field 51: env_end
	if err1 != nil || err2 != nil || end <= start || end-start > 16<<20 {
		return fmt.Errorf("/proc/self/stat: bad env_start/env_end")
	}
	mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer mem.Close()
	block := make([]byte, end-start)
	if _, err := mem.ReadAt(block, start); err != nil {
		return err
	}
	prefix := []byte(name + "=")
	for off := 0; off < len(block); {
		n := bytes.IndexByte(block[off:], 0)
		if n < 0 {
			n = len(block) - off
		}
		if bytes.HasPrefix(block[off:off+n], prefix) {
			zeros := make([]byte, n-len(prefix))
			if _, err := mem.WriteAt(zeros, start+int64(off+len(prefix))); err != nil {
				return err
			}
		}
		off += n + 1
	}
	return nil
}
