package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/goprov/goprov/internal/inert"
	"github.com/goprov/goprov/planner/journal"
)

func runJournal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, "Usage: goprov journal verify FILE\n\nChecks a change journal's hash chain (a controller's -journal file, or a copy of a host's /var/log/goprov/journal.jsonl).\nExit 0 when intact, 1 when a record was edited, deleted, inserted or reordered.")
		return exitError
	}
	fs := newFlagSet("journal verify", "journal verify FILE", stderr)
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitError
	}
	f, err := os.Open(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitError
	}
	defer f.Close()
	n, problems, head, err := journal.VerifyHead(f)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitError
	}
	if len(problems) > 0 {
		fmt.Fprintf(stdout, "%s: chain BROKEN (%d records read):\n", pos[0], n)
		for _, p := range problems {
			fmt.Fprintf(stdout, "  %s\n", inert.Text(p.String())) // the file may come from a host
		}
		return exitError
	}
	fmt.Fprintf(stdout, "%s: %d records, chain intact; head sha256 %s\n", pos[0], n, head)
	fmt.Fprintln(stdout, "(the last record is protected by this head: compare it with the one printed by the apply that wrote it)")
	return exitOK
}
