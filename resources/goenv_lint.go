package resources

import (
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// LintGoEnv warns about go command settings that switch off module
// verification, in go_toolchain's go.env or a profile script's env (two kinds:
// the rule lives here, each kind calls it from its Lint).
func LintGoEnv(address string, v cty.Value, where string) []Warning {
	env := AttrMap(v, "env")
	if len(env) == 0 {
		return nil
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var problems []string
	for _, k := range keys {
		v := strings.TrimSpace(env[k])
		var problem string
		switch k {
		case "GOSUMDB":
			if strings.EqualFold(v, "off") {
				problem = "GOSUMDB=off turns off the checksum database: modules are no longer checked against it, so a tampered proxy or mirror goes unnoticed"
			}
		case "GONOSUMDB", "GOPRIVATE", "GOINSECURE":
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "*" && p != "*/*" {
					continue
				}
				if k == "GOINSECURE" {
					problem = k + "=" + v + " lets every module be fetched over plain HTTP or unverified TLS"
				} else {
					problem = k + "=" + v + " exempts every module from the checksum database"
				}
			}
		case "GOFLAGS":
			for _, f := range strings.Fields(v) {
				if name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "="); name == "insecure" {
					problem = "GOFLAGS=" + v + " makes the go command fetch over plain HTTP and skip verification"
				}
			}
		}
		if problem != "" {
			problems = append(problems, problem)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return []Warning{{Attr: "env", Summary: "Module verification turned off",
		Detail: fmt.Sprintf("%s, in %s: %s. Remove it, or narrow it to your own module paths (GOPRIVATE=git.example.internal/*).", address, where, strings.Join(problems, "; "))}}
}
