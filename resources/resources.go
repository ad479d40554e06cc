// Package resources holds what every resource kind shares: the Kind and
// Resource contracts, the registry, host facts, file probing and the one safe
// write path. Each kind lives in its own subpackage and registers itself;
// kinds never import each other.
package resources

import (
	"context"
	"fmt"
	"path"
	"sort"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/transport"
)

// Action is what a change does to a resource, as in Terraform's plans.
type Action string

// Actions.
const (
	NoOp   Action = "no-op"
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Change is the planned change of one resource on one host: pure data,
// computed from the desired state and the probed current state.
type Change struct {
	Action  Action
	Summary string   // one line, e.g. "/etc/profile.d/go.sh (0644 root:root)"
	Diff    string   // unified diff of file content, "" when none applies
	Notes   []string // things the operator must know: "reload pending", "reboot required"
	// BeforeSHA256 and AfterSHA256 digest the resource's content before and
	// as desired ("" for absent), for the change journal.
	BeforeSHA256, AfterSHA256 string
	// ToolMissing, when set, says the change was planned without a tool
	// the host lacks (see ToolMissingError).
	ToolMissing *ToolMissingError
	// Current is this resource's probe output from the read that apply
	// made just before applying (digest-checked against the plan), so
	// Apply needs no second read. Never saved or shown.
	Current []byte
}

// Host is what a resource sees of the host it is planned or applied on.
type Host struct {
	Name  string
	Root  string // "/" except for local hosts built in a directory (golden images)
	T     transport.Transport
	Facts Facts
	// SSHPort is the port of the sshd goprov is logged in through (0 for
	// local hosts): a firewall change must never close it.
	SSHPort int
	// LoginUser is the user goprov logged in as over SSH, and AuthMethod
	// how sshd authenticated it ("publickey"): an sshd change must never
	// exclude them. Both "" for local hosts.
	LoginUser, AuthMethod string
	// Reconnect opens a NEW connection to the host, separate from T, to
	// prove that access still works after a risky change. The caller
	// closes it. nil when the planner cannot offer it.
	Reconnect func(ctx context.Context) (transport.Transport, error)

	notes *[]string // Note's, while the planner collects them
}

// Path maps an absolute path on the host to the path its scripts use. An
// image host's scripts run in the local transport's sandbox, where the
// image is "/": the path is the image's own, and the kernel resolves it
// (links included) inside the image. Only a transport that does not
// sandbox (a test double) gets it joined under Root.
func (h *Host) Path(p string) string {
	if h.Root == "" || h.Root == "/" || h.Sandboxed() {
		return path.Clean(p)
	}
	return path.Join(h.Root, p)
}

// Sandboxed reports whether h is an image host whose scripts run with the
// image as "/" (transport.Local with that root).
func (h *Host) Sandboxed() bool {
	r, ok := h.T.(interface{ Root() string })
	return ok && h.Root != "" && h.Root != "/" && r.Root() == h.Root
}

// Tool is how a script on h calls the host's own tool at absolute path p:
// as is on a live host and in an image's sandbox. An image host without
// the sandbox (test doubles only) gets a command that fails: the image's
// binaries never run on this machine as real root.
func (h *Host) Tool(p string) string {
	if h.Root == "" || h.Root == "/" || h.Sandboxed() {
		return shell.Quote(p)
	}
	return "false"
}

// Run runs a privileged script on the host.
func (h *Host) Run(ctx context.Context, c transport.Cmd) (transport.Result, error) {
	return h.T.Run(ctx, c)
}

// Kind is a resource kind: its schema and how a decoded block becomes a
// Resource. New validates everything that can be checked without a host and
// reports problems at the attribute's source range (body may be nil when
// the value comes from a saved plan, which was validated when it was made).
type Kind interface {
	Spec() hcldec.Spec
	New(address string, v cty.Value, body hcl.Body) (Resource, hcl.Diagnostics)
}

// Resource is one configured resource instance.
//
// Reads are batched: the planner joins every resource's Probe of a host into
// one script, runs it once, and hands each resource its own slice of the
// output. Diff is pure, so a resource's behaviour is testable as data.
//
// The order the engine guarantees, on each host:
//   - Probe is called for every resource of the host (in apply order)
//     before the batched read runs; the read runs once per plan, and once
//     again per apply, under the host's lock.
//   - Diff is called after that read, for every resource in apply order
//     (dependency order: `depends_on` and references), each with its own
//     section of the output only.
//   - Apply runs only after every Diff of the host succeeded and the fresh
//     read matched the plan's digests; it runs in apply order, only for
//     changes whose action is not NoOp, one at a time, and stops at the
//     first failure (the rest are skipped).
//   - Resources of one Group (see Grouped) are probed, diffed and applied
//     together in one call of their Group, at the place of their first
//     member in apply order.
//
// Nothing more is promised: hosts are worked on concurrently, and one
// Resource value serves every host it targets, so a resource keeps no
// per-host state (everything a step needs comes from its arguments).
type Resource interface {
	// Probe returns a POSIX sh snippet that prints this resource's current
	// state on stdout. It must be read-only and deterministic: its output's
	// digest is how a saved plan detects that a host changed since.
	Probe(h *Host) string
	// Diff compares the probed state with the desired one.
	Diff(h *Host, probe []byte) (Change, error)
	// Apply carries out ch (ch.Current holds the fresh probe output). It
	// must leave the host as it was on any failure.
	Apply(ctx context.Context, h *Host, ch Change) error
}

var (
	mu    sync.RWMutex
	kinds = map[string]Kind{}
)

// Register makes a kind known by name; kinds call it from init.
func Register(name string, k Kind) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := kinds[name]; dup {
		panic("resources: kind registered twice: " + name)
	}
	kinds[name] = k
}

// Lookup returns the kind registered under name.
func Lookup(name string) (Kind, bool) {
	mu.RLock()
	defer mu.RUnlock()
	k, ok := kinds[name]
	return k, ok
}

// Registry adapts the registry to what the DSL needs to know of kinds.
type Registry struct{}

// Spec implements dsl.KindSchemas.
func (Registry) Spec(kind string) (hcldec.Spec, bool) {
	k, ok := Lookup(kind)
	if !ok {
		return nil, false
	}
	return k.Spec(), true
}

// Kinds implements dsl.KindSchemas.
func (Registry) Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Build turns a decoded block into a Resource of its kind.
func Build(kind, address string, v cty.Value, body hcl.Body) (Resource, hcl.Diagnostics) {
	k, ok := Lookup(kind)
	if !ok {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown resource kind", Detail: fmt.Sprintf("%q is not a resource kind goprov knows.", kind)}}
	}
	return k.New(address, v, body)
}

// Note reports a note from Apply for the operator ("reboot required",
// "written, not loaded"), shown with the change; outside a collection
// (CollectNotes) it is dropped.
func (h *Host) Note(note string) {
	if h.notes != nil {
		*h.notes = append(*h.notes, note)
	}
}

// CollectNotes starts collecting the notes of one Apply call on h (the
// planner calls it; one Apply runs at a time on a host); the function it
// returns ends the collection and gives the notes.
func (h *Host) CollectNotes() func() []string {
	var ns []string
	h.notes = &ns
	return func() []string {
		h.notes = nil
		return ns
	}
}
