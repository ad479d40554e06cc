package planner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/goprov/goprov/dsl"
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

// Compile builds every resource of cfg (validating it) and assigns resources
// to hosts. cfg.Resources is already in dependency order. limit is a -limit
// selector ("group.web,host.db1"; "" means every host).
func Compile(cfg *dsl.Config, limit string) ([]*Target, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var insts []*Instance
	var all []built
	targets := map[string][]string{}
	for _, r := range cfg.Resources {
		res, d := resources.Build(r.Kind, r.Address, r.Value, r.Body)
		for _, dg := range d {
			if dg.Subject == nil {
				dg.Subject = r.DeclRange.Ptr()
			}
		}
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		insts = append(insts, &Instance{Address: r.Address, Kind: r.Kind, Value: r.Value, DependsOn: r.DependsOn, Res: res})
		targets[r.Address] = r.Targets
		all = append(all, built{r, res})
	}
	diags = append(diags, checkOwners(cfg.Hosts, all)...)
	selected, d := selectHosts(cfg.Hosts, limit)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return nil, diags
	}
	byName := map[string]*dsl.Host{}
	for _, h := range cfg.Hosts {
		byName[h.Name] = h
	}
	var out []*Target
	for _, h := range selected {
		spec := specOf(h)
		chain, err := jumpChain(h, byName)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid jump", Detail: err.Error(), Subject: h.DeclRange.Ptr()})
			continue
		}
		spec.JumpChain = chain
		t := &Target{Spec: spec}
		for _, in := range insts {
			if tg := targets[in.Address]; tg == nil || contains(tg, h.Name) {
				t.Resources = append(t.Resources, in)
			}
		}
		out = append(out, t)
	}
	return out, diags
}

// jumpChain resolves `jump = "bastion"` when bastion is a host block (whose
// own jump, if any, comes first). A jump that names no host block is left to
// the transport as a ProxyJump spec (user@host:port,…).
func jumpChain(h *dsl.Host, hosts map[string]*dsl.Host) ([]HostSpec, error) {
	var chain []HostSpec
	seen := map[string]bool{h.Name: true}
	for cur := h; cur.Jump != ""; {
		next, ok := hosts[cur.Jump]
		if !ok {
			if cur == h {
				return nil, nil
			}
			return nil, fmt.Errorf("host %q jumps through %q, which names no host block; write its ProxyJump chain on %q itself", cur.Name, cur.Jump, h.Name)
		}
		if seen[next.Name] {
			return nil, fmt.Errorf("jump hosts of %q form a loop through %q", h.Name, next.Name)
		}
		if next.Connection != dsl.ConnSSH {
			return nil, fmt.Errorf("host %q jumps through %q, which is not an ssh host", cur.Name, next.Name)
		}
		seen[next.Name] = true
		chain = append([]HostSpec{specOf(next)}, chain...)
		cur = next
	}
	return chain, nil
}

func specOf(h *dsl.Host) HostSpec {
	return HostSpec{Name: h.Name, Connection: h.Connection, Root: h.Root, Groups: h.Groups, Address: h.Address,
		Port: h.Port, User: h.User, IdentityFile: h.IdentityFile, KnownHosts: h.KnownHosts,
		HostKeyPolicy: h.HostKeyPolicy, Jump: h.Jump, Become: h.Become}
}

func selectHosts(hosts []*dsl.Host, limit string) ([]*dsl.Host, hcl.Diagnostics) {
	if strings.TrimSpace(limit) == "" {
		return hosts, nil
	}
	want := map[string]bool{}
	for _, sel := range strings.Split(limit, ",") {
		sel = strings.TrimSpace(sel)
		kind, name, ok := strings.Cut(sel, ".")
		matched := false
		for _, h := range hosts {
			if ok && ((kind == "host" && h.Name == name) || (kind == "group" && h.InGroup(name))) {
				want[h.Name] = true
				matched = true
			}
		}
		if !ok || (kind != "host" && kind != "group") {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid -limit",
				Detail: fmt.Sprintf("%q: -limit takes host.NAME and group.NAME, separated by commas.", sel)}}
		}
		if !matched {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid -limit",
				Detail: fmt.Sprintf("%q matches no host of the configuration.", sel)}}
		}
	}
	var out []*dsl.Host
	for _, h := range hosts {
		if want[h.Name] {
			out = append(out, h)
		}
	}
	return out, nil
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
	// JournalHead is set by Apply to the controller journal's head hash;
	// JournalErr to why the controller journal could not be written.
	JournalHead string
	JournalErr  error
	// JournalMaxSize is the size past which a host journal rotates (0:
	// journal.DefaultMaxSize; negative: never).
	JournalMaxSize int64
	// LockTimeout bounds the wait for another apply's host lock (0:
	// DefaultLockTimeout).
	LockTimeout time.Duration

	mu    sync.Mutex
	conns map[string]transport.Transport
}

