package dsl

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// node is a resource or module block, before count/for_each expansion.
type node struct {
	id    string // "KIND.NAME" or "module.NAME"
	block *hcl.Block
	isMod bool
	kind  string
	name  string
	meta  *hcl.BodyContent // targets, depends_on, count, for_each (resources)
	body  hcl.Body         // kind body (resources) or whole body (modules)
	deps  []string         // ids this node refers to
}

var moduleMetaSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "source", Required: true},
		{Name: "targets"},
		{Name: "depends_on"},
		{Name: "count"},
		{Name: "for_each"},
	},
}

// evalResourcesAndModules evaluates resource and module blocks in dependency
// order and adds their values to base (for outputs).
func (l *loader) evalResourcesAndModules(dir, prefix string, blocks hcl.Blocks, base map[string]cty.Value, fns map[string]function.Function, parentTargets []string) hcl.Diagnostics {
	kindNames := l.kindNameSet()
	nodes, ids, diags := l.collectNodes(blocks, kindNames)
	if diags.HasErrors() {
		return diags
	}
	order, d := topoSort(ids, nodes)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return diags
	}
	sc := &evalScope{base: base, fns: fns, kindVals: map[string]map[string]cty.Value{}, modVals: map[string]cty.Value{}, addrs: map[string][]string{}}
	for _, id := range order {
		n := nodes[id]
		if d := checkRefs(nodeRefs(n, l), base); d.HasErrors() {
			diags = append(diags, d...)
			continue
		}
		val, d, ok := l.evalNode(dir, prefix, n, sc, kindNames, parentTargets)
		diags = append(diags, d...)
		if ok {
			sc.set(n, val)
		}
	}
	for k, m := range sc.kindVals {
		base[k] = cty.ObjectVal(m)
	}
	base["module"] = cty.ObjectVal(sc.modVals)
	return diags
}

// kindNameSet is the set of registered kind names, to tell a reference to
// a resource (KIND.NAME) from one to anything else.
func (l *loader) kindNameSet() map[string]bool {
	kindNames := map[string]bool{}
	if l.opts.Kinds != nil {
		for _, k := range l.opts.Kinds.Kinds() {
			kindNames[k] = true
		}
	}
	return kindNames
}

// collectNodes turns resource and module blocks into nodes with their
// dependencies, in source order; duplicates and bad names are diagnosed.
func (l *loader) collectNodes(blocks hcl.Blocks, kindNames map[string]bool) (map[string]*node, []string, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	nodes := map[string]*node{}
	var ids []string
	for _, b := range blocks {
		var n *node
		var d hcl.Diagnostics
		switch b.Type {
		case "resource":
			n, d = l.resourceNode(b, kindNames)
		case "module":
			n, d = moduleNode(b, kindNames)
		default:
			continue
		}
		diags = append(diags, d...)
		if n == nil {
			continue
		}
		if prev, dup := nodes[n.id]; dup {
			what := "resource"
			if n.isMod {
				what = "module"
			}
			diags = append(diags, dupDiag(what, n.name, b.DefRange, prev.block.DefRange))
			continue
		}
		for _, a := range n.meta.Attributes {
			for _, tr := range a.Expr.Variables() {
				n.deps = append(n.deps, refID(tr, kindNames)...)
			}
		}
		nodes[n.id] = n
		ids = append(ids, n.id)
	}
	return nodes, ids, diags
}

// resourceNode reads a resource block's labels and meta-arguments; nil
// when the block cannot become a node.
func (l *loader) resourceNode(b *hcl.Block, kindNames map[string]bool) (*node, hcl.Diagnostics) {
	kind, name := b.Labels[0], b.Labels[1]
	spec, ok := l.specFor(kind)
	if !ok {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown resource kind",
			Detail: fmt.Sprintf("%q is not a resource kind goprov knows (%s).", kind, strings.Join(l.kindList(), ", ")), Subject: b.LabelRanges[0].Ptr()}}
	}
	if !nameRe.MatchString(name) {
		return nil, hcl.Diagnostics{badNameDiag("resource", name, b.LabelRanges[1])}
	}
	meta, remain, diags := b.Body.PartialContent(resourceMetaSchema)
	n := &node{id: kind + "." + name, block: b, kind: kind, name: name, meta: meta, body: remain}
	for _, tr := range hcldec.Variables(remain, spec) {
		n.deps = append(n.deps, refID(tr, kindNames)...)
	}
	return n, diags
}

