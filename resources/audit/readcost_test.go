package audit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goprov/goprov/resources"
)

// othersProbe sends every line of the other rules files, short or long,
// with or without a final newline, under dash, bash and busybox's ash, as
// cat did.
func TestOthersProbeSendsEveryLine(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, RulesDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("-w /etc/passwd -p wa -k identity\n", 200)
	files := map[string]string{
		"10-short.rules": "-D\n-b 8192", "20-long.rules": long + "-a always,exit -F arch=b64 -S execve -k exec",
		"30-blank.rules": "", "40-own.rules": "not sent\n", "50-backslash.rules": `-w /x\ y -k \k` + "\n  lead\n",
	}
	var want strings.Builder
	for _, name := range []string{"10-short.rules", "20-long.rules", "30-blank.rules", "50-backslash.rules"} {
		want.WriteString("@@file " + name + "\n" + files[name] + "\n")
	}
	for name, c := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(c), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	h := &resources.Host{Root: root}
	for _, sh := range [][]string{{"dash", "-c"}, {"bash", "-c"}, {"busybox", "sh", "-c"}} {
		out, err := exec.Command(sh[0], append(sh[1:], othersProbe(h, RulesDir+"/40-own.rules"))...).Output()
		if err != nil {
			t.Fatalf("%s: %v", sh[0], err)
		}
		// cat; echo: every file ends with one added newline.
		if got := string(out); got != want.String() {
			t.Errorf("%s: got\n%q\nwant\n%q", sh[0], got, want.String())
		}
	}
}