// Close closes every connection the engine opened.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
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
	p := &Plan{FormatVersion: FormatVersion, CreatedAt: time.Now().UTC()}
	for _, t := range targets {
		hp := &HostPlan{Name: t.Spec.Name, Spec: t.Spec, Status: StatusPlanned}
		for _, in := range t.Resources {
			hp.Changes = append(hp.Changes, &ResourceChange{Address: in.Address, Kind: in.Kind, DependsOn: in.DependsOn, res: in.Res, Value: mustValueJSON(in.Value)})
		}
		p.Hosts = append(p.Hosts, hp)
	}
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
// diff and digest. It returns the host handle for a following apply.
func (e *Engine) read(ctx context.Context, hp *HostPlan) (*resources.Host, error) {
	h, _, err := e.readFor(ctx, hp, false)
	return h, err
}

// readFor is read; for an apply it also fetches the last line of the host's
// journal in the same command, to chain the records it will append.
func (e *Engine) readFor(ctx context.Context, hp *HostPlan, apply bool) (*resources.Host, []byte, error) {
	start := time.Now()
	t, err := e.conn(ctx, hp.Spec)
	hp.Timings.ConnectMS = time.Since(start).Milliseconds()
	if err != nil {
		return nil, nil, prefixHost(hp.Name, "connect", err)
	}
	start = time.Now()
	defer func() { hp.Timings.ReadMS = time.Since(start).Milliseconds() }()
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
	b := newBatch()
	b.add(resources.FactsProbe)
	for _, c := range hp.Changes {
		b.add(c.res.Probe(h))
	}
	tailIdx := -1
	if apply {
		tailIdx = b.add(journalTailProbe(h))
	}
	res, err := t.Run(ctx, transport.Cmd{Script: b.script(), Sudo: true, ReadOnly: true})
	if err != nil {
		return nil, nil, prefixHost(hp.Name, "read", err)
	}
	secs, err := b.parse(res.Stdout)
	if err != nil {
		if msg := strings.TrimSpace(string(res.Stderr)); msg != "" {
			err = fmt.Errorf("%w (stderr: %s)", err, msg)
		}
		return nil, nil, prefixHost(hp.Name, "read", err)
	}
	if secs[0].code != 0 {
		return nil, nil, prefixHost(hp.Name, "read facts", fmt.Errorf("exit %d: %s", secs[0].code, strings.TrimSpace(string(res.Stderr))))
	}
	if h.Facts, err = resources.ParseFacts(secs[0].out); err != nil {
		return nil, nil, prefixHost(hp.Name, "read facts", err)
	}
	facts := h.Facts
	hp.Facts = &facts
	// The port sshd sees wins over the one dialled (port forwarding).
	if h.SSHPort != 0 && h.Facts.SSHDPort != 0 {
		h.SSHPort = h.Facts.SSHDPort
	}
	var errs []error
	for i, c := range hp.Changes {
		s := secs[i+1]
		sum := sha256.Sum256(s.raw)
		digest := hex.EncodeToString(sum[:])
		if s.code != 0 {
			errs = append(errs, fmt.Errorf("%s: read state: exit %d: %s", c.Address, s.code, strings.TrimSpace(string(res.Stderr))))
			continue
		}
		ch, err := c.res.Diff(h, s.out)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Address, err))
			continue
		}
		c.Action, c.Summary, c.Diff, c.Notes = ch.Action, ch.Summary, ch.Diff, ch.Notes
		c.BeforeSHA256, c.AfterSHA256 = ch.BeforeSHA256, ch.AfterSHA256
		c.current = s.out
		if c.BeforeDigest != "" && c.BeforeDigest != digest {
			return h, nil, prefixHost(hp.Name, "apply", &StaleError{Address: c.Address})
		}
		c.BeforeDigest = digest
	}
	if len(errs) > 0 {
		return nil, nil, prefixHost(hp.Name, "read", errors.Join(errs...))
	}
	var tail []byte
	if tailIdx >= 0 {
		// An unread tail would restart the chain from scratch: a fork.
		if s := secs[tailIdx]; s.code != 0 {
			return nil, nil, prefixHost(hp.Name, "read journal", fmt.Errorf("exit %d: %s", s.code, strings.TrimSpace(string(res.Stderr))))
		}
		tail = secs[tailIdx].out
	}
	return h, tail, nil
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

