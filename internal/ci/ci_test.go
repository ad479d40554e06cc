package ci

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestEnabled(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want bool
	}{
		{"", false}, {"0", false}, {"false", false}, {"FALSE", false},
		{"true", true}, {"1", true}, {"True", true}, {"yes", true},
	} {
		t.Setenv("CI", tc.val)
		if got := Enabled(); got != tc.want {
			t.Errorf("CI=%q: Enabled() = %v, want %v", tc.val, got, tc.want)
		}
	}
}

// TestSkipFailsUnderCI runs a test that skips in a child process: with CI
// set it must fail, without it must skip.
func TestSkipFailsUnderCI(t *testing.T) {
	if os.Getenv("GOPROV_CI_CHILD") == "1" {
		Skip(t, "a prerequisite is missing")
		return
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
		wantOut  string
	}{
		{"true", true, "--- FAIL"},
		{"1", true, "--- FAIL"},
		{"", false, "--- SKIP"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSkipFailsUnderCI$", "-test.v")
		cmd.Env = append(os.Environ(), "GOPROV_CI_CHILD=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.wantFail {
			t.Errorf("CI=%q: err = %v, want failure %v\n%s", tc.ci, err, tc.wantFail, out)
		}
		if !strings.Contains(string(out), tc.wantOut) {
			t.Errorf("CI=%q: output lacks %q:\n%s", tc.ci, tc.wantOut, out)
		}
	}
}
