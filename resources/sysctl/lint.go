package sysctl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// oneWay are kernel settings whose value the kernel refuses to change
// again until reboot (Documentation/admin-guide/sysctl/kernel.rst, Yama).
var oneWay = map[string]string{
	"kernel.yama.ptrace_scope":         "3",
	"kernel.modules_disabled":          "1",
	"kernel.kexec_load_disabled":       "1",
	"kernel.unprivileged_bpf_disabled": "1",
}

// Lint implements resources.Linter: one-way kernel settings, ptrace for all.
func (kind) Lint(address string, v cty.Value) []resources.Warning {
	if !resources.Present(v) {
		return nil
	}
	var diags []resources.Warning
	var locked []string
	for k, raw := range resources.AttrMap(v, "values") {
		// These keys have no dots inside a part: either spelling maps to
		// the dotted one by swapping separators.
		key, val := strings.ReplaceAll(k, "/", "."), strings.TrimSpace(raw)
		if oneWay[key] == val {
			locked = append(locked, key+" = "+val)
		}
		if key == "kernel.yama.ptrace_scope" && val == "0" {
			diags = append(diags, resources.Warning{Attr: "values", Summary: "Any process may debug its user's others",
				Detail: fmt.Sprintf("%s: kernel.yama.ptrace_scope = 0 lets any process attach to (and read the memory of) every other process of the same user, so one compromised program reads the user's agent keys and tokens. 1 (Debian's default) still lets a user debug what they start (dlv debug, dlv test); use dlv attach as root.", address)})
		}
	}
	if len(locked) > 0 {
		sort.Strings(locked)
		diags = append(diags, resources.Warning{Attr: "values", Summary: "One-way kernel setting",
			Detail: fmt.Sprintf("%s: %s cannot be changed again until the next reboot: the kernel refuses it, so a later apply of another value fails, and a failed load cannot put the previous value back. For ptrace_scope, 2 keeps debugging for root only and can be lowered.", address, strings.Join(locked, ", "))})
	}
	return diags
}
