// Command goprov-lab starts and stops goprov's SSH test lab for people:
//
//	goprov-lab up 3 [-name NAME] [-audit 0] [-firewalld 1]
//	goprov-lab down [-name NAME]
//	goprov-lab status
//	goprov-lab build-base [-suite trixie] [-minimal]
//
// A lab started with `up` keeps running after the command exits; `down`
// removes it from its saved state. Needs root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goprov/goprov/testinfra"
	"github.com/goprov/goprov/testinfra/base"
)

const defaultName = "lab"

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "up":
		err = up(ctx, os.Args[2:])
	case "down":
		err = down(ctx, os.Args[2:])
	case "status":
		err = status()
	case "build-base":
		err = buildBase(ctx, os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "goprov-lab:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  goprov-lab up N [-name NAME] [-audit i,j] [-firewalld i,j] [-users a,b] [-suite trixie] [-minimal]
                                                               start N hosts (indexes are 0-based)
  goprov-lab down [-name NAME | -all]                          tear a lab down
  goprov-lab status                                            list labs
  goprov-lab build-base [-suite bookworm|trixie] [-minimal]    build the cached host image
`)
}

// parseArgs accepts the count before or after the flags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	return pos, nil
}

func indexes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		i, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("bad host index %q", f)
		}
		out = append(out, i)
	}
	return out, nil
}

func up(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	name := fs.String("name", defaultName, "lab name")
	audit := fs.String("audit", "", "comma-separated 0-based indexes of audit hosts")
	fw := fs.String("firewalld", "", "comma-separated 0-based indexes of hosts running firewalld")
	users := fs.String("users", "", "comma-separated extra login users (no sudo), besides root, deploy, ops")
	suite := fs.String("suite", base.Bookworm, "Debian release of the hosts: bookworm or trixie")
	minimal := fs.Bool("minimal", false, "hosts from the minimal image (minbase + sshd; no sudo: log in as root)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	n := 3
	if len(pos) > 0 {
		if n, err = strconv.Atoi(pos[0]); err != nil {
			return fmt.Errorf("host count %q: %w", pos[0], err)
		}
	}
	opts := testinfra.Options{Hosts: n, Detached: true, Suite: *suite, Minimal: *minimal}
	if opts.AuditHosts, err = indexes(*audit); err != nil {
		return err
	}
	if opts.FirewalldHosts, err = indexes(*fw); err != nil {
		return err
	}
	for _, u := range strings.Split(*users, ",") {
		if u = strings.TrimSpace(u); u != "" {
			opts.Users = append(opts.Users, u)
		}
	}
	start := time.Now()
	lab, err := testinfra.StartLab(ctx, *name, opts)
	if err != nil {
		return err
	}
	took := time.Since(start)
	if err := giveToSudoUser(lab.Dir); err != nil {
		fmt.Fprintf(os.Stderr, "goprov-lab: warning: %v\n", err)
	}
	fmt.Printf("lab %s: %d hosts up in %.2fs\n", lab.Name, len(lab.Hosts), took.Seconds())
	for _, h := range lab.Hosts {
		fmt.Printf("  %-4s %s\n", h.Name, h.Addr)
	}
	fmt.Printf("inventory:   %s\n", lab.InventoryPath)
	fmt.Printf("ssh_config:  %s\n", lab.SSHConfigPath)
	fmt.Printf("known_hosts: %s\n", lab.KnownHostsPath)
	fmt.Printf("key:         %s (root), %s (deploy), %s (ops)\n",
		lab.KeyPath(testinfra.UserRoot), lab.KeyPath(testinfra.UserDeploy), lab.KeyPath(testinfra.UserOps))
	for _, u := range opts.Users {
		fmt.Printf("key (%s): %s\n", u, lab.KeyPath(u))
	}
	fmt.Printf("try:         ssh -F %s h1 hostname\n", lab.SSHConfigPath)
	fmt.Printf("stop:        go run ./testinfra/cmd/goprov-lab down -name %s\n", lab.Name)
	return nil
}

func down(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	name := fs.String("name", defaultName, "lab name")
	all := fs.Bool("all", false, "tear down every detached lab and sweep stale ones")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if !*all {
		if err := testinfra.Down(ctx, *name); err != nil {
			return err
		}
		fmt.Printf("lab %s: down\n", *name)
		return nil
	}
	labs, err := testinfra.List()
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range labs {
		if l.Detached {
			if err := testinfra.Down(ctx, l.Name); err != nil {
				errs = append(errs, err)
			} else {
				fmt.Printf("lab %s: down\n", l.Name)
			}
		}
	}
	errs = append(errs, testinfra.SweepStale(ctx))
	return errors.Join(errs...)
}

func status() error {
	labs, err := testinfra.List()
	if err != nil {
		return err
	}
	if len(labs) == 0 {
		fmt.Println("no labs")
		return nil
	}
	for _, l := range labs {
		kind := "test"
		if l.Detached {
			kind = "detached"
		}
		state := "running"
		if !l.Alive {
			state = "stale (owner gone)"
		}
		fmt.Printf("%-12s %2d hosts  %-16s %-8s owner %-7d %s  %s\n", l.Name, l.Hosts, l.Subnet, kind, l.OwnerPID, state, l.Dir)
	}
	return nil
}

func buildBase(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("build-base", flag.ContinueOnError)
	suite := fs.String("suite", base.Bookworm, "Debian release of the image: bookworm or trixie")
	minimal := fs.Bool("minimal", false, "the minimal image (minbase + sshd) and its mirror of the baselines' packages")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := testinfra.SuiteBaseConfig(*suite)
	if *minimal {
		cfg = testinfra.MinimalBaseConfig(*suite)
	}
	// lab-deps.sh reads the mirror line to index and sign it.
	printMirror := func() {
		if cfg.Minimal {
			fmt.Printf("lab mirror: %s\n", cfg.MirrorDir())
		}
	}
	if cfg.Ready() {
		fmt.Printf("base image: %s (cached)\n", cfg.Dir())
		printMirror()
		return nil
	}
	cfg.Log = os.Stderr
	start := time.Now()
	dir, err := base.Ensure(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("base image: %s (built in %.1fs)\n", dir, time.Since(start).Seconds())
	printMirror()
	return nil
}

// giveToSudoUser hands the lab's client files (keys, ssh_config, …) to the
// user who ran `sudo goprov-lab up`, so plain `ssh -F` works without sudo.
func giveToSudoUser(dir string) error {
	uid, err1 := strconv.Atoi(os.Getenv("SUDO_UID"))
	gid, err2 := strconv.Atoi(os.Getenv("SUDO_GID"))
	if err1 != nil || err2 != nil || uid == 0 {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".lock") || strings.HasSuffix(p, "state.json") {
			return nil
		}
		return os.Lchown(p, uid, gid)
	})
}
