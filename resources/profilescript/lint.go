package profilescript

import (
	"github.com/zclconf/go-cty/cty"

	"github.com/goprov/goprov/resources"
)

// Lint implements resources.Linter: login-environment settings that turn
// off Go module verification.
func (kind) Lint(address string, v cty.Value) []resources.Warning {
	if !resources.Present(v) {
		return nil
	}
	return resources.LintGoEnv(address, v, "the login environment (env)")
}
