package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output and build-fail events
}

type summary struct {
	passed, failed int
	skipped        []string // "pkg TestName"
	brokenPackages int      // failed without a failing test: build errors, panics in init, timeouts
}

// summarize streams events, printing package lines as they finish and the
// buffered output of each failed or skipped test.
func summarize(in io.Reader, out io.Writer) (summary, error) {
	var s summary
	buf := map[string][]string{}    // "pkg\x00test" -> output lines
	failedTests := map[string]int{} // pkg -> failed tests
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if err := json.Unmarshal(line, &ev); err != nil || ev.Action == "" {
			// Not an event (go vet or the toolchain talking): pass it on.
			fmt.Fprintf(out, "%s\n", line)
			continue
		}
		key := ev.Package + "\x00" + ev.Test
		switch {
		case ev.Action == "build-output":
			fmt.Fprint(out, ev.Output)
		case ev.Test == "" && ev.Action == "output":
			fmt.Fprint(out, packageLine(ev.Output))
		case ev.Test == "" && ev.Action == "fail":
			if failedTests[ev.Package] == 0 {
				s.brokenPackages++
			}
		case ev.Test == "":
			// start, pass, skip ("no test files") of a package
		case ev.Action == "output":
			buf[key] = append(buf[key], ev.Output)
		case ev.Action == "pass":
			s.passed++
			delete(buf, key)
		case ev.Action == "fail":
			s.failed++
			failedTests[ev.Package]++
			fmt.Fprint(out, strings.Join(buf[key], ""))
			delete(buf, key)
		case ev.Action == "skip":
			s.skipped = append(s.skipped, ev.Package+" "+ev.Test)
			fmt.Fprint(out, strings.Join(buf[key], ""))
			delete(buf, key)
		}
	}
	return s, sc.Err()
}

// packageLine keeps the package-level lines a plain `go test` prints ("ok",
// "FAIL", "?", panics) and drops the "PASS" noise.
func packageLine(s string) string {
	if strings.TrimSpace(s) == "PASS" {
		return ""
	}
	return s
}
