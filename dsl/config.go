// Package dsl parses and evaluates goprov's HCL: variables, locals, hosts
// (and the groups they name), resources and modules. It knows resource kinds
// only by their schema (a hcldec.Spec); what a resource means is the
// resources package's business.
package dsl

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// Connection kinds of a host.
const (
	ConnSSH   = "ssh"
	ConnLocal = "local"
)

// ImplicitHost is the name of the host a config without host blocks gets.
const ImplicitHost = "local"

// Config is an evaluated configuration.
type Config struct {
	Dir       string
	Files     map[string]*hcl.File // every parsed file, for rendering diagnostics
	Hosts     []*Host
	Resources []*Resource
	Outputs   map[string]cty.Value
}

// Host is an evaluated host block.
type Host struct {
	Name          string
	Connection    string // ConnSSH or ConnLocal
	Root          string // local only: the directory treated as "/"
	Groups        []string
	Address       string
	Port          int
	User          string
	IdentityFile  string
	KnownHosts    string
	HostKeyPolicy string
	Jump          string
	Become        bool
	Implicit      bool // the "local" host of a config with no host blocks
	DeclRange     hcl.Range
}

// InGroup reports whether h belongs to group g.
func (h *Host) InGroup(g string) bool {
	for _, x := range h.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// Resource is an evaluated resource block (one instance of it, once count and
// for_each are expanded).
type Resource struct {
	Kind    string
	Name    string // the block's label, plus [key] for count/for_each instances
	Address string // e.g. "profile_script.go" or "module.dev.profile_script.go[\"a\"]"
	// Targets are host names this resource applies to; nil means every host.
	Targets   []string
	DependsOn []string // addresses of resources this one must be applied after
	Value     cty.Value
	Body      hcl.Body // the kind's part of the block, for attribute source ranges
	DeclRange hcl.Range
	// ModuleCalls are the module blocks that brought this resource in,
	// outermost first (nil for a resource of the root module).
	ModuleCalls []hcl.Range
}

// KindSchemas tells the loader which resource kinds exist and their schema.
type KindSchemas interface {
	Spec(kind string) (hcldec.Spec, bool)
	Kinds() []string
}

// Options for Load.
type Options struct {
	Vars     map[string]string // -var name=value, raw text (parsed like Terraform: as HCL for non-string types)
	VarFiles []string          // -var-file FILE
	Kinds    KindSchemas
}
