package resources

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/goprov/goprov/transport"
)

// FileWrite is one file of a batched write.
type FileWrite struct {
	File DesiredFile
	Opt  WriteOptions
}

// BatchWriter is implemented by resources whose Apply of a change can be
// nothing but safe file writes. The planner then joins the writes of
// consecutive such changes of a host into one command (WriteFiles) instead
// of one or more per resource. Writes is pure: it sees the change (with
// ch.Current, the fresh read) and returns the files in order, or false
// when this change needs the resource's own Apply (a reload, a removal, a
// file another change of the same run may edit first).
type BatchWriter interface {
	Writes(h *Host, ch Change) ([]FileWrite, bool, error)
}

// statusTag starts the line on which the batch script reports a file's
// exit status; stderrTag the line that opens a file's stderr.
const (
	statusTag = "goprov-write"
	stderrTag = "\x1egoprov-file"
)

// WriteError is the failure of one file of WriteFiles.
type WriteError struct {
	Index int // the failing file; files before it are written, after it untouched
	Err   error
}

func (e *WriteError) Error() string { return e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// WriteFiles writes files in order in ONE command: every content travels
// in one stdin stream, and each file goes through WriteFile's script (temp
// file in its directory, size and SHA-256 check, fsync, owner and mode,
// validation, SELinux label, rename, directory fsync, After with restore)
// in a subshell of its own. The first failure stops the batch: it returns
// how many files were written and a *WriteError; the files after it are
// untouched. A cut connection leaves each file old or new, never a mix.
func WriteFiles(ctx context.Context, h *Host, ws []FileWrite) (int, error) {
	if len(ws) == 0 {
		return 0, nil
	}
	if len(ws) == 1 {
		// One file: its script as such, content to EOF.
		f := ws[0].File
		res, err := h.Run(ctx, transport.Cmd{Script: writeSection(h, f, ws[0].Opt, false), Stdin: bytes.NewReader(f.Content), Sudo: true})
		if err != nil {
			return 0, &WriteError{0, fmt.Errorf("write %s: %w", f.Path, err)}
		}
		if err := writeErr(f.Path, res.ExitCode, res.Stderr, res); err != nil {
			return 0, &WriteError{0, err}
		}
		return 1, nil
	}
	var b strings.Builder
	readers := make([]io.Reader, len(ws))
	for i, w := range ws {
		// A failing file ends the batch: the stream is not read further,
		// and nothing after it is touched.
		fmt.Fprintf(&b, "printf '\\036goprov-file %d\\n' >&2\n(\n%s\n)\nrc=$?\nprintf '%s %d %%s\\n' \"$rc\"\n[ \"$rc\" = 0 ] || exit 0\n",
			i, writeSection(h, w.File, w.Opt, true), statusTag, i)
		readers[i] = bytes.NewReader(w.File.Content)
	}
	res, err := h.Run(ctx, transport.Cmd{Script: b.String(), Stdin: io.MultiReader(readers...), Sudo: true})
	codes := parseStatus(res.Stdout, len(ws))
	done := 0
	for done < len(ws) && codes[done] == 0 {
		done++
	}
	if done == len(ws) {
		return done, nil // every file reported written, even if the session then failed
	}
	p := ws[done].File.Path
	if err != nil {
		return done, &WriteError{done, fmt.Errorf("write %s: %w", p, err)}
	}
	if codes[done] < 0 {
		res.ExitCode = max(res.ExitCode, 1)
		return done, &WriteError{done, res.Err("write " + p + ": the batch ended before this file")}
	}
	return done, &WriteError{done, writeErr(p, codes[done], stderrOf(res.Stderr, done), res)}
}

// parseStatus reads each file's exit status (-1: not reported).
func parseStatus(stdout []byte, n int) []int {
	codes := make([]int, n)
	for i := range codes {
		codes[i] = -1
	}
	for _, l := range strings.Split(string(stdout), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != statusTag {
			continue
		}
		i, err1 := strconv.Atoi(f[1])
		c, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil && i >= 0 && i < n {
			codes[i] = c
		}
	}
	return codes
}

// stderrOf returns what file i printed on stderr.
func stderrOf(stderr []byte, i int) []byte {
	open := []byte(fmt.Sprintf("%s %d\n", stderrTag, i))
	_, rest, ok := bytes.Cut(stderr, open)
	if !ok {
		return stderr
	}
	if j := bytes.Index(rest, []byte(stderrTag+" ")); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
