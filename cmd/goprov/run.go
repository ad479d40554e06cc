package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/goprov/goprov/internal/connect"
	"github.com/goprov/goprov/internal/inert"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/planner/journal"
	"github.com/goprov/goprov/planner/views"
	"github.com/goprov/goprov/transport"
)

// runFlags are the flags of commands that reach hosts.
type runFlags struct {
	configFlags
	parallel      int
	sshConfigs    multiFlag
	askBecomePass bool
	json          bool
	maxOutput     byteSize
	shard         string
	readTimeout   time.Duration
}

func (r *runFlags) register(fs *flag.FlagSet) {
	r.configFlags.register(fs, true)
	fs.IntVar(&r.parallel, "parallel", 20, "work on at most `N` hosts at once")
	fs.Var(&r.sshConfigs, "ssh-config", "read OpenSSH client settings from `FILE` before ~/.ssh/config (repeatable; e.g. the output of `vagrant ssh-config`)")
	fs.BoolVar(&r.askBecomePass, "ask-become-pass", false, "ask once for the sudo password (else $GOPROV_BECOME_PASSWORD, else none: NOPASSWD)")
	fs.BoolVar(&r.json, "json", false, "print one JSON document instead of text")
	r.maxOutput = byteSize(transport.DefaultMaxOutput)
	fs.Var(&r.maxOutput, "max-output", "fail a host whose command prints more than `SIZE` bytes (e.g. 64MiB), and stop that command")
	fs.DurationVar(&r.readTimeout, "read-timeout", planner.DefaultReadTimeout, "fail a host whose batched read takes longer than `D` (its command is stopped; the other hosts go on; 0: no limit)")
	fs.StringVar(&r.shard, "shard", "", "only the K-th of N stable slices of the selected hosts, by host name: `K/N` (run slices as parallel jobs; merge with show -json)")
}

func (r *runFlags) engine(stderr io.Writer) (*planner.Engine, error) {
	conn, err := connect.New(r.sshConfigs, r.askBecomePass, stderr)
	if err != nil {
		return nil, err
	}
	conn.MaxOutput = int64(r.maxOutput)
	tuneMemory(r.parallel)
	rt := r.readTimeout
	if rt == 0 {
		rt = -1 // the flag's 0 is "no limit"; the engine's is "the default"
	}
	e := &planner.Engine{Connector: conn, Parallel: r.parallel, ReadTimeout: rt}
	e.HostDone = progress(stderr)
	return e, nil
}

// progress reports hosts done / total: a self-rewriting line on a terminal,
// plain lines otherwise. It writes to stderr, so stdout stays a clean
// document for -json.
func progress(stderr io.Writer) func(done, total int, h *planner.HostPlan) {
	tty := false
	if f, ok := stderr.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	var mu sync.Mutex
	return func(done, total int, h *planner.HostPlan) {
		mu.Lock()
		defer mu.Unlock()
		if total <= 1 && h.Status != planner.StatusFailed {
			return
		}
		if tty {
			fmt.Fprintf(stderr, "\r\033[K[%d/%d hosts] %s %s", done, total, inert.Text(h.Name), h.Status)
			if done == total {
				fmt.Fprint(stderr, "\r\033[K")
			}
			return
		}
		fmt.Fprintf(stderr, "goprov: [%d/%d] %s %s\n", done, total, inert.Text(h.Name), h.Status)
	}
}