// moduleNode reads a module block's label, meta-arguments and the
// references of its inputs; nil when the block cannot become a node.
func moduleNode(b *hcl.Block, kindNames map[string]bool) (*node, hcl.Diagnostics) {
	name := b.Labels[0]
	if !nameRe.MatchString(name) {
		return nil, hcl.Diagnostics{badNameDiag("module", name, b.LabelRanges[0])}
	}
	meta, remain, diags := b.Body.PartialContent(moduleMetaSchema)
	if diags.HasErrors() {
		return nil, diags
	}
	n := &node{id: "module." + name, block: b, isMod: true, name: name, meta: meta, body: remain}
	attrs, _ := remain.JustAttributes()
	for _, a := range attrs {
		for _, tr := range a.Expr.Variables() {
			n.deps = append(n.deps, refID(tr, kindNames)...)
		}
	}
	return n, diags
}

// evalScope holds the values of the resources and modules evaluated so
// far, as later expressions see them.
type evalScope struct {
	base     map[string]cty.Value
	fns      map[string]function.Function
	kindVals map[string]map[string]cty.Value
	modVals  map[string]cty.Value
	// addrs maps a node id of this module ("KIND.NAME", "module.NAME") to
	// the resource addresses it became: its instances, or a module call's
	// resources. A reference to the node is a dependency on them.
	addrs map[string][]string
}

// ctx is an evaluation context of base, the values so far, and extra
// (each.* or count.* of one instance).
func (sc *evalScope) ctx(extra map[string]cty.Value) *hcl.EvalContext {
	vars := map[string]cty.Value{}
	for k, v := range sc.base {
		vars[k] = v
	}
	for k, m := range sc.kindVals {
		vars[k] = cty.ObjectVal(m)
	}
	vars["module"] = cty.ObjectVal(sc.modVals)
	for k, v := range extra {
		vars[k] = v
	}
	return &hcl.EvalContext{Variables: vars, Functions: sc.fns}
}

// set records n's value for the nodes evaluated after it.
func (sc *evalScope) set(n *node, val cty.Value) {
	if n.isMod {
		sc.modVals[n.name] = val
		return
	}
	if sc.kindVals[n.kind] == nil {
		sc.kindVals[n.kind] = map[string]cty.Value{}
	}
	sc.kindVals[n.kind][n.name] = val
}

// evalNode evaluates every instance of n (count / for_each) and returns
// the value the rest of the config sees: one object, or a tuple / object
// of instances. ok is false when n could not be expanded at all (then it
// gets no value, as before any other error).
func (l *loader) evalNode(dir, prefix string, n *node, sc *evalScope, kindNames map[string]bool, parentTargets []string) (cty.Value, hcl.Diagnostics, bool) {
	insts, diags := expand(n.meta, sc.ctx(nil))
	if diags.HasErrors() {
		return cty.NilVal, diags, false
	}
	diags = append(diags, checkDependsOn(n.meta, kindNames)...)
	dependsOn := sc.dependsOn(n, l, kindNames)
	before := len(l.cfg.Resources)
	defer func() {
		for _, r := range l.cfg.Resources[before:] {
			sc.addrs[n.id] = append(sc.addrs[n.id], r.Address)
		}
	}()
	var single cty.Value
	byKey := map[string]cty.Value{}
	var list []cty.Value
	for _, in := range insts {
		ectx := sc.ctx(in.vars)
		addr := prefix + n.id + in.suffix
		// Per instance: targets may use each.key or count.index.
		targets, d := l.evalTargets(n.meta, ectx, parentTargets)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		var v cty.Value
		if n.isMod {
			v, d = l.evalModule(dir, addr+".", n, ectx, targets, dependsOn)
		} else {
			v, d = l.evalResource(n, addr, in.suffix, ectx, targets, dependsOn)
		}
		diags = append(diags, d...)
		if d.HasErrors() {
			v = cty.DynamicVal
		}
		switch {
		case in.key == nil:
			single = v
		case in.key.Type() == cty.Number:
			list = append(list, v)
		default:
			byKey[in.key.AsString()] = v
		}
	}
	switch {
	case n.meta.Attributes["count"] != nil:
		if len(list) == 0 {
			return cty.EmptyTupleVal, diags, true
		}
		return cty.TupleVal(list), diags, true
	case n.meta.Attributes["for_each"] != nil:
		return cty.ObjectVal(byKey), diags, true
	}
	return single, diags, true
}

