// Package ci is the one definition of "running in CI" for goprov's tests and
// scripts: under CI nothing that a test needs may be missing, so a test that
// would skip fails instead, and a green run means every test ran.
package ci

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Enabled reports whether CI is set (as .ci/run does with CI=true). Any
// value but "", "0" and "false" counts: CI systems spell it differently, and
// guessing wrong would let a run go green by skipping.
func Enabled() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("CI"))) {
	case "", "0", "false":
		return false
	}
	return true
}

// Skip skips t with why, except under CI, where it fails: CI installs
// everything the tests need, so a missing prerequisite there is a bug.
func Skip(t testing.TB, why string) {
	t.Helper()
	if Enabled() {
		t.Fatalf("%s (CI: a test may not skip; install what it needs from the project's scripts)", why)
	}
	t.Skip(why)
}

// RequireRoot skips (fails under CI) when the test does not run as root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root: "+why)
	}
}

// LookPath returns the path of a program the test needs, skipping (failing
// under CI) when it is missing.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, name+" is not installed here: "+err.Error())
	}
	return p
}
