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
// audit host of each Debian release (recorded by testdata/record). goprov
// must take each rule as loaded when the kernel lists that line.
var corpusSuites = []string{"bookworm", "trixie"}

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
			files, _ := filepath.Glob(filepath.Join(dir, "*.rules"))
			if len(files) < 25 {
				t.Fatalf("%s: only %d rules files in the corpus", dir, len(files))
			}
			total, bad := 0, 0
			for _, f := range files {
				rules := readLines(t, f)
				listed := readLines(t, strings.TrimSuffix(f, ".rules")+".listed")
				if len(rules) != len(listed) {
					t.Fatalf("%s: %d rules, %d listed", f, len(rules), len(listed))
				}
				for i, line := range rules {
					total++
					if strings.HasPrefix(listed[i], "!refused") {
						continue
					}
					where := filepath.Base(f) + ":" + strconv.Itoa(i+1)
					w, err := ParseRule(line)
					if err != nil {
						bad++
						t.Errorf("%s: %q: %v", where, line, err)
						continue
					}
					if len(Missing([]Rule{w}, ParseLoaded(listed[i]))) != 0 {
						bad++
						t.Errorf("%s: %q\n  goprov: %s\n  kernel: %s", where, line, w, listed[i])
					}
				}
			}
			t.Logf("%s: %d of %d rules not taken for loaded", suite, bad, total)
		})
	}
}
