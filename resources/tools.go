package resources

import (
	"fmt"
	"strings"
)

// ToolMissingError says a kind's tool is not on the host. A Diff returns
// it (wrapped or not) when it cannot plan without the tool, or sets it on
// Change.ToolMissing when it can plan but not finish (a file written, not
// loaded). The planner recognises it: when a package resource on the same
// host will install one of Packages, the resource is planned as "known
// after apply" and read again once that package resource is applied,
// instead of failing the host.
type ToolMissingError struct {
	Tool     string   // "auditctl"
	Packages []string // Debian packages that provide it, any of them ("auditd")
	// Then says what happens once the tool is there, for the plan's note
	// ("rules will be loaded and verified").
	Then string
	// Msg, when set, is the error's text in the kind's own words.
	Msg string
}

func (e *ToolMissingError) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return fmt.Sprintf("%s is not installed on the host (package %s)", e.Tool, strings.Join(e.Packages, " or "))
}

// PackageProvider is implemented by a resource that installs packages
// (the package kind): the packages its apply makes present on a host.
type PackageProvider interface {
	ProvidesPackages() []string
}
