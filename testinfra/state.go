package testinfra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RunRoot holds each lab's state directory and the lab-wide locks. Host disks
// (overlay upper layers) live under DataRoot, on disk rather than in /run.
var (
	RunRoot  = envOr("GOPROV_LAB_RUN", "/run/goprov-lab")
	DataRoot = envOr("GOPROV_LAB_DATA", "/var/lib/goprov-lab")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// labState is everything teardown needs, saved as JSON in the lab dir so a
// later process (goprov-lab down, or the stale-lab sweep) can undo it all.
type labState struct {
	Name    string `json:"name"`
	ID      int    `json:"id"`
	Dir     string `json:"dir"`
	DataDir string `json:"data_dir"`
	Base    string `json:"base"`
	// AuditBase is the image whose auditctl saves and restores the
	// machine's audit state ("": Base; a minimal Base has no auditctl).
	AuditBase  string      `json:"audit_base,omitempty"`
	Bridge     string      `json:"bridge"`
	Subnet     string      `json:"subnet"` // e.g. "10.200.3" (a /24)
	OwnerPID   int         `json:"owner_pid"`
	Detached   bool        `json:"detached"` // outlives its creator; only Down removes it
	Created    time.Time   `json:"created"`
	BridgeUp   bool        `json:"bridge_up"`
	Hosts      []hostState `json:"hosts"`
	Audit      *auditSaved `json:"audit,omitempty"` // kernel audit state before the lab touched it
	AuditOwner bool        `json:"audit_owner"`
}

type hostState struct {
	Name      string `json:"name"`
	Index     int    `json:"index"`
	Addr      string `json:"addr"`
	NetNS     string `json:"netns"`
	Veth      string `json:"veth"`
	Audit     bool   `json:"audit"`
	Firewalld bool   `json:"firewalld"`
	Upper     string `json:"upper"`
	Work      string `json:"work"`
	Merged    string `json:"merged"`
	Mounted   bool   `json:"mounted"`
	NetNSMade bool   `json:"netns_made"`
	PID       int    `json:"pid"`       // unshare, the root of the host's process tree
	PIDStart  uint64 `json:"pid_start"` // its start time, against PID reuse
	InitPID   int    `json:"init_pid"`  // tini: namespaces to enter
}

func (s *labState) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir, "state.json.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("save lab state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(s.Dir, "state.json"))
}

func loadState(dir string) (*labState, error) {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var s labState
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("parse %s/state.json: %w", dir, err)
	}
	return &s, nil
}

// LabInfo describes a lab found on the machine.
type LabInfo struct {
	Name     string
	Dir      string
	Hosts    int
	Subnet   string
	OwnerPID int
	Detached bool
	Alive    bool // its owner still holds it (or it is detached)
}

// List returns the labs on this machine.
func List() ([]LabInfo, error) {
	ents, err := os.ReadDir(RunRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []LabInfo
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(RunRoot, e.Name())
		s, err := loadState(dir)
		if err != nil {
			continue
		}
		info := LabInfo{Name: s.Name, Dir: dir, Hosts: len(s.Hosts), Subnet: s.Subnet + ".0/24", OwnerPID: s.OwnerPID, Detached: s.Detached}
		info.Alive = s.Detached || ownerHolds(dir)
		out = append(out, info)
	}
	return out, nil
}

// ownerHolds reports whether a process holds the lab's owner lock.
func ownerHolds(dir string) bool {
	f, err := tryLock(filepath.Join(dir, "owner.lock"))
	if err != nil {
		return false
	}
	if f == nil {
		return true
	}
	f.Close()
	return false
}

// Down tears down the named lab from its saved state (goprov-lab down).
func Down(ctx context.Context, name string) error {
	dir := filepath.Join(RunRoot, name)
	s, err := loadState(dir)
	if err != nil {
		return fmt.Errorf("lab %q: %w", name, err)
	}
	if !s.Detached {
		f, err := tryLock(filepath.Join(dir, "owner.lock"))
		if err != nil {
			return fmt.Errorf("lab %q: %w", name, err)
		}
		if f == nil {
			return fmt.Errorf("lab %q is owned by running process %d; it tears down itself", name, s.OwnerPID)
		}
		defer f.Close()
	}
	return teardown(ctx, s)
}

