package gotoolchain

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// Lint implements resources.Linter: go.env settings that turn off module
// verification.
func (kind) Lint(address string, v cty.Value) []resources.Warning {
	return resources.LintGoEnv(address, v, "go.env (env)")
}