// Apply carries out p. Each host is read again first: where any resource's
// state no longer matches the plan's digest, the host is refused as stale
// and nothing is changed there. On a host, changes run in dependency order
// and stop at the first failure; other hosts go on.
func (e *Engine) Apply(ctx context.Context, p *Plan) {
	var todo []*HostPlan
	for _, hp := range p.Hosts {
		if hp.Status == StatusPlanned && len(hp.Changes) > 0 {
			todo = append(todo, hp)
		}
	}
	run := newRunInfo()
	var jmu sync.Mutex
	byHost := map[string][]journal.Record{}
	e.forEachHost(ctx, todo, func(ctx context.Context, hp *HostPlan) {
		recorded := make([]resources.Action, len(hp.Changes))
		for i, c := range hp.Changes {
			recorded[i] = c.Action
		}
		timeout := e.LockTimeout
		if timeout <= 0 {
			timeout = DefaultLockTimeout
		}
		t, err := e.conn(ctx, hp.Spec)
		if err != nil {
			hp.Status, hp.Error = StatusFailed, prefixHost(hp.Name, "connect", err).Error()
			return
		}
		lh := &resources.Host{Name: hp.Name, Root: hp.Spec.Root, T: t}
		lock, err := lockHost(ctx, lh, holderInfo(run), timeout)
		if err != nil {
			hp.Status, hp.Error = StatusFailed, prefixHost(hp.Name, "lock", err).Error()
			return
		}
		defer lock.release()
		h, tail, err := e.readFor(ctx, hp, true)
		if err != nil {
			var stale *StaleError
			if errors.As(err, &stale) {
				hp.Status = StatusStale
			} else {
				hp.Status = StatusFailed
			}
			hp.Error = err.Error()
			return
		}
		start := time.Now()
		defer func() { hp.Timings.ApplyMS = time.Since(start).Milliseconds() }()
		failed := false
		var lost error // set when the lock is gone
		runs := planWriteRuns(h, hp.Changes)
		for i, c := range hp.Changes {
			if c.Action != recorded[i] {
				// Same digest yet another action: a bug, never apply a guess.
				hp.Status, hp.Error = StatusFailed, fmt.Sprintf("%s: apply: %s: planned %s but now %s", hp.Name, c.Address, recorded[i], c.Action)
				return
			}
			if c.Action == resources.NoOp || runs.inRun[i] && c.Outcome != "" {
				continue // a no-op, or carried out by its write run
			}
			if failed {
				c.Outcome = OutcomeSkipped
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
				if err := applyRun(ctx, h, hp, r); err != nil {
					hp.Status, hp.Error = StatusFailed, err.Error()
					failed = true
				}
				continue
			}
			nctx, notes := resources.WithNotes(ctx)
			err := c.res.Apply(nctx, h, resources.Change{Action: c.Action, Summary: c.Summary, Diff: c.Diff, Notes: c.Notes, Current: c.current})
			c.Notes = appendNew(c.Notes, notes()...)
			if err != nil {
				c.Outcome, c.Error = OutcomeFailed, err.Error()
				hp.Status, hp.Error = StatusFailed, fmt.Sprintf("%s: apply: %s: %v", hp.Name, c.Address, err)
				failed = true
				continue
			}
			c.Outcome = OutcomeApplied
		}
		if !failed {
			hp.Status = StatusApplied
		}
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
		var recs []journal.Record
		if lost != nil {
			recs = run.records(hp) // no write without the lock, the host journal's neither
		} else {
			recs = e.journalHost(ctx, run, hp, h, tail)
		}
		if len(recs) > 0 {
			jmu.Lock()
			byHost[hp.Name] = recs
			jmu.Unlock()
		}
	})
	if e.JournalPath == "" {
		return
	}
	var all []journal.Record
	for _, hp := range p.Hosts {
		all = append(all, byHost[hp.Name]...)
	}
	if err := journal.AppendFile(e.JournalPath, all); err != nil {
		e.JournalErr = err
		return
	}
	if f, err := os.Open(e.JournalPath); err == nil {
		_, _, e.JournalHead, _ = journal.VerifyHead(f)
		f.Close()
	}
}

func appendNew(xs []string, more ...string) []string {
	for _, m := range more {
		if !contains(xs, m) {
			xs = append(xs, m)
		}
	}
	return xs
}
