// Command goprov plans and applies host configuration written in HCL.
// It is thin: parsing flags, wiring the DSL, planner and views together,
// and mapping outcomes to exit codes that pipelines rely on.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2 // plan -detailed-exitcode: changes present
	exitFmt     = 3 // fmt -check: files need formatting
)

var version = "0.1.0-dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"plan", "Show what apply would change on each host", runPlan},
		{"apply", "Make the planned changes (from a config directory or a saved plan)", runApply},
		{"show", "Show a saved plan", runShow},
		{"validate", "Check a configuration without touching any host", runValidate},
		{"fmt", "Rewrite HCL files in the canonical format", runFmt},
		{"journal", "Verify a change journal's hash chain: journal verify FILE", runJournal},
		{"version", "Print goprov's version", func(context.Context, []string, io.Writer, io.Writer) int {
			fmt.Println("goprov", version)
			return exitOK
		}},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: goprov COMMAND [DIR | PLANFILE] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `goprov COMMAND -h` for a command's flags. Exit codes: 0 success, 1 error,")
	fmt.Fprintln(w, "2 changes present (plan -detailed-exitcode), 3 unformatted files (fmt -check).")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile(os.Getenv("GOPROV_CPUPROFILE"), os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfile()
	stop()
	os.Exit(code)
}

// startProfile writes a CPU profile of this run to path (the environment's
// GOPROV_CPUPROFILE; empty: none), to see where the controller's own time
// goes against real hosts (bench/README.md). A profile that cannot be
// started is a warning, not a failed run.
func startProfile(path string, stderr io.Writer) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "goprov: GOPROV_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitError
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "goprov: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitError
}
