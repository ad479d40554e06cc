package planner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/goprov/goprov/planner/journal"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

// Target is a host with the resources aimed at it, in apply order.
type Target struct {
	Spec      HostSpec
	Resources []*Instance
}

// Instance is a built resource with what the plan records of it.
type Instance struct {
	Address   string
	Kind      string
	Value     cty.Value
	DependsOn []string
	Res       resources.Resource
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func rebuild(kind, address string, value json.RawMessage) (resources.Resource, error) {
	var typed struct {
		Value json.RawMessage `json:"value"`
		Type  json.RawMessage `json:"type"`
	}
	if err := json.Unmarshal(value, &typed); err != nil {
		return nil, fmt.Errorf("decode value: %w", err)
	}
	ty, err := ctyjson.UnmarshalType(typed.Type)
	if err != nil {
		return nil, fmt.Errorf("decode value type: %w", err)
	}
	v, err := ctyjson.Unmarshal(typed.Value, ty)
	if err != nil {
		return nil, fmt.Errorf("decode value: %w", err)
	}
	r, diags := resources.Build(kind, address, v, nil)
	if diags.HasErrors() {
		return nil, errors.New(diags.Error())
	}
	return r, nil
}

// Connector opens a transport to a host. The CLI provides it (local or SSH,
// with the run's secrets), so the planner never sees a password.
type Connector interface {
	Connect(ctx context.Context, h HostSpec) (transport.Transport, error)
}

// Engine plans and applies across hosts.
type Engine struct {
	Connector Connector
	// Parallel bounds how many hosts are worked on at once.
	Parallel int
	// HostDone, if set, is called (from worker goroutines, serialised) as
	// each host finishes, for progress display.
	HostDone func(done, total int, h *HostPlan)
	// JournalPath, when set, is the controller's change journal; every
	// apply also appends to each host's own journal (journal.HostPath).
	JournalPath string
	// JournalMaxSize is the size past which a host journal rotates (0:
	// journal.DefaultMaxSize; negative: never).
	JournalMaxSize int64
	// LockTimeout bounds the wait for another apply's host lock (0:
	// DefaultLockTimeout).
	LockTimeout time.Duration
	// ReadTimeout bounds a host's batched read (0: DefaultReadTimeout;
	// negative: none): a host whose read hangs (a dead NFS mount under a
	// probed path, a hostile tool) fails alone instead of holding up the
	// whole run.
	ReadTimeout time.Duration

	mu    sync.Mutex
	conns map[string]transport.Transport
	built map[*HostPlan][]resources.Resource // each planned host's resources
	held  map[*HostPlan]*heldHost            // PlanLocked's, until Apply takes them
	run   *runInfo
}

// Close releases the locks PlanLocked still holds and closes every
// connection the engine opened.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for name, hh := range e.held {
		hh.lock.release()
		delete(e.held, name)
	}
	var errs []error
	for _, t := range e.conns {
		errs = append(errs, t.Close())
	}
	e.conns = nil
	return errors.Join(errs...)
}

// conn returns the host's connection, opening it once per run.
func (e *Engine) conn(ctx context.Context, h HostSpec) (transport.Transport, error) {
	e.mu.Lock()
	t, ok := e.conns[h.Name]
	e.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := e.Connector.Connect(ctx, h)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.conns == nil {
		e.conns = map[string]transport.Transport{}
	}
	e.conns[h.Name] = t
	e.mu.Unlock()
	return t, nil
}

// forEachHost runs fn on every host with at most Parallel at once; a failing
// host never stops the others.
func (e *Engine) forEachHost(ctx context.Context, hosts []*HostPlan, fn func(context.Context, *HostPlan)) {
	par := e.Parallel
	if par <= 0 {
		par = 20
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for _, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func(h *HostPlan) {
			defer wg.Done()
			defer func() { <-sem }()
			fn(ctx, h)
			mu.Lock()
			done++
			if e.HostDone != nil {
				e.HostDone(done, len(hosts), h)
			}
			mu.Unlock()
		}(h)
	}
	wg.Wait()
}