func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("plan", "plan [DIR] [flags]", stderr)
	var rf runFlags
	rf.register(fs)
	out := fs.String("out", "", "save the plan to `FILE` for a later `goprov apply FILE`")
	detailed := fs.Bool("detailed-exitcode", false, "exit 0 when nothing would change, 2 when something would, 1 on error")
	dir, code, ok := dirFlagArgs(fs, args, stderr)
	if !ok {
		return code
	}
	cfg, targets, ok := rf.load(dir, stderr)
	if !ok {
		return exitError
	}
	if targets, ok = shardTargets(rf.shard, targets, stderr); !ok {
		return exitError
	}
	e, err := rf.engine(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitError
	}
	defer e.Close()
	p := e.Plan(ctx, targets)
	p.ConfigDir = cfg.Dir
	if rf.json {
		if err := views.JSON(stdout, p, views.ModePlan); err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return exitError
		}
	} else {
		tv := views.Text{Color: colorOn(rf.noColor, stdout)}
		tv.Human(stdout, p, views.ModePlan)
		if len(p.Hosts) > 1 || p.Summary().Failed > 0 {
			tv.HostSummary(stdout, p)
		}
	}
	if *out != "" {
		if err := planner.WritePlanFile(*out, p); err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return exitError
		}
		if !rf.json {
			fmt.Fprintf(stdout, "Saved the plan to %s; apply exactly it with: goprov apply %s\n", *out, *out)
		}
	}
	if p.Summary().Failed > 0 {
		return exitError
	}
	if *detailed && p.HasChanges() {
		return exitChanges
	}
	return exitOK
}

// readSavedPlan reads the plan file arg for apply (nil after reporting an
// error). A saved plan is applied exactly: flags that would change what it
// means are refused rather than silently ignored.
func readSavedPlan(fs *flag.FlagSet, arg string, stderr io.Writer) *planner.Plan {
	var conflicting []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "var", "var-file", "root", "limit", "shard":
			conflicting = append(conflicting, "-"+f.Name)
		}
	})
	if len(conflicting) > 0 {
		fmt.Fprintf(stderr, "Error: %s cannot be used with a saved plan, which is applied exactly as it was made; make a new plan with them instead.\n", strings.Join(conflicting, ", "))
		return nil
	}
	p, err := planner.ReadPlanFile(arg)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return nil
	}
	return p
}

// confirmApply asks on the terminal; only "yes" applies.
func confirmApply(stdout io.Writer) bool {
	fmt.Fprint(stdout, "\nApply these changes? Only 'yes' will be accepted: ")
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		fmt.Fprintln(stdout, "Apply cancelled; nothing was changed.")
		return false
	}
	return true
}

// applyFlags are apply's own flags, beside the shared runFlags.
type applyFlags struct {
	auto, rootNetwork *bool
	lockTimeout       *time.Duration
	journalPath       *string
	maxSize           sizeFlag
}

func (a *applyFlags) register(fs *flag.FlagSet) {
	a.auto = fs.Bool("auto-approve", false, "apply without asking for confirmation (required when stdin is not a terminal)")
	a.lockTimeout = fs.Duration("lock-timeout", planner.DefaultLockTimeout, "wait at most `D` for another apply's lock on a host, then fail naming its holder")
	a.journalPath = fs.String("journal", "", "also append the change journal to `FILE` on this machine (every host keeps its own in /var/log/goprov/journal.jsonl)")
	a.rootNetwork = fs.Bool("root-network", false, "let apt's download phase in image roots use this machine's network (maintainer scripts still run without it; see docs/image-roots.md)")
	a.maxSize = sizeFlag(journal.DefaultMaxSize)
	fs.Var(&a.maxSize, "journal-max-size", "rotate a host's journal into journal.jsonl.N before it grows past `SIZE` (0: never)")
}

// configure sets e from apply's flags.
func (a *applyFlags) configure(e *planner.Engine) {
	if c, ok := e.Connector.(*connect.Connector); ok {
		c.RootNetwork = *a.rootNetwork
	}
	e.JournalPath = *a.journalPath
	e.JournalMaxSize = int64(a.maxSize)
	if a.maxSize == 0 {
		e.JournalMaxSize = -1
	}
	e.LockTimeout = *a.lockTimeout
}

