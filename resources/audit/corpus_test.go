package audit

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The corpus: every rules file auditd ships in its examples, rule by rule,
// and the line `auditctl -l` printed for each rule loaded alone on a lab
// audit host of each Debian release (recorded by testdata/record).
var corpusSuites = []string{"bookworm", "trixie"}

// corpusListing reads what the recorder saved of a host: auditctl's
// version and the syscall tables of ausyscall.
func corpusListing(t *testing.T, dir string) Listing {
	t.Helper()
	ver, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil {
		t.Fatalf("the corpus must be recorded (go run ./resources/audit/testdata/record): %v", err)
	}
	major, err := auditctlMajor(string(ver))
	if err != nil {
		t.Fatal(err)
	}
	l := Listing{Major: major, Native: "b64", Tables: map[string]*SyscallTable{}}
	for _, arch := range []string{"b64", "b32"} {
		out, err := os.ReadFile(filepath.Join(dir, "ausyscall-"+arch))
		if err != nil {
			t.Fatal(err)
		}
		if l.Tables[arch], err = ParseAusyscall(string(out)); err != nil {
			t.Fatal(err)
		}
	}
	l.IDs = map[string]string{}
	for db, prefix := range map[string]string{"passwd": "u:", "group": "g:"} {
		for _, line := range readLines(t, filepath.Join(dir, db)) {
			if f := strings.Split(line, ":"); len(f) > 2 {
				l.IDs[prefix+f[0]] = f[2]
			}
		}
	}
	return l
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func TestCorpusListsAsTheKernel(t *testing.T) {
	for _, suite := range corpusSuites {
		t.Run(suite, func(t *testing.T) {
			dir := filepath.Join("testdata", "corpus", suite)
			l := corpusListing(t, dir)
			files, _ := filepath.Glob(filepath.Join(dir, "*.rules"))
			if len(files) < 25 {
				t.Fatalf("%s: only %d rules files in the corpus", dir, len(files))
			}
			total := 0
			for _, f := range files {
				rules := readLines(t, f)
				listed := readLines(t, strings.TrimSuffix(f, ".rules")+".listed")
				if len(rules) != len(listed) {
					t.Fatalf("%s: %d rules, %d listed", f, len(rules), len(listed))
				}
				for i, line := range rules {
					total++
					checkCorpusRule(t, l, filepath.Base(f)+":"+strconv.Itoa(i+1), line, listed[i])
				}
			}
			t.Logf("%s: %d rules in %d files", suite, total, len(files))
		})
	}
}

func checkCorpusRule(t *testing.T, l Listing, where, line, kernel string) {
	t.Helper()
	r, err := ParseRule(line)
	if err != nil {
		t.Errorf("%s: %q: %v", where, line, err)
		return
	}
	got, err := l.Of(r)
	if refusal, ok := strings.CutPrefix(kernel, "!refused "); ok {
		if err == nil {
			t.Errorf("%s: %q: the kernel refused it (%s), goprov lists it as %q", where, line, refusal, got.Line)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %q: %v; the kernel lists %q", where, line, err, kernel)
		return
	}
	if !got.Matches(kernel) {
		t.Errorf("%s: %q\n  goprov: %s\n  kernel: %s", where, line, got.Line, kernel)
	}
}