// Plan connects to every target, reads all state in one batched command per
// host and diffs it. Hosts that fail are marked failed; the others finish.
func (e *Engine) Plan(ctx context.Context, targets []*Target) *Plan {
	p := e.newPlan(targets)
	e.forEachHost(ctx, p.Hosts, func(ctx context.Context, hp *HostPlan) {
		if len(hp.Changes) == 0 {
			return // nothing targets this host (a bastion, say): leave it alone
		}
		if _, err := e.read(ctx, hp); err != nil {
			hp.Status, hp.Error = StatusFailed, err.Error()
		}
	})
	return p
}

// PlanLocked is Plan for an apply of a configuration: it takes each host's
// apply lock first and reads in the lock holder's own session, then keeps
// the locks and reads for Apply, which thus reads nothing again (as
// Terraform holds its state lock through the approval prompt). Close
// releases the locks of hosts that Apply did not get to.
func (e *Engine) PlanLocked(ctx context.Context, targets []*Target) *Plan {
	p := e.newPlan(targets)
	run := e.runInfo()
	e.forEachHost(ctx, p.Hosts, func(ctx context.Context, hp *HostPlan) {
		if len(hp.Changes) == 0 {
			return
		}
		lock, rd, err := e.lockRead(ctx, run, hp, hp)
		if err != nil {
			hp.Status, hp.Error = StatusFailed, err.Error()
			return
		}
		e.mu.Lock()
		if e.held == nil {
			e.held = map[*HostPlan]*heldHost{}
		}
		e.held[hp] = &heldHost{lock: lock, rd: rd}
		e.mu.Unlock()
	})
	return p
}

// heldHost is a host locked and read by PlanLocked, waiting for Apply.
type heldHost struct {
	lock *hostLock
	rd   *hostRead
}

// takeHeld hands over (once) what PlanLocked kept of a host of its plan.
func (e *Engine) takeHeld(hp *HostPlan) *heldHost {
	e.mu.Lock()
	defer e.mu.Unlock()
	hh := e.held[hp]
	delete(e.held, hp)
	return hh
}

// resOf is the resources of hp's changes: those its plan was made from
// (by this engine), else rebuilt from each change's kind and value (a
// saved plan).
func (e *Engine) resOf(hp *HostPlan) ([]resources.Resource, error) {
	e.mu.Lock()
	res, ok := e.built[hp]
	e.mu.Unlock()
	if ok {
		return res, nil
	}
	res = make([]resources.Resource, len(hp.Changes))
	for i, c := range hp.Changes {
		r, err := rebuild(c.Kind, c.Address, c.Value)
		if err != nil {
			return nil, prefixHost(hp.Name, "rebuild "+c.Address, err)
		}
		res[i] = r
	}
	return res, nil
}

// runInfo is this engine's apply run, the same from PlanLocked to Apply.
func (e *Engine) runInfo() runInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.run == nil {
		r := newRunInfo()
		e.run = &r
	}
	return *e.run
}

// newPlan is the plan of targets before any read; the engine keeps each
// host's resources (behaviour, not data) beside it.
func (e *Engine) newPlan(targets []*Target) *Plan {
	p := &Plan{FormatVersion: FormatVersion, CreatedAt: time.Now().UTC()}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.built == nil {
		e.built = map[*HostPlan][]resources.Resource{}
	}
	for _, t := range targets {
		hp := &HostPlan{Name: t.Spec.Name, Spec: t.Spec, Status: StatusPlanned}
		var res []resources.Resource
		for _, in := range t.Resources {
			hp.Changes = append(hp.Changes, &ResourceChange{Address: in.Address, Kind: in.Kind, DependsOn: in.DependsOn, Value: mustValueJSON(in.Value)})
			res = append(res, in.Res)
		}
		e.built[hp] = res
		p.Hosts = append(p.Hosts, hp)
	}
	return p
}

func mustValueJSON(v cty.Value) json.RawMessage {
	val, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		panic(fmt.Sprintf("marshal resource value: %v", err)) // values come from the DSL: always marshalable
	}
	ty, err := ctyjson.MarshalType(v.Type())
	if err != nil {
		panic(fmt.Sprintf("marshal resource type: %v", err))
	}
	b, _ := json.Marshal(struct {
		Value json.RawMessage `json:"value"`
		Type  json.RawMessage `json:"type"`
	}{val, ty})
	return b
}

// read connects, runs the batched probe and fills each change's action,
// diff and digest.
func (e *Engine) read(ctx context.Context, hp *HostPlan) (*hostRead, error) {
	return e.readFor(ctx, hp, false)
}