// nothingToApply reports a plan without changes; it fails when a host did.
func nothingToApply(stdout io.Writer, p *planner.Plan, json bool, tv views.Text) int {
	if json {
		views.JSON(stdout, p, views.ModeApply)
	} else {
		fmt.Fprintln(stdout, "Nothing to apply.")
	}
	if p.Summary().Failed > 0 {
		if !json {
			tv.HostSummary(stdout, p)
		}
		return exitError
	}
	return exitOK
}

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("apply", "apply [DIR | PLANFILE] [flags]", stderr)
	var rf runFlags
	rf.register(fs)
	var af applyFlags
	af.register(fs)
	auto, journalPath := af.auto, af.journalPath
	arg, code, ok := dirFlagArgs(fs, args, stderr)
	if !ok {
		return code
	}
	if !shardOK(rf.shard, stderr) {
		return exitError
	}
	var p *planner.Plan
	saved := !isDir(arg)
	if saved {
		if p = readSavedPlan(fs, arg, stderr); p == nil {
			return exitError
		}
	}
	interactive := term.IsTerminal(int(os.Stdin.Fd()))
	if !*auto && !interactive {
		fmt.Fprintln(stderr, "Error: apply needs confirmation, and stdin is not a terminal: rerun with -auto-approve to apply without asking.")
		return exitError
	}
	e, err := rf.engine(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitError
	}
	defer e.Close()
	af.configure(e)
	if !saved {
		_, targets, ok := rf.load(arg, stderr)
		if !ok {
			return exitError
		}
		if targets, ok = shardTargets(rf.shard, targets, stderr); !ok {
			return exitError
		}
		// Read once, under each host's lock, held until apply ends (or
		// the prompt is declined): what is shown is what is applied.
		p = e.PlanLocked(ctx, targets)
	}
	tv := views.Text{Color: colorOn(rf.noColor, stdout)}
	if !rf.json {
		mode := views.ModePlan
		if saved {
			mode = views.ModeSaved
		}
		tv.Human(stdout, p, mode)
	}
	if !p.HasChanges() {
		return nothingToApply(stdout, p, rf.json, tv)
	}
	if !*auto && !confirmApply(stdout) {
		return exitError
	}
	res := e.Apply(ctx, p)
	p = res.Applied(p) // the plan as applied: what the views show
	if res.JournalErr != nil {
		fmt.Fprintf(stderr, "Error: journal %s: %v\n", *journalPath, res.JournalErr)
	} else if res.JournalHead != "" {
		fmt.Fprintf(stderr, "goprov: journal %s head sha256 %s\n", *journalPath, res.JournalHead)
	}
	if rf.json {
		if err := views.JSON(stdout, p, views.ModeApply); err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return exitError
		}
	} else {
		fmt.Fprintln(stdout)
		tv.Human(stdout, p, views.ModeApply)
		tv.HostSummary(stdout, p)
	}
	if p.Summary().Failed > 0 || res.JournalErr != nil {
		return exitError
	}
	return exitOK
}

func runShow(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("show", "show [-json] [-no-color] PLANFILE | show -json FILE FILE…", stderr)
	asJSON := fs.Bool("json", false, "print one JSON document instead of text")
	noColor := fs.Bool("no-color", false, "never colour the output (also: $NO_COLOR set to anything; colour is only ever used on a terminal)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 1 && *asJSON {
		// Slices of one run (-shard K/N): one report.
		if err := views.MergeJSON(stdout, pos); err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return exitError
		}
		return exitOK
	}
	if len(pos) != 1 {
		if len(pos) > 1 {
			fmt.Fprintln(stderr, "Error: several files are merged only with -json: goprov show -json FILE FILE…")
		}
		fs.Usage()
		return exitError
	}
	p, err := planner.ReadPlanFile(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitError
	}
	if *asJSON {
		if err := views.JSON(stdout, p, views.ModeSaved); err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return exitError
		}
		return exitOK
	}
	views.Text{Color: colorOn(*noColor, stdout)}.Human(stdout, p, views.ModeSaved)
	return exitOK
}
