package dsl

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "host", LabelNames: []string{"name"}},
		{Type: "resource", LabelNames: []string{"kind", "name"}},
		{Type: "module", LabelNames: []string{"name"}},
		{Type: "output", LabelNames: []string{"name"}},
	},
}

// Meta-arguments every resource block takes besides its kind's own.
var resourceMetaSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "targets"},
		{Name: "depends_on"},
		{Name: "count"},
		{Name: "for_each"},
	},
}

var nameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// Load parses every *.hcl file in dir and evaluates it. All problems come
// back as diagnostics with source ranges; nothing touches a host.
func Load(dir string, opts Options) (*Config, hcl.Diagnostics) {
	p := hclparse.NewParser()
	cfg := &Config{Dir: dir, Outputs: map[string]cty.Value{}}
	cfg.Files = p.Files()
	l := &loader{parser: p, opts: opts, cfg: cfg}

	vars, diags := l.rootVariables(dir)
	m, d := l.loadModule(dir, "", vars, nil, true)
	diags = append(diags, d...)
	if m != nil {
		cfg.Outputs = m.outputs
	}
	cfg.Files = p.Files()
	if diags.HasErrors() {
		return cfg, diags
	}
	return cfg, diags
}

type loader struct {
	parser *hclparse.Parser
	opts   Options
	cfg    *Config
	groups map[string][]string // group name -> host names
}

// parseDir parses the *.hcl files of dir, sorted by name.
func (l *loader) parseDir(dir string) ([]*hcl.File, hcl.Diagnostics) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration directory", Detail: err.Error()}}
	}
	var files []*hcl.File
	var diags hcl.Diagnostics
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".hcl") {
			continue
		}
		f, d := l.parser.ParseHCLFile(filepath.Join(dir, e.Name()))
		diags = append(diags, d...)
		if f != nil {
			files = append(files, f)
		}
	}
	if len(files) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No configuration files",
			Detail: fmt.Sprintf("%s holds no *.hcl files.", dir)})
	}
	return files, diags
}

type varDecl struct {
	name     string
	typ      cty.Type
	def      cty.Value
	hasDef   bool
	rng      hcl.Range
	typeRng  *hcl.Range
	sensitve bool
}

type module struct {
	outputs map[string]cty.Value
}

// rootVariables collects -var-file and -var values as raw material; they are
// matched against declarations in loadModule.
func (l *loader) rootVariables(dir string) (map[string]inputVal, hcl.Diagnostics) {
	vals := map[string]inputVal{}
	var diags hcl.Diagnostics
	for _, vf := range l.opts.VarFiles {
		f, d := l.parser.ParseHCLFile(vf)
		diags = append(diags, d...)
		if f == nil || d.HasErrors() {
			continue
		}
		attrs, d := f.Body.JustAttributes()
		diags = append(diags, d...)
		for name, a := range attrs {
			v, d := a.Expr.Value(nil)
			diags = append(diags, d...)
			r := a.Range
			vals[name] = inputVal{v: v, rng: &r, from: "var file " + vf}
		}
	}
	names := make([]string, 0, len(l.opts.Vars))
	for k := range l.opts.Vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vals[k] = inputVal{raw: l.opts.Vars[k], isRaw: true, from: "-var " + k}
	}
	return vals, diags
}

type inputVal struct {
	v     cty.Value
	raw   string
	isRaw bool
	rng   *hcl.Range
	from  string
}