func (l *loader) specFor(kind string) (hcldec.Spec, bool) {
	if l.opts.Kinds == nil {
		return nil, false
	}
	return l.opts.Kinds.Spec(kind)
}

func (l *loader) kindList() []string {
	if l.opts.Kinds == nil {
		return nil
	}
	ks := append([]string(nil), l.opts.Kinds.Kinds()...)
	sort.Strings(ks)
	return ks
}

func (l *loader) evalResource(n *node, addr, suffix string, ctx *hcl.EvalContext, targets, dependsOn []string) (cty.Value, hcl.Diagnostics) {
	spec, _ := l.specFor(n.kind)
	v, diags := hcldec.Decode(n.body, spec, ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	if !v.IsWhollyKnown() {
		return cty.NilVal, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Value not known",
			Detail: "Every resource argument must be known when the configuration is loaded.", Subject: n.block.DefRange.Ptr()})
	}
	l.cfg.Resources = append(l.cfg.Resources, &Resource{
		Kind: n.kind, Name: n.name + suffix, Address: addr, Targets: targets, DependsOn: dependsOn,
		Value: v, Body: n.body, DeclRange: n.block.DefRange,
	})
	return v, diags
}

// evalModule loads a module call's resources; each depends on what the
// call depends on (dependsOn: its depends_on and its inputs' references)
// besides its own dependencies inside the module.
func (l *loader) evalModule(dir, prefix string, n *node, ctx *hcl.EvalContext, targets, dependsOn []string) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	src, d := n.meta.Attributes["source"].Expr.Value(nil)
	diags = append(diags, d...)
	if d.HasErrors() || src.Type() != cty.String || src.IsNull() {
		return cty.NilVal, append(diags, attrDiag("Invalid module source", "source must be a literal string path such as \"./modules/x\".", n.meta.Attributes["source"].Expr.Range().Ptr()))
	}
	s := src.AsString()
	if !strings.HasPrefix(s, "./") && !strings.HasPrefix(s, "../") && !filepath.IsAbs(s) {
		return cty.NilVal, append(diags, attrDiag("Unsupported module source",
			fmt.Sprintf("%q: goprov loads modules from local directories; write \"./%s\" for a path relative to this file's directory.", s, s),
			n.meta.Attributes["source"].Expr.Range().Ptr()))
	}
	mdir := s
	if !filepath.IsAbs(mdir) {
		mdir = filepath.Join(dir, s)
	}
	inputs := map[string]inputVal{}
	attrs, d := n.body.JustAttributes()
	diags = append(diags, d...)
	for name, a := range attrs {
		v, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
		r := a.Expr.Range()
		inputs[name] = inputVal{v: v, rng: &r, from: "module " + n.name}
	}
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	before := len(l.cfg.Resources)
	m, d := l.loadModule(mdir, prefix, inputs, targets, false)
	for _, r := range l.cfg.Resources[before:] {
		r.ModuleCalls = append([]hcl.Range{n.block.DefRange}, r.ModuleCalls...)
		r.DependsOn = mergeAddrs(dependsOn, r.DependsOn)
	}
	for _, dg := range d {
		if dg.Subject == nil {
			dg.Subject = n.block.DefRange.Ptr()
		}
	}
	diags = append(diags, d...)
	// Inputs the module does not declare are mistakes, as in Terraform.
	if m != nil && !d.HasErrors() {
		declared := map[string]bool{}
		files, _ := l.parseDir(mdir)
		for _, f := range files {
			c, _, _ := f.Body.PartialContent(rootSchema)
			for _, b := range c.Blocks {
				if b.Type == "variable" {
					declared[b.Labels[0]] = true
				}
			}
		}
		for name, in := range inputs {
			if !declared[name] {
				diags = append(diags, attrDiag("Unsupported argument", fmt.Sprintf("Module %q (%s) declares no variable %q.", n.name, s, name), in.rng))
			}
		}
	}
	if m == nil {
		return cty.NilVal, diags
	}
	return cty.ObjectVal(m.outputs), diags
}