// hostRead is what apply needs of its fresh read and never saves: the host
// handle, each change's working record (its resource and probe output,
// by change index) and the journal's last line.
type hostRead struct {
	h     *resources.Host
	works []*work
	tail  []byte
}

// readFor is read; for an apply it also fetches the last line of the host's
// journal in the same command, to chain the records it will append.
func (e *Engine) readFor(ctx context.Context, hp *HostPlan, apply bool) (*hostRead, error) {
	start := time.Now()
	t, err := e.conn(ctx, hp.Spec)
	hp.Timings.ConnectMS = time.Since(start).Milliseconds()
	if err != nil {
		return nil, prefixHost(hp.Name, "connect", err)
	}
	start = time.Now()
	defer func() { hp.Timings.ReadMS = time.Since(start).Milliseconds() }()
	h := e.hostFor(hp, t)
	rs, err := e.resOf(hp)
	if err != nil {
		return nil, err
	}
	rb := newReadBatch(h, worksOf(hp.Changes, rs), apply)
	rctx, cancel := e.readContext(ctx)
	defer cancel()
	res, err := t.Run(rctx, rb.cmd())
	return rb.finish(h, hp, res, e.readErr(ctx, rctx, err))
}

// DefaultReadTimeout bounds a host's read when Engine.ReadTimeout is 0:
// reads take well under a second on a healthy host.
const DefaultReadTimeout = 5 * time.Minute

// ReadTimeoutError says a host's read did not finish in time.
type ReadTimeoutError struct{ After time.Duration }

func (e *ReadTimeoutError) Error() string {
	return fmt.Sprintf("the read did not finish within %s (-read-timeout); its command was stopped", e.After)
}

func (e *Engine) readTimeout() time.Duration {
	if e.ReadTimeout == 0 {
		return DefaultReadTimeout
	}
	return e.ReadTimeout
}

// readContext is ctx bounded by the read timeout.
func (e *Engine) readContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d := e.readTimeout(); d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// readErr names a read that ran out of time (rctx's deadline, not the
// run's own ctx) as such.
func (e *Engine) readErr(ctx, rctx context.Context, err error) error {
	if err != nil && ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return &ReadTimeoutError{After: e.readTimeout()}
	}
	return err
}

// lockRead takes hp's apply lock and reads the host in the lock holder's
// session (one exec request for both); the host handle it returns runs
// its commands in that session too. src is the plan's own record of the
// host (hp may be apply's copy of it), whose resources are hp's.
func (e *Engine) lockRead(ctx context.Context, run runInfo, src, hp *HostPlan) (*hostLock, *hostRead, error) {
	timeout := e.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	start := time.Now()
	t, err := e.conn(ctx, hp.Spec)
	hp.Timings.ConnectMS = time.Since(start).Milliseconds()
	if err != nil {
		return nil, nil, prefixHost(hp.Name, "connect", err)
	}
	start = time.Now()
	defer func() { hp.Timings.ReadMS = time.Since(start).Milliseconds() }()
	h := e.hostFor(hp, t)
	rs, err := e.resOf(src)
	if err != nil {
		return nil, nil, err
	}
	rb := newReadBatch(h, worksOf(hp.Changes, rs), true)
	cmd := rb.cmd()
	lock, first, err := lockAndRun(ctx, h, holderInfo(run), timeout, &cmd, e.readTimeout())
	if err != nil {
		return nil, nil, prefixHost(hp.Name, "lock", err)
	}
	var rerr error = first.err
	if errors.Is(first.err, context.DeadlineExceeded) && ctx.Err() == nil {
		// The read hung: the holder cannot answer anything else, so
		// its session is ended rather than released.
		lock.abort()
		rerr = &ReadTimeoutError{After: e.readTimeout()}
	}
	rd, err := rb.finish(h, hp, first.res, rerr)
	if err != nil {
		lock.release()
		return nil, nil, err
	}
	h.T = held(t, lock)
	return lock, rd, nil
}

// readBatch is a host's batched read: facts, one section per unit and,
// for an apply, the journal's tail.
type readBatch struct {
	b       *batch
	works   []*work
	units   []*unit
	tailIdx int
}

func newReadBatch(h *resources.Host, ws []*work, apply bool) *readBatch {
	rb := &readBatch{b: newBatch(), works: ws, units: unitsOf(ws), tailIdx: -1}
	rb.b.add(resources.FactsProbe)
	for _, u := range rb.units {
		rb.b.add(u.probe(h, ws))
	}
	if apply {
		rb.tailIdx = rb.b.add(journalTailProbe(h))
	}
	return rb
}

