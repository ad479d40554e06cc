// Command testreport reads `go test -json` on stdin and prints what a person
// needs: each package's result line, the output of failed and skipped tests,
// and a closing "N passed, N failed, N skipped" line. Under CI (see package
// ci) a skipped test fails the run, so CI cannot go green by skipping.
//
//	go test -json ./... | go run ./internal/ci/testreport
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/goprov/goprov/internal/ci"
)

func main() {
	os.Exit(run(os.Stdin, os.Stdout, ci.Enabled()))
}

func run(in io.Reader, out io.Writer, strict bool) int {
	s, err := summarize(in, out)
	if err != nil {
		fmt.Fprintf(out, "testreport: %v\n", err)
		return 1
	}
	fmt.Fprintf(out, "\n%d passed, %d failed, %d skipped\n", s.passed, s.failed, len(s.skipped))
	code := 0
	if s.failed > 0 || s.brokenPackages > 0 {
		code = 1
	}
	if strict && len(s.skipped) > 0 {
		fmt.Fprintf(out, "testreport: CI is set and %d test(s) skipped; under CI every test must run:\n", len(s.skipped))
		for _, name := range s.skipped {
			fmt.Fprintf(out, "  %s\n", name)
		}
		code = 1
	}
	if s.passed+s.failed == 0 {
		fmt.Fprintln(out, "testreport: no test ran")
		code = 1
	}
	return code
}