func (l *loader) loadModule(dir, prefix string, inputs map[string]inputVal, targets []string, root bool) (*module, hcl.Diagnostics) {
	files, diags := l.parseDir(dir)
	if diags.HasErrors() {
		return nil, diags
	}
	var blocks hcl.Blocks
	for _, f := range files {
		c, d := f.Body.Content(rootSchema)
		diags = append(diags, d...)
		if c != nil {
			blocks = append(blocks, c.Blocks...)
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	fns := Functions(dir)
	base := map[string]cty.Value{
		"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(dir)}),
	}

	// Variables.
	varVals, d := l.evalVariables(blocks, inputs, root)
	diags = append(diags, d...)
	base["var"] = cty.ObjectVal(varVals)

	// Locals.
	localVals, d := evalLocals(blocks, base, fns)
	diags = append(diags, d...)
	base["local"] = cty.ObjectVal(localVals)
	if diags.HasErrors() {
		return nil, diags
	}

	// Hosts live in the root module only: modules describe what, not where.
	if root {
		diags = append(diags, l.evalHosts(blocks, &hcl.EvalContext{Variables: base, Functions: fns})...)
		if diags.HasErrors() {
			return nil, diags
		}
	} else {
		for _, b := range blocks {
			if b.Type == "host" {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Host block in a module",
					Detail: "Hosts are declared in the root configuration; a module's resources are aimed with targets.", Subject: b.DefRange.Ptr()})
			}
		}
	}
	base["host"], base["group"] = l.hostObjects()

	m := &module{outputs: map[string]cty.Value{}}
	d = l.evalResourcesAndModules(dir, prefix, blocks, base, fns, targets)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return m, diags
	}
	for _, b := range blocks {
		if b.Type != "output" {
			continue
		}
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		a, ok := attrs["value"]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing output value",
				Detail: `An output block needs a "value" attribute.`, Subject: b.DefRange.Ptr()})
			continue
		}
		v, d := a.Expr.Value(&hcl.EvalContext{Variables: base, Functions: fns})
		diags = append(diags, d...)
		m.outputs[b.Labels[0]] = v
	}
	return m, diags
}

func (l *loader) evalVariables(blocks hcl.Blocks, inputs map[string]inputVal, root bool) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	vals := map[string]cty.Value{}
	declared := map[string]hcl.Range{}
	for _, b := range blocks {
		if b.Type != "variable" {
			continue
		}
		name := b.Labels[0]
		if prev, dup := declared[name]; dup {
			diags = append(diags, dupDiag("variable", name, b.DefRange, prev))
			continue
		}
		declared[name] = b.DefRange
		if !nameRe.MatchString(name) {
			diags = append(diags, badNameDiag("variable", name, b.LabelRanges[0]))
			continue
		}
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		typ := cty.DynamicPseudoType
		if a, ok := attrs["type"]; ok {
			t, d := typeexpr.TypeConstraint(a.Expr)
			diags = append(diags, d...)
			if !d.HasErrors() {
				typ = t
			}
		}
		for n, a := range attrs {
			switch n {
			case "type", "default", "description", "sensitive":
			default:
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported argument",
					Detail: fmt.Sprintf("A variable block takes type, default, description and sensitive, not %q.", n), Subject: a.NameRange.Ptr()})
			}
		}
		var v cty.Value
		var subject *hcl.Range
		if in, ok := inputs[name]; ok {
			if in.isRaw {
				var d hcl.Diagnostics
				v, d = parseRawVar(name, in.raw, typ)
				diags = append(diags, d...)
			} else {
				v = in.v
			}
			subject = in.rng
			if subject == nil {
				subject = b.DefRange.Ptr()
			}
		} else if a, ok := attrs["default"]; ok {
			var d hcl.Diagnostics
			v, d = a.Expr.Value(nil)
			diags = append(diags, d...)
			subject = a.Expr.Range().Ptr()
		} else {
			what := "-var " + name + "=VALUE or a -var-file"
			if !root {
				what = "an argument " + name + " in the module block"
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No value for required variable",
				Detail: fmt.Sprintf("Variable %q has no default; set it with %s.", name, what), Subject: b.DefRange.Ptr()})
			continue
		}
		if v == cty.NilVal {
			continue
		}
		cv, err := convert.Convert(v, typ)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for variable",
				Detail: fmt.Sprintf("Variable %q must be %s: %s.", name, typeexpr.TypeString(typ), err), Subject: subject})
			continue
		}
		vals[name] = cv
	}
	if root {
		names := make([]string, 0, len(inputs))
		for n := range inputs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if _, ok := declared[n]; !ok {
				in := inputs[n]
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Undeclared variable",
					Detail: fmt.Sprintf("%s sets %q, but no variable block declares it.", in.from, n), Subject: in.rng})
			}
		}
	}
	return vals, diags
}

// parseRawVar reads a -var value the way Terraform does: as a literal string
// for string (or unconstrained) variables, as an HCL expression otherwise.
func parseRawVar(name, raw string, typ cty.Type) (cty.Value, hcl.Diagnostics) {
	if typ == cty.String || typ == cty.DynamicPseudoType {
		return cty.StringVal(raw), nil
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), "-var "+name, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	v, diags := expr.Value(nil)
	return v, diags
}