func (rb *readBatch) cmd() transport.Cmd {
	return transport.Cmd{Script: rb.b.script(), Sudo: true, ReadOnly: true}
}

// finish turns the read's output into facts, diffs and the journal tail.
func (rb *readBatch) finish(h *resources.Host, hp *HostPlan, res transport.Result, err error) (*hostRead, error) {
	if err != nil {
		return nil, prefixHost(hp.Name, "read", err)
	}
	secs, err := rb.b.parse(res.Stdout)
	if err != nil {
		if msg := strings.TrimSpace(string(res.Stderr)); msg != "" {
			err = fmt.Errorf("%w (stderr: %s)", err, msg)
		}
		return nil, prefixHost(hp.Name, "read", err)
	}
	if err := readFacts(h, hp, secs[0]); err != nil {
		return nil, err
	}
	rd := &hostRead{h: h, works: rb.works}
	if err := diffUnits(h, rb.works, rb.units, secs[1:1+len(rb.units)]); err != nil {
		var stale *StaleError
		if errors.As(err, &stale) {
			return nil, prefixHost(hp.Name, "apply", err)
		}
		return nil, prefixHost(hp.Name, "read", err)
	}
	if rb.tailIdx >= 0 {
		// An unread tail would restart the chain from scratch: a fork.
		if s := secs[rb.tailIdx]; s.code != 0 {
			return nil, prefixHost(hp.Name, "read journal", fmt.Errorf("exit %d: %s", s.code, strings.TrimSpace(string(s.stderr))))
		}
		rd.tail = secs[rb.tailIdx].out
	}
	return rd, nil
}

// hostFor is what resources see of hp over t.
func (e *Engine) hostFor(hp *HostPlan, t transport.Transport) *resources.Host {
	h := &resources.Host{Name: hp.Name, Root: hp.Spec.Root, T: t}
	if h.Root == "" {
		h.Root = "/"
	}
	if p, ok := t.(interface{ Port() int }); ok {
		h.SSHPort = p.Port()
	}
	if u, ok := t.(interface{ User() string }); ok {
		h.LoginUser = u.User()
	}
	if m, ok := t.(interface{ AuthMethod() string }); ok {
		h.AuthMethod = m.AuthMethod()
	}
	spec := hp.Spec
	h.Reconnect = func(ctx context.Context) (transport.Transport, error) {
		return e.Connector.Connect(ctx, spec)
	}
	return h
}

// readFacts parses the facts section into h and hp.
func readFacts(h *resources.Host, hp *HostPlan, s section) error {
	if s.code != 0 {
		return prefixHost(hp.Name, "read facts", fmt.Errorf("exit %d: %s", s.code, strings.TrimSpace(string(s.stderr))))
	}
	var err error
	if h.Facts, err = resources.ParseFacts(s.out); err != nil {
		return prefixHost(hp.Name, "read facts", err)
	}
	facts := h.Facts
	hp.Facts = &facts
	// The port sshd sees wins over the one dialled (port forwarding).
	if h.SSHPort != 0 && h.Facts.SSHDPort != 0 {
		h.SSHPort = h.Facts.SSHDPort
	}
	return nil
}

// StaleError refuses a saved plan on a host whose state moved since.
type StaleError struct{ Address string }

func (e *StaleError) Error() string {
	return fmt.Sprintf("stale plan: %s changed on the host since the plan was made; nothing was applied here — plan again", e.Address)
}

func prefixHost(host, step string, err error) error {
	return &hostError{host: host, step: step, err: err}
}

// hostError names the host and the step; transports name the host in
// their own errors already, so it is not repeated.
type hostError struct {
	host, step string
	err        error
}

func (e *hostError) Error() string {
	msg := strings.TrimPrefix(e.err.Error(), e.host+": ")
	return e.host + ": " + e.step + ": " + msg
}

func (e *hostError) Unwrap() error { return e.err }