// evalTargets turns targets = [host.a, group.b] into host names, narrowed to
// the enclosing module's targets.
func (l *loader) evalTargets(meta *hcl.BodyContent, ctx *hcl.EvalContext, parent []string) ([]string, hcl.Diagnostics) {
	a, ok := meta.Attributes["targets"]
	if !ok {
		return parent, nil
	}
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	bad := attrDiag("Invalid targets", "targets is a list of host.NAME and group.NAME references.", a.Expr.Range().Ptr())
	if !v.Type().IsTupleType() && !v.Type().IsListType() && !v.Type().IsSetType() {
		return nil, hcl.Diagnostics{bad}
	}
	set := map[string]bool{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if !e.Type().IsObjectType() || !e.Type().HasAttribute("type") || !e.Type().HasAttribute("name") {
			return nil, hcl.Diagnostics{bad}
		}
		name := e.GetAttr("name").AsString()
		switch e.GetAttr("type").AsString() {
		case "host":
			set[name] = true
		case "group":
			for _, h := range l.groups[name] {
				set[h] = true
			}
		}
	}
	var out []string
	for _, h := range l.cfg.Hosts {
		if set[h.Name] && (parent == nil || contains(parent, h.Name)) {
			out = append(out, h.Name)
		}
	}
	if out == nil {
		out = []string{} // explicitly no host, unlike nil (all hosts)
	}
	return out, nil
}

// checkDependsOn diagnoses a depends_on that is not a list of KIND.NAME
// and module.NAME references (sc.dependsOn resolves them).
func checkDependsOn(meta *hcl.BodyContent, kinds map[string]bool) hcl.Diagnostics {
	a, ok := meta.Attributes["depends_on"]
	if !ok {
		return nil
	}
	exprs, diags := hcl.ExprList(a.Expr)
	for _, e := range exprs {
		tr, d := hcl.AbsTraversalForExpr(e)
		diags = append(diags, d...)
		if !d.HasErrors() && len(refID(tr, kinds)) == 0 {
			diags = append(diags, attrDiag("Invalid depends_on", "depends_on lists resources (KIND.NAME) or modules (module.NAME).", e.Range().Ptr()))
		}
	}
	return diags
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// refID maps a traversal like go_toolchain.go.link or module.dev.x to the
// id of the node it refers to.
func refID(tr hcl.Traversal, kinds map[string]bool) []string {
	root := tr.RootName()
	if len(tr) < 2 {
		return nil
	}
	attr, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return nil
	}
	if root == "module" || kinds[root] {
		return []string{root + "." + attr.Name}
	}
	return nil
}

func topoSort(ids []string, nodes map[string]*node) ([]string, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	const (
		white = iota
		grey
		black
	)
	state := map[string]int{}
	var order []string
	var visit func(id string, path []string)
	visit = func(id string, path []string) {
		switch state[id] {
		case black:
			return
		case grey:
			n := nodes[id]
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Dependency cycle",
				Detail: fmt.Sprintf("%s refers back to itself: %s.", id, strings.Join(append(path, id), " → ")), Subject: n.block.DefRange.Ptr()})
			return
		}
		state[id] = grey
		n := nodes[id]
		deps := append([]string(nil), n.deps...)
		sort.Strings(deps)
		for _, dep := range deps {
			if _, ok := nodes[dep]; ok {
				visit(dep, append(path, id))
			}
			// An unknown reference is reported by evaluation, with its range.
		}
		state[id] = black
		order = append(order, id)
	}
	for _, id := range ids {
		visit(id, nil)
	}
	return order, diags
}

type instance struct {
	key    *cty.Value // nil: no count/for_each
	suffix string     // "", "[0]", "[\"a\"]"
	vars   map[string]cty.Value
}