// evalLocals evaluates locals in dependency order by repeated passes; what is
// left after a pass that made no progress refers to itself or to a name that
// does not exist, and evaluating it once more yields the right diagnostic.
func evalLocals(blocks hcl.Blocks, base map[string]cty.Value, fns map[string]function.Function) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	pending := map[string]*hcl.Attribute{}
	var order []string
	for _, b := range blocks {
		if b.Type != "locals" {
			continue
		}
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for n, a := range attrs {
			if prev, dup := pending[n]; dup {
				diags = append(diags, dupDiag("local value", n, a.NameRange, prev.NameRange))
				continue
			}
			pending[n] = a
			order = append(order, n)
		}
	}
	sort.Strings(order)
	vals := map[string]cty.Value{}
	ctx := func() *hcl.EvalContext {
		vars := map[string]cty.Value{}
		for k, v := range base {
			vars[k] = v
		}
		vars["local"] = cty.ObjectVal(vals)
		return &hcl.EvalContext{Variables: vars, Functions: fns}
	}
	for len(pending) > 0 {
		progress := false
		for _, n := range order {
			a, ok := pending[n]
			if !ok {
				continue
			}
			ready := true
			for _, tr := range a.Expr.Variables() {
				if tr.RootName() != "local" || len(tr) < 2 {
					continue
				}
				if ga, ok := tr[1].(hcl.TraverseAttr); ok {
					if _, waiting := pending[ga.Name]; waiting {
						ready = false
					}
				}
			}
			if !ready {
				continue
			}
			delete(pending, n)
			progress = true
			if d := checkRefs(a.Expr.Variables(), ctx().Variables); d.HasErrors() {
				diags = append(diags, d...)
				vals[n] = cty.DynamicVal
				continue
			}
			v, d := a.Expr.Value(ctx())
			diags = append(diags, d...)
			vals[n] = v
		}
		if !progress {
			for _, n := range order {
				if a, ok := pending[n]; ok {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cycle in local values",
						Detail: fmt.Sprintf("local.%s depends, directly or not, on itself.", n), Subject: a.Expr.Range().Ptr()})
				}
			}
			break
		}
	}
	return vals, diags
}