// Apply carries out p and returns what it did; p itself is left as it was
// (the plan is data: save it, show it, compare it). Each host is read again
// first (unless PlanLocked read it under the lock): where any resource's
// state no longer matches the plan's digest, the host is refused as stale
// and nothing is changed there. On a host, changes run in dependency order
// and stop at the first failure; other hosts go on. The resources are the
// ones this engine planned p from; a plan from elsewhere (a saved plan) has
// its resources rebuilt from each change's kind and value.
func (e *Engine) Apply(ctx context.Context, p *Plan) ApplyResult {
	var todo []*HostPlan
	src := map[*HostPlan]*HostPlan{} // apply's copy -> the plan's host
	for _, hp := range p.Hosts {
		if hp.Status == StatusPlanned && len(hp.Changes) > 0 {
			w := hp.working() // apply's own copy
			src[w] = hp
			todo = append(todo, w)
		}
	}
	run := e.runInfo()
	var jmu sync.Mutex
	byHost := map[string][]journal.Record{}
	e.forEachHost(ctx, todo, func(ctx context.Context, hp *HostPlan) {
		if recs := e.applyHost(ctx, run, src[hp], hp); len(recs) > 0 {
			jmu.Lock()
			byHost[hp.Name] = recs
			jmu.Unlock()
		}
	})
	r := ApplyResult{Hosts: map[string]*HostPlan{}}
	for _, hp := range todo {
		r.Hosts[hp.Name] = hp
	}
	if e.JournalPath == "" {
		return r
	}
	var all []journal.Record
	for _, hp := range p.Hosts {
		all = append(all, byHost[hp.Name]...)
	}
	r.JournalHead, r.JournalErr = e.appendControllerJournal(all)
	return r
}

// ApplyResult is what an apply did.
type ApplyResult struct {
	// Hosts holds, by name, each host apply worked on as apply left it:
	// the host's status, error and journal head, and each change's
	// outcome, error and notes (and, for a change known only after
	// apply, its diff as read then).
	Hosts map[string]*HostPlan
	// JournalHead is the controller journal's head hash after the apply
	// ("" without a journal); JournalErr why it could not be written.
	JournalHead string
	JournalErr  error
}

// Applied is p as this apply left it, for views and reports: a copy of p
// whose hosts apply worked on are replaced by their results. p is not
// changed.
func (r ApplyResult) Applied(p *Plan) *Plan {
	out := *p
	out.Hosts = make([]*HostPlan, len(p.Hosts))
	for i, hp := range p.Hosts {
		if done, ok := r.Hosts[hp.Name]; ok {
			out.Hosts[i] = done
		} else {
			out.Hosts[i] = hp
		}
	}
	return &out
}

// working is a copy of hp that apply may change: its own host and change
// records (slices that apply appends to are copied too).
func (hp *HostPlan) working() *HostPlan {
	w := *hp
	if hp.Facts != nil {
		f := *hp.Facts
		w.Facts = &f
	}
	w.Changes = make([]*ResourceChange, len(hp.Changes))
	for i, c := range hp.Changes {
		cc := *c
		cc.Notes = append([]string(nil), c.Notes...)
		cc.DependsOn = append([]string(nil), c.DependsOn...)
		w.Changes[i] = &cc
	}
	return &w
}

// appendControllerJournal appends the run's records to JournalPath and
// returns the journal's new head.
func (e *Engine) appendControllerJournal(all []journal.Record) (string, error) {
	if err := journal.AppendFile(e.JournalPath, all); err != nil {
		return "", err
	}
	var head string
	if f, err := os.Open(e.JournalPath); err == nil {
		_, _, head, _ = journal.VerifyHead(f)
		f.Close()
	}
	return head, nil
}