func expand(meta *hcl.BodyContent, ctx *hcl.EvalContext) ([]instance, hcl.Diagnostics) {
	ca, hasCount := meta.Attributes["count"]
	fa, hasEach := meta.Attributes["for_each"]
	switch {
	case hasCount && hasEach:
		return nil, hcl.Diagnostics{attrDiag("count and for_each together", "Use one of count and for_each.", fa.NameRange.Ptr())}
	case hasCount:
		v, diags := ca.Expr.Value(ctx)
		if diags.HasErrors() {
			return nil, diags
		}
		var n int
		if v.Type() != cty.Number || v.IsNull() || !v.IsKnown() {
			return nil, hcl.Diagnostics{attrDiag("Invalid count", "count must be a whole number.", ca.Expr.Range().Ptr())}
		}
		bf := v.AsBigFloat()
		if !bf.IsInt() || bf.Sign() < 0 {
			return nil, hcl.Diagnostics{attrDiag("Invalid count", "count must be a whole number, 0 or more.", ca.Expr.Range().Ptr())}
		}
		i64, _ := bf.Int64()
		n = int(i64)
		out := make([]instance, n)
		for i := 0; i < n; i++ {
			k := cty.NumberIntVal(int64(i))
			out[i] = instance{key: &k, suffix: fmt.Sprintf("[%d]", i),
				vars: map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": k})}}
		}
		return out, nil
	case hasEach:
		v, diags := fa.Expr.Value(ctx)
		if diags.HasErrors() {
			return nil, diags
		}
		t := v.Type()
		bad := hcl.Diagnostics{attrDiag("Invalid for_each", "for_each takes a map, an object or a set of strings.", fa.Expr.Range().Ptr())}
		if v.IsNull() || !v.IsKnown() {
			return nil, bad
		}
		var out []instance
		switch {
		case t.IsMapType() || t.IsObjectType():
			for it := v.ElementIterator(); it.Next(); {
				k, ev := it.Element()
				kk := k
				out = append(out, instance{key: &kk, suffix: fmt.Sprintf("[%q]", k.AsString()),
					vars: map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": ev})}})
			}
		case t.IsSetType() && t.ElementType() == cty.String:
			for it := v.ElementIterator(); it.Next(); {
				_, ev := it.Element()
				kk := ev
				out = append(out, instance{key: &kk, suffix: fmt.Sprintf("[%q]", ev.AsString()),
					vars: map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": ev, "value": ev})}})
			}
		default:
			return nil, bad
		}
		return out, nil
	}
	return []instance{{}}, nil
}

// dependsOn is what n depends on: every resource its depends_on names or
// its expressions refer to (a module's outputs: the module's resources),
// as instance addresses, once each, in reference order. A literal index
// (KIND.NAME[0]) names that instance; any other reference, all of them.
func (sc *evalScope) dependsOn(n *node, l *loader, kinds map[string]bool) []string {
	var out []string
	for _, tr := range nodeRefs(n, l) {
		ids := refID(tr, kinds)
		if len(ids) == 0 {
			continue
		}
		all := sc.addrs[ids[0]]
		if one := instanceOf(tr, all); one != "" {
			all = []string{one}
		}
		out = mergeAddrs(out, all)
	}
	return out
}

// instanceOf is the address among addrs that tr's literal index (the step
// after KIND.NAME) names, or "".
func instanceOf(tr hcl.Traversal, addrs []string) string {
	if len(tr) < 3 {
		return ""
	}
	ix, ok := tr[2].(hcl.TraverseIndex)
	if !ok || ix.Key.IsNull() || !ix.Key.IsKnown() {
		return ""
	}
	var suffix string
	switch ix.Key.Type() {
	case cty.Number:
		suffix = ix.Key.AsBigFloat().Text('f', -1)
	case cty.String:
		suffix = fmt.Sprintf("%q", ix.Key.AsString())
	default:
		return ""
	}
	for _, a := range addrs {
		if strings.HasSuffix(a, "["+suffix+"]") {
			return a
		}
	}
	return ""
}

// mergeAddrs appends to a the addresses of b it lacks.
func mergeAddrs(a, b []string) []string {
	for _, x := range b {
		if !contains(a, x) {
			a = append(a, x)
		}
	}
	return a
}

// nodeRefs lists every traversal a node's expressions hold.
func nodeRefs(n *node, l *loader) []hcl.Traversal {
	var trs []hcl.Traversal
	for _, a := range n.meta.Attributes {
		trs = append(trs, a.Expr.Variables()...)
	}
	if n.isMod {
		attrs, _ := n.body.JustAttributes()
		for _, a := range attrs {
			trs = append(trs, a.Expr.Variables()...)
		}
	} else if spec, ok := l.specFor(n.kind); ok {
		trs = append(trs, hcldec.Variables(n.body, spec)...)
	}
	return trs
}
