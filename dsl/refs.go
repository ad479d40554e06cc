package dsl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// checkRefs reports references to undeclared var.X, local.X, host.X and
// group.X the way Terraform users know, with a suggestion for near misses,
// before HCL's generic "Unsupported attribute" would.
func checkRefs(trs []hcl.Traversal, scope map[string]cty.Value) hcl.Diagnostics {
	var diags hcl.Diagnostics
	what := map[string]string{"var": "input variable", "local": "local value", "host": "host", "group": "group"}
	for _, tr := range trs {
		root := tr.RootName()
		kind, ok := what[root]
		if !ok || len(tr) < 2 {
			continue
		}
		attr, ok := tr[1].(hcl.TraverseAttr)
		if !ok {
			continue
		}
		obj, ok := scope[root]
		if !ok || !obj.Type().IsObjectType() || obj.Type().HasAttribute(attr.Name) {
			continue
		}
		detail := fmt.Sprintf("No %s named %q has been declared.", kind, attr.Name)
		if s := suggest(attr.Name, obj); s != "" {
			detail += fmt.Sprintf(" Did you mean %s.%s?", root, s)
		}
		if root == "group" {
			detail += " Groups are the names listed in hosts' groups attributes."
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError,
			Summary: "Reference to undeclared " + kind, Detail: detail, Subject: tr.SourceRange().Ptr()})
	}
	return diags
}

func suggest(name string, obj cty.Value) string {
	var names []string
	for n := range obj.Type().AttributeTypes() {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, n := range names {
		if d := levenshtein.Distance(strings.ToLower(name), strings.ToLower(n), nil); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}