// SweepStale tears down labs whose owning process died without cleaning up
// (a crashed or killed test binary). Detached labs are left alone.
func SweepStale(ctx context.Context) error {
	ents, err := os.ReadDir(RunRoot)
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range ents {
		dir := filepath.Join(RunRoot, e.Name())
		if !e.IsDir() {
			continue
		}
		s, err := loadState(dir)
		if err != nil {
			// A lab dir without state: its creator died before saving it.
			// Only remove it when nobody holds it and it is old enough.
			if fi, serr := os.Stat(dir); serr == nil && time.Since(fi.ModTime()) > time.Minute && !ownerHolds(dir) && len(mountsUnder(dir)) == 0 {
				_ = os.RemoveAll(dir)
			}
			continue
		}
		if s.Detached {
			continue
		}
		f, err := tryLock(filepath.Join(dir, "owner.lock"))
		if err != nil || f == nil {
			continue // owner alive (or lock missing: not ours to judge)
		}
		if err := teardown(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("stale lab %s: %w", s.Name, err))
		}
		f.Close()
	}
	// Host disks whose lab state is gone (e.g. /run was cleared by a reboot):
	// nothing can be mounted there any more, so the files can go.
	if ents, err := os.ReadDir(DataRoot); err == nil {
		for _, e := range ents {
			d := filepath.Join(DataRoot, e.Name())
			if _, err := os.Stat(filepath.Join(RunRoot, e.Name())); !errors.Is(err, os.ErrNotExist) {
				continue
			}
			if len(mountsUnder(d)) == 0 {
				if err := os.RemoveAll(d); err != nil {
					errs = append(errs, fmt.Errorf("remove orphaned host disks %s: %w", d, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// teardown undoes everything recorded in s, best effort: every step runs and
// errors are collected. Running it twice is harmless.
func teardown(ctx context.Context, s *labState) error {
	var errs []error
	stopErrs := make([]error, len(s.Hosts))
	var wg sync.WaitGroup
	for i := range s.Hosts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := stopHost(&s.Hosts[i], 0); err != nil {
				stopErrs[i] = fmt.Errorf("%s: stop: %w", s.Hosts[i].Name, err)
			}
		}(i)
	}
	wg.Wait()
	for _, err := range stopErrs {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if s.Audit != nil {
		if err := restoreAudit(ctx, s.auditBase(), s.Audit); err != nil {
			errs = append(errs, fmt.Errorf("restore kernel audit: %w", err))
		} else {
			s.Audit = nil
		}
	}
	if s.AuditOwner {
		if err := releaseAudit(s.Name); err != nil {
			errs = append(errs, err)
		}
		s.AuditOwner = false
	}
	for i := range s.Hosts {
		h := &s.Hosts[i]
		for _, mp := range mountsUnder(h.Merged) {
			if err := syscall.Unmount(mp, 0); err != nil {
				if err2 := syscall.Unmount(mp, syscall.MNT_DETACH); err2 != nil {
					errs = append(errs, fmt.Errorf("%s: umount %s: %w", h.Name, mp, err))
				}
			}
		}
		h.Mounted = false
	}
	if err := netDown(ctx, s); err != nil {
		errs = append(errs, err)
	}
	_ = s.save()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Only delete files once nothing is mounted below them.
	for _, d := range []string{s.DataDir, s.Dir} {
		if d == "" {
			continue
		}
		if m := mountsUnder(d); len(m) > 0 {
			errs = append(errs, fmt.Errorf("not removing %s: still mounted: %v", d, m))
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// stopHost kills the host's whole process tree (and anything else inside its
// network namespace), SIGTERM first when grace > 0.
func stopHost(h *hostState, grace time.Duration) error {
	root, rootStart := h.PID, h.PIDStart
	collect := func() []int {
		var pids []int
		if alive(root, rootStart) {
			pids = append(pids, root)
			pids = append(pids, descendants(root)...)
		}
		if h.NetNS != "" {
			pids = append(pids, netnsPIDs(h.NetNS)...)
		}
		return dedup(pids)
	}
	// Leaves first, while tini (a subreaper) and unshare still live to reap
	// them; then those two, which unshare's parent reaps. Killing all at once
	// would leave zombies to the machine's init.
	leaves := func() []int {
		var out []int
		for _, p := range collect() {
			if p != root && p != h.InitPID {
				out = append(out, p)
			}
		}
		return out
	}
	_ = killAll(leaves, grace) // stragglers are caught by the second pass
	err := killAll(collect, 0)
	if err == nil {
		h.PID, h.PIDStart, h.InitPID = 0, 0, 0
	}
	return err
}

func dedup(in []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, p := range in {
		if !seen[p] && p != os.Getpid() {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// ---- kernel audit ----

type auditSaved struct {
	Status map[string]string `json:"status"`
	Rules  []string          `json:"rules"`
}

// auditctl runs the base image's auditctl from the controller (the initial
// PID namespace, which the kernel requires for audit changes).
func auditctl(ctx context.Context, base string, args ...string) (string, error) {
	cmdArgs := append([]string{base, "/usr/sbin/auditctl"}, args...)
	out, err := execOutput(ctx, "chroot", cmdArgs...)
	if err != nil {
		return out, fmt.Errorf("auditctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out))
	}
	return out, nil
}

func saveAudit(ctx context.Context, base string) (*auditSaved, error) {
	st, err := auditctl(ctx, base, "-s")
	if err != nil {
		return nil, err
	}
	saved := &auditSaved{Status: map[string]string{}}
	for _, line := range strings.Split(st, "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			saved.Status[f[0]] = f[1]
		}
	}
	if saved.Status["enabled"] == "2" {
		return nil, errors.New("kernel audit is immutable (enabled 2) on this machine until reboot; audit hosts cannot be used")
	}
	rules, err := auditctl(ctx, base, "-l")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(rules, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "No rules" {
			saved.Rules = append(saved.Rules, line)
		}
	}
	return saved, nil
}

func restoreAudit(ctx context.Context, base string, saved *auditSaved) error {
	var errs []error
	if _, err := auditctl(ctx, base, "-D"); err != nil {
		errs = append(errs, err)
	}
	for _, r := range saved.Rules {
		if _, err := auditctl(ctx, base, strings.Fields(r)...); err != nil {
			errs = append(errs, err)
		}
	}
	flags := []struct{ key, flag string }{
		{"failure", "-f"}, {"rate_limit", "-r"}, {"backlog_limit", "-b"}, {"backlog_wait_time", "--backlog_wait_time"},
	}
	for _, f := range flags {
		if v, ok := saved.Status[f.key]; ok {
			if _, err := auditctl(ctx, base, f.flag, v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Never 2: only 0 or 1 are restored.
	if v := saved.Status["enabled"]; v == "0" || v == "1" {
		if _, err := auditctl(ctx, base, "-e", v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// acquireAudit makes this lab the machine's one audit user. The owner is
// recorded in a file (so a detached CLI lab keeps it after its process exits)
// and checked under a flock; a dead owner's claim is taken over.
func acquireAudit(ctx context.Context, name string, logf func(string, ...any)) error {
	lockPath := filepath.Join(RunRoot, "audit.lock")
	ownerPath := filepath.Join(RunRoot, "audit.owner")
	start := time.Now()
	logged := ""
	for {
		f, err := lockFile(ctx, lockPath)
		if err != nil {
			return err
		}
		owner, _ := os.ReadFile(ownerPath)
		cur := strings.TrimSpace(string(owner))
		free := cur == "" || cur == name || !labAlive(cur)
		if !free {
			if st, err := loadState(filepath.Join(RunRoot, cur)); err == nil && !st.Detached && st.OwnerPID == os.Getpid() {
				// Waiting would deadlock: only this process can release it.
				f.Close()
				return fmt.Errorf("this process already has lab %s with audit hosts; close it before starting another", cur)
			}
		}
		if free {
			err := os.WriteFile(ownerPath, []byte(name+"\n"), 0o644)
			f.Close()
			if logged != "" {
				logf("testinfra: lab %s got kernel audit after %v", name, time.Since(start).Round(time.Millisecond))
			}
			return err
		}
		f.Close()
		if logged != cur {
			logged = cur
			logf("testinfra: lab %s waits for kernel audit, held by lab %s (one lab with audit hosts at a time)", name, cur)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited %v for kernel audit (held by lab %s): %w", time.Since(start).Round(time.Second), cur, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func releaseAudit(name string) error {
	f, err := lockFile(context.Background(), filepath.Join(RunRoot, "audit.lock"))
	if err != nil {
		return err
	}
	defer f.Close()
	ownerPath := filepath.Join(RunRoot, "audit.owner")
	owner, _ := os.ReadFile(ownerPath)
	if strings.TrimSpace(string(owner)) == name {
		return os.Remove(ownerPath)
	}
	return nil
}

// labAlive reports whether the named lab still exists and is held.
func labAlive(name string) bool {
	dir := filepath.Join(RunRoot, name)
	s, err := loadState(dir)
	if err != nil {
		return false
	}
	return s.Detached || ownerHolds(dir)
}

func itoa(i int) string { return strconv.Itoa(i) }

// auditBase is the image whose auditctl saves and restores audit state.
func (s *labState) auditBase() string {
	if s.AuditBase != "" {
		return s.AuditBase
	}
	return s.Base
}
