package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// wrapEnv switches the bench binary (or the test binary, see TestMain) into
// the measuring wrapper: a process of its own that runs one tool invocation
// and measures its whole process tree.
const wrapEnv = "GOPROV_BENCH_WRAP"

// Usage is what the wrapper measured for one tool invocation.
type Usage struct {
	Exit int `json:"exit"`
	// Wall: from the start of the tool to the exit of its main process.
	WallNS int64 `json:"wall_ns"`
	// CPU (user+sys) of every process of the tree, reaped ones included:
	// ansible's forked workers, their ssh clients and the ControlPersist
	// masters that outlive the run (the wrapper is their subreaper).
	UserNS int64 `json:"user_ns"`
	SysNS  int64 `json:"sys_ns"`
	// MaxRSSKB: the peak RSS of the largest single process of the tree
	// (getrusage RUSAGE_CHILDREN).
	MaxRSSKB int64 `json:"max_rss_kb"`
	// PeakPSSKB: the highest sum of PSS over the tree seen by sampling
	// (shared pages split between their users, so forked workers are not
	// counted several times); PeakRSSSumKB the same with RSS (an upper bound).
	PeakPSSKB    int64 `json:"peak_pss_kb"`
	PeakRSSSumKB int64 `json:"peak_rss_sum_kb"`
	MaxProcs     int   `json:"max_procs"`
}

// wrapMain: wrapper -out FILE [-cpdir DIR] [-sample D] [-stdout F] [-stderr F] -- CMD ARGS...
func wrapMain(args []string) int {
	fs := flag.NewFlagSet("wrap", flag.ContinueOnError)
	out := fs.String("out", "", "write the Usage JSON here")
	cpdir := fs.String("cpdir", "", "OpenSSH control sockets to close after the run (ssh -O exit)")
	sample := fs.Duration("sample", 200*time.Millisecond, "memory sampling interval (0: off)")
	stdout := fs.String("stdout", "", "tool's stdout file")
	stderr := fs.String("stderr", "", "tool's stderr file")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 || *out == "" {
		fmt.Fprintln(os.Stderr, "wrap: usage: -out FILE [-cpdir DIR] -- CMD ARGS...")
		return 2
	}
	u, err := measure(fs.Args(), *cpdir, *sample, *stdout, *stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wrap:", err)
		return 1
	}
	b, _ := json.Marshal(u)
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "wrap:", err)
		return 1
	}
	return 0
}

func openOut(path string) (*os.File, error) {
	if path == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	return os.Create(path)
}

func measure(argv []string, cpdir string, sample time.Duration, stdoutPath, stderrPath string) (*Usage, error) {
	// Orphans (ssh ControlPersist masters daemonize) are re-parented to us,
	// so their CPU ends up in RUSAGE_CHILDREN once we reap them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
	}
	so, err := openOut(stdoutPath)
	if err != nil {
		return nil, err
	}
	defer so.Close()
	se, err := openOut(stderrPath)
	if err != nil {
		return nil, err
	}
	defer se.Close()

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = so, se
	cmd.Env = withoutEnv(os.Environ(), wrapEnv)
	u := &Usage{}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if sample > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(sample)
			defer t.Stop()
			for {
				pss, rss, n := treeMemory(os.Getpid())
				if pss > u.PeakPSSKB {
					u.PeakPSSKB = pss
				}
				if rss > u.PeakRSSSumKB {
					u.PeakRSSSumKB = rss
				}
				if n > u.MaxProcs {
					u.MaxProcs = n
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	werr := cmd.Wait()
	u.WallNS = int64(time.Since(start))
	close(stop)
	wg.Wait()
	u.Exit = 0
	if werr != nil {
		var ee *exec.ExitError
		if !errors.As(werr, &ee) {
			return nil, fmt.Errorf("wait %s: %w", argv[0], werr)
		}
		u.Exit = ee.ExitCode()
	}
	closeMasters(cpdir)
	reapAll(10 * time.Second)

	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return nil, fmt.Errorf("getrusage: %w", err)
	}
	u.UserNS = ru.Utime.Nano()
	u.SysNS = ru.Stime.Nano()
	u.MaxRSSKB = ru.Maxrss
	return u, nil
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// closeMasters asks each ControlPersist master in dir to exit, as
// `ssh -O exit` does for a user. Its own (tiny) CPU is counted too.
func closeMasters(dir string) {
	if dir == "" {
		return
	}
	socks, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, s := range socks {
		c := exec.Command("ssh", "-F", "/dev/null", "-o", "ControlPath="+s, "-O", "exit", "bench-master")
		_ = c.Run() // a master that already left is fine
	}
}

// reapAll waits for every remaining child (re-parented orphans); after the
// deadline, it signals the ones left, by PID (only our own children).
func reapAll(deadline time.Duration) {
	end := time.Now().Add(deadline)
	signalled := false
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.ECHILD) {
			return
		}
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return
		}
		if pid > 0 {
			continue
		}
		if time.Now().After(end) {
			if signalled {
				return
			}
			for _, c := range childrenOf(os.Getpid()) {
				_ = syscall.Kill(c, syscall.SIGTERM)
			}
			signalled = true
			end = time.Now().Add(3 * time.Second)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procParents maps each PID on the machine to its parent. There is no
// /proc/PID/task/TID/children on every kernel, so /proc/*/stat it is.
func procParents() map[int]int {
	ents, _ := os.ReadDir("/proc")
	m := make(map[int]int, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			m[pid] = ppid
		}
	}
	return m
}

func childrenOf(pid int) []int {
	var out []int
	for p, pp := range procParents() {
		if pp == pid {
			out = append(out, p)
		}
	}
	return out
}

func descendants(root int) []int {
	kids := map[int][]int{}
	for p, pp := range procParents() {
		kids[pp] = append(kids[pp], p)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range kids[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// treeMemory sums PSS and RSS (kB) over root's descendants.
func treeMemory(root int) (pss, rss int64, n int) {
	for _, p := range descendants(root) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/smaps_rollup")
		if err != nil {
			continue
		}
		n++
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Pss:":
				pss += v
			case "Rss:":
				rss += v
			}
		}
	}
	return pss, rss, n
}
