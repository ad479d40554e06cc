// Command bench measures goprov against Ansible on the same lab hosts:
// a no-op check, a first converge on fresh hosts and a one-file change of
// the same baseline, alternating the tools over several rounds.
//
//	go run ./bench -n 20 -rounds 3
//
// See bench/README.md for the method, the exact configurations and the
// latest results.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv(wrapEnv) == "1" {
		os.Exit(wrapMain(os.Args[1:]))
	}
	os.Exit(benchMain(os.Args[1:]))
}

func benchMain(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	n := fs.Int("n", 20, "lab hosts per run (20; 100 and 200 are options; at most 240)")
	rounds := fs.Int("rounds", 3, "rounds; each round runs every tool once on fresh hosts")
	tools := fs.String("tools", "goprov,ansible,mitogen", "tools, in the order they alternate within a round: goprov, ansible, mitogen (Ansible with strategy = mitogen_linear), ssh (a bare `ssh host true`, no-op check only)")
	work := fs.String("work", "", "keep every run's outputs here (default: a temp dir, removed at the end)")
	sample := fs.Duration("sample", 200*time.Millisecond, "memory sampling interval of the process tree")
	jsonOut := fs.String("json", "", "also write all samples as JSON to `FILE`")
	report := fs.String("report", "", "print the table and targets of an earlier run's -json `FILE` (runs nothing)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *report != "" {
		var res Result
		b, err := os.ReadFile(*report)
		if err == nil {
			err = json.Unmarshal(b, &res)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		fmt.Print(Table(&res))
		fmt.Println()
		fmt.Print(Targets(&res))
		return 0
	}
	if *n < 1 || *n > 240 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "bench: -n must be 1..240 and -rounds ≥ 1")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	c := Config{N: *n, Rounds: *rounds, Sample: *sample, Log: os.Stderr}
	for _, t := range strings.Split(*tools, ",") {
		if !hasTool(allTools, t) {
			fmt.Fprintf(os.Stderr, "bench: unknown tool %q\n", t)
			return 2
		}
		c.Tools = append(c.Tools, t)
	}
	if hasTool(c.Tools, toolAnsible) || hasTool(c.Tools, toolMitogen) {
		if _, err := exec.LookPath("ansible-playbook"); err != nil {
			fmt.Fprintln(os.Stderr, "bench: ansible-playbook not found: run scripts/bench.sh (installs Debian's ansible), or -tools goprov")
			return 1
		}
	}
	if hasTool(c.Tools, toolMitogen) && !mitogenInstalled() {
		fmt.Fprintln(os.Stderr, "bench: Ansible's mitogen_linear strategy not found: run scripts/bench.sh (installs Debian's ansible-mitogen), or leave out mitogen")
		return 1
	}
	c.WorkDir = *work
	if c.WorkDir == "" {
		d, err := os.MkdirTemp("", "goprov-bench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer os.RemoveAll(d)
		c.WorkDir = d
	}
	var err error
	if c.Self, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if c.GoprovBin, err = buildGoprov(ctx, c.WorkDir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	desc := Describe(ctx, c.GoprovBin)
	start := time.Now()
	res, err := Run(ctx, c)
	if res != nil && *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		_ = os.WriteFile(*jsonOut, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Println(desc)
	fmt.Printf("N = %d hosts, %d rounds, %s total\n\n", c.N, c.Rounds, time.Since(start).Round(time.Second))
	fmt.Print(Table(res))
	fmt.Println()
	fmt.Print(Targets(res))
	return 0
}

// mitogenInstalled: Debian's ansible-mitogen puts the strategy plugin
// where Ansible finds it without any strategy_plugins setting.
func mitogenInstalled() bool {
	_, err := os.Stat("/usr/lib/python3/dist-packages/ansible/plugins/strategy/mitogen_linear.py")
	return err == nil
}

func hasTool(ts []string, t string) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// buildGoprov builds the CLI once, from the module this bench belongs to.
func buildGoprov(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the goprov module (run from the repository)")
	}
	bin := filepath.Join(dir, "goprov")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/goprov")
	cmd.Dir = filepath.Dir(mod)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/goprov: %v: %s", err, b)
	}
	return bin, nil
}