type hostBody struct {
	Connection    *string  `hcl:"connection"`
	Root          *string  `hcl:"root"`
	Groups        []string `hcl:"groups,optional"`
	Address       *string  `hcl:"address"`
	Port          *int     `hcl:"port"`
	User          *string  `hcl:"user"`
	IdentityFile  *string  `hcl:"identity_file"`
	KnownHosts    *string  `hcl:"known_hosts"`
	HostKeyPolicy *string  `hcl:"host_key_policy"`
	Jump          *string  `hcl:"jump"`
	Become        *bool    `hcl:"become"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (l *loader) evalHosts(blocks hcl.Blocks, ctx *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]hcl.Range{}
	for _, b := range blocks {
		if b.Type != "host" {
			continue
		}
		name := b.Labels[0]
		if !nameRe.MatchString(name) {
			diags = append(diags, badNameDiag("host", name, b.LabelRanges[0]))
			continue
		}
		if prev, dup := seen[name]; dup {
			diags = append(diags, dupDiag("host", name, b.DefRange, prev))
			continue
		}
		seen[name] = b.DefRange
		var hb hostBody
		attrsForRefs, _ := b.Body.JustAttributes()
		var trs []hcl.Traversal
		for _, a := range attrsForRefs {
			trs = append(trs, a.Expr.Variables()...)
		}
		if d := checkRefs(trs, ctx.Variables); d.HasErrors() {
			diags = append(diags, d...)
			continue
		}
		d := gohcl.DecodeBody(b.Body, ctx, &hb)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		h := &Host{Name: name, Connection: ConnSSH, Groups: hb.Groups, DeclRange: b.DefRange,
			Address: str(hb.Address), User: str(hb.User), IdentityFile: str(hb.IdentityFile),
			KnownHosts: str(hb.KnownHosts), HostKeyPolicy: str(hb.HostKeyPolicy), Jump: str(hb.Jump), Root: str(hb.Root)}
		attrs, _ := b.Body.JustAttributes()
		at := func(n string) *hcl.Range {
			if a, ok := attrs[n]; ok {
				return a.Expr.Range().Ptr()
			}
			return b.DefRange.Ptr()
		}
		if hb.Connection != nil {
			h.Connection = *hb.Connection
		}
		if hb.Port != nil {
			h.Port = *hb.Port
			if h.Port < 1 || h.Port > 65535 {
				diags = append(diags, attrDiag("Invalid port", fmt.Sprintf("Port %d is not between 1 and 65535.", h.Port), at("port")))
			}
		}
		if hb.Become != nil {
			h.Become = *hb.Become
		}
		switch h.Connection {
		case ConnSSH:
			if hb.Root != nil {
				diags = append(diags, attrDiag("root needs a local connection",
					`"root" treats a directory of this machine as the host's "/"; it only works with connection = "local".`, at("root")))
			}
		case ConnLocal:
			if h.Root == "" {
				h.Root = "/"
			}
			if !filepath.IsAbs(h.Root) {
				diags = append(diags, attrDiag("Relative root", "A host's root must be an absolute path.", at("root")))
			}
			for _, n := range []string{"address", "port", "user", "identity_file", "known_hosts", "host_key_policy", "jump"} {
				if _, ok := attrs[n]; ok {
					diags = append(diags, attrDiag("SSH setting on a local host", fmt.Sprintf("%q only applies to connection = \"ssh\".", n), at(n)))
				}
			}
		default:
			diags = append(diags, attrDiag("Invalid connection", fmt.Sprintf(`connection must be "ssh" or "local", not %q.`, h.Connection), at("connection")))
		}
		switch h.HostKeyPolicy {
		case "", "strict", "accept-new":
		default:
			diags = append(diags, attrDiag("Invalid host_key_policy", fmt.Sprintf(`host_key_policy must be "strict" or "accept-new", not %q.`, h.HostKeyPolicy), at("host_key_policy")))
		}
		for _, s := range []struct{ attr, v string }{{"address", h.Address}, {"user", h.User}, {"jump", h.Jump}} {
			if strings.ContainsAny(s.v, " \t\r\n\x00;'\"`$|&<>()\\") {
				diags = append(diags, attrDiag("Invalid "+s.attr, fmt.Sprintf("%q holds whitespace or shell metacharacters.", s.v), at(s.attr)))
			}
		}
		for _, g := range h.Groups {
			if !nameRe.MatchString(g) {
				diags = append(diags, attrDiag("Invalid group name", fmt.Sprintf("Group %q: use letters, digits, '_' and '-', starting with a letter or '_'.", g), at("groups")))
			}
		}
		l.cfg.Hosts = append(l.cfg.Hosts, h)
	}
	if len(l.cfg.Hosts) == 0 && !diags.HasErrors() {
		l.cfg.Hosts = []*Host{{Name: ImplicitHost, Connection: ConnLocal, Root: "/", Implicit: true}}
	}
	return diags
}

// hostObjects builds the values of "host" and "group" in expressions, so that
// targets = [host.web1, group.web] are checked references, not strings.
func (l *loader) hostObjects() (cty.Value, cty.Value) {
	hosts := map[string]cty.Value{}
	l.groups = map[string][]string{}
	for _, h := range l.cfg.Hosts {
		hosts[h.Name] = cty.ObjectVal(map[string]cty.Value{
			"type": cty.StringVal("host"), "name": cty.StringVal(h.Name),
		})
		for _, g := range h.Groups {
			l.groups[g] = append(l.groups[g], h.Name)
		}
	}
	groups := map[string]cty.Value{}
	for g, members := range l.groups {
		ms := make([]cty.Value, len(members))
		for i, m := range members {
			ms[i] = cty.StringVal(m)
		}
		groups[g] = cty.ObjectVal(map[string]cty.Value{
			"type": cty.StringVal("group"), "name": cty.StringVal(g), "hosts": cty.ListVal(ms),
		})
	}
	return cty.ObjectVal(hosts), cty.ObjectVal(groups)
}

func dupDiag(what, name string, at, prev hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Duplicate " + what,
		Detail: fmt.Sprintf("A %s named %q was already declared at %s.", what, name, prev), Subject: at.Ptr()}
}

func badNameDiag(what, name string, at hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + what + " name",
		Detail: fmt.Sprintf("%q: use letters, digits, '_' and '-', starting with a letter or '_'.", name), Subject: at.Ptr()}
}

func attrDiag(summary, detail string, at *hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: at}
}