// applyHost locks the host and reads it again (unless PlanLocked did
// both), applies its changes and journals them; it returns the host's
// journal records.
func (e *Engine) applyHost(ctx context.Context, run runInfo, src, hp *HostPlan) []journal.Record {
	var lock *hostLock
	var rd *hostRead
	if hh := e.takeHeld(src); hh != nil {
		lock, rd = hh.lock, hh.rd // this plan was made under the lock
		for i, w := range rd.works {
			w.ResourceChange = hp.Changes[i] // apply records on its copy
		}
	} else {
		recorded := make([]resources.Action, len(hp.Changes))
		for i, c := range hp.Changes {
			recorded[i] = c.Action
		}
		var err error
		if lock, rd, err = e.lockRead(ctx, run, src, hp); err != nil {
			var stale *StaleError
			if errors.As(err, &stale) {
				hp.Status = StatusStale
			} else {
				hp.Status = StatusFailed
			}
			hp.Error = err.Error()
			return nil
		}
		for i, c := range hp.Changes {
			if c.Action != recorded[i] {
				// Same digest yet another action: a bug, never apply a guess.
				lock.release()
				hp.Status, hp.Error = StatusFailed, fmt.Sprintf("%s: apply: %s: planned %s but now %s", hp.Name, c.Address, recorded[i], c.Action)
				return nil
			}
		}
	}
	defer lock.release()
	start := time.Now()
	defer func() { hp.Timings.ApplyMS = time.Since(start).Milliseconds() }()
	lost := applyChanges(ctx, hp, rd, lock)
	if lost == nil && len(run.records(hp)) > 0 {
		if lost = lock.check(ctx, lockCheckTimeout); lost != nil {
			hp.Status = StatusFailed
			msg := fmt.Sprintf("%s: journal: %v; stopped before writing the host's journal (the changes above were made; the host's journal misses them)", hp.Name, lost)
			if hp.Error != "" {
				msg = hp.Error + "; " + msg
			}
			hp.Error = msg
		}
	}
	if lost != nil {
		return run.records(hp) // no write without the lock, the host journal's neither
	}
	return e.journalHost(ctx, run, hp, rd.h, rd.tail)
}

// applyChanges applies the host's units in apply order, stopping at the
// first failure; a group is applied once, at its first member that
// changes. It sets outcomes and the host's status, and returns why the
// lock was lost, if it was.
func applyChanges(ctx context.Context, hp *HostPlan, rd *hostRead, lock *hostLock) error {
	units := unitsOf(rd.works)
	unitOf := make([]*unit, len(hp.Changes))
	for _, u := range units {
		for _, i := range u.idx {
			unitOf[i] = u
		}
	}
	done := map[*unit]bool{}
	failed := false
	var lost error
	// flush applies the changes known after apply whose package resource
	// is applied and that come before position upto (deps.go).
	flush := func(upto int) {
		if failed {
			return
		}
		check := func() error {
			lost = lock.check(ctx, lockCheckTimeout) // no write without the lock
			return lost
		}
		if err := applyReady(ctx, rd.h, rd.works, upto, check); err != nil {
			hp.Status, hp.Error = StatusFailed, fmt.Sprintf("%s: apply: %v", hp.Name, err)
			failed = true
		}
	}
	runs := planWriteRuns(rd.h, rd.works)
	for i, c := range hp.Changes {
		flush(i)
		if c.Action == resources.NoOp || c.KnownAfterApply != "" || runs.inRun[i] && c.Outcome != "" {
			continue // a no-op, carried out by its write run, or run in applyWaiting
		}
		if failed {
			c.Outcome = OutcomeSkipped
			continue
		}
		u := unitOf[i]
		if done[u] {
			c.Outcome = OutcomeApplied // its group's one call made it
			continue
		}
		// Another operator may hold the lock once ours is gone: prove
		// it is still ours before every write.
		if lost = lock.check(ctx, lockCheckTimeout); lost != nil {
			c.Outcome = OutcomeSkipped
			hp.Status, hp.Error = StatusFailed, fmt.Sprintf("%s: apply: %v; stopped before %s", hp.Name, lost, c.Address)
			failed = true
			continue
		}
		if r := runs.start[i]; r != nil {
			// The files of this change and the next batchable ones: one command.
			if err := applyRun(ctx, rd.h, hp, r); err != nil {
				hp.Status, hp.Error = StatusFailed, err.Error()
				failed = true
			}
			continue
		}
		notes := rd.h.CollectNotes()
		err := u.apply(ctx, rd.h, rd.works)
		done[u] = true
		c.Notes = appendNew(c.Notes, notes()...)
		if err != nil {
			c.Outcome, c.Error = OutcomeFailed, err.Error()
			hp.Status, hp.Error = StatusFailed, fmt.Sprintf("%s: apply: %s: %v", hp.Name, c.Address, err)
			failed = true
			continue
		}
		c.Outcome = OutcomeApplied
	}
	flush(len(hp.Changes))
	skipWaiting(hp)
	if !failed {
		hp.Status = StatusApplied
	}
	return lost
}

func appendNew(xs []string, more ...string) []string {
	for _, m := range more {
		if !contains(xs, m) {
			xs = append(xs, m)
		}
	}
	return xs
}
