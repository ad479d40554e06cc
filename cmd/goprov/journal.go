package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/goprov/goprov/internal/inert"
	"github.com/goprov/goprov/planner/journal"
)

const journalUsage = `Usage: goprov journal verify FILE [-head SHA256 [-records N]]

Checks a change journal's hash chain (a controller's -journal file, or a copy of a
host's /var/log/goprov/journal.jsonl with its rotated FILE.1, FILE.2, … beside it).
With -head (from apply -json's "journal" or the controller journal), also checks that
the chain ends at that head, and says whether it was truncated, emptied, rebuilt or
extended after it. Exit 0 when intact (and at the head), 1 otherwise.`

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

func runJournal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, journalUsage)
		return exitError
	}
	fs := newFlagSet("journal verify", "journal verify FILE [-head SHA256 [-records N]]", stderr)
	head := fs.String("head", "", "the chain must end at the record whose hash is `SHA256` (apply -json's journal.head)")
	records := fs.Int64("records", -1, "and that record must be record number `N` of the chain (apply -json's journal.records; -1: not checked)")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitError
	}
	var anchor *journal.Anchor
	switch {
	case *head != "":
		if !sha256Re.MatchString(*head) {
			fmt.Fprintf(stderr, "Error: -head %q: expected 64 lowercase hex digits (a SHA-256)\n", *head)
			return exitError
		}
		anchor = &journal.Anchor{Head: *head, Records: *records}
	case *records >= 0:
		fmt.Fprintln(stderr, "Error: -records needs -head")
		return exitError
	}
	rep, err := journal.VerifyPath(pos[0], anchor)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitError
	}
	printVerify(stdout, pos[0], rep)
	if !rep.OK() {
		return exitError
	}
	return exitOK
}

func printVerify(w io.Writer, file string, rep journal.Report) {
	files := ""
	if len(rep.Files) > 1 {
		files = fmt.Sprintf(" in %d files", len(rep.Files))
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(w, "%s: chain BROKEN (%d records read%s):\n", file, rep.Records, files)
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  %s\n", inert.Text(p.String())) // the file may come from a host
		}
	} else {
		fmt.Fprintf(w, "%s: %d records%s, chain intact; head sha256 %s\n", file, rep.Records, files, rep.Head)
	}
	switch {
	case rep.Anchor == nil:
		fmt.Fprintln(w, "(the last record is protected only by this head: check it with -head, from the apply that wrote it)")
	case rep.Anchor.Verdict == journal.VerdictOK:
		fmt.Fprintf(w, "%s: at the anchored head: %s\n", file, inert.Text(rep.Anchor.Detail))
	default:
		fmt.Fprintf(w, "%s: NOT at the anchored head: %s: %s\n", file, rep.Anchor.Verdict, inert.Text(rep.Anchor.Detail))
	}
}

// sizeFlag is a byte size: a number with an optional K, M or G suffix
// (powers of 1024; "KiB", "MiB", "GiB" also read).
type sizeFlag int64

func (s *sizeFlag) String() string {
	n := int64(*s)
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n > 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (s *sizeFlag) Set(v string) error {
	num, shift := strings.TrimSuffix(strings.TrimSuffix(v, "iB"), "B"), uint(0)
	if num != "" {
		switch num[len(num)-1] {
		case 'K', 'k':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		}
	}
	if shift > 0 {
		num = num[:len(num)-1]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return errors.New("expected a size like 4MiB, 512K or 1048576")
	}
	*s = sizeFlag(n << shift)
	return nil
}
