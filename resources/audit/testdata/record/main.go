// Command record records the corpus of resources/audit's unit tests: every
// rule of every rules file auditd ships in its examples, loaded alone into
// the kernel from a lab audit host, and the line `auditctl -l` lists for it.
//
//	go run ./resources/audit/testdata/record [-suite bookworm|trixie]
//
// It writes resources/audit/testdata/corpus/SUITE/: NAME.rules (the file's
// rules without control lines), NAME.listed (line for line, what the kernel
// lists for each rule), NAME.refused ("LINE: message" for the rules the
// bare host refused because a path was missing; their .listed line was
// recorded after creating it), VERSION (auditctl -v, uname -r) and
// ausyscall-b64, ausyscall-b32 (ausyscall ARCH --dump), passwd and group
// (getent: the names the host resolves). Needs
// root; it holds the lab's kernel audit lock for about a minute and
// restores the machine's audit state at the end, like every audit lab.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goprov/goprov/testinfra"
)

// Where Debian ships the examples: bookworm's rules/, trixie's audit-rules/.
var examples = []string{"/usr/share/doc/auditd/examples/rules", "/usr/share/doc/auditd/examples/audit-rules"}

func main() {
	suite := flag.String("suite", "bookworm", "Debian release of the audit host")
	out := flag.String("out", "resources/audit/testdata/corpus", "corpus directory")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if err := run(ctx, *suite, filepath.Join(*out, *suite)); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, suite, dir string) error {
	lab, err := testinfra.StartLab(ctx, "", testinfra.Options{Hosts: 1, AuditHosts: []int{0}, Suite: suite, Log: log.Printf})
	if err != nil {
		return err
	}
	defer lab.Close()
	h := lab.Hosts[0]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ver, err := h.MustExec(ctx, "auditctl -v; uname -r")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(ver), 0o644); err != nil {
		return err
	}
	for name, cmd := range map[string]string{"ausyscall-b64": "ausyscall b64 --dump", "ausyscall-b32": "ausyscall b32 --dump",
		"passwd": "getent passwd", "group": "getent group"} {
		out, err := h.MustExec(ctx, cmd)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(out), 0o644); err != nil {
			return err
		}
	}
	var files []string
	for _, e := range examples {
		m, err := filepath.Glob(filepath.Join(h.RootDir, e, "*.rules"))
		if err != nil {
			return err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	for _, f := range files {
		if err := recordFile(ctx, h, f, dir); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
	}
	_, err = h.MustExec(ctx, "auditctl -D >/dev/null")
	return err
}

func recordFile(ctx context.Context, h *testinfra.Host, f, dir string) error {
	rules, err := ruleLines(f)
	if err != nil {
		return err
	}
	name := strings.TrimSuffix(filepath.Base(f), ".rules")
	if len(rules) == 0 {
		log.Printf("%s: control lines only, left out", name)
		return nil
	}
	var listed, refused []string
	for i, r := range rules {
		res, err := loadOne(ctx, h, r)
		if err != nil {
			return err
		}
		if res.rc != 0 {
			// A missing path: record why, create it, and record the
			// listing the kernel gives once it exists.
			p := neededPath(r)
			if _, err := os.Stat(filepath.Join(h.RootDir, p)); p == "" || err == nil {
				// No path, or it exists: refused for another reason.
				listed = append(listed, "!refused "+oneLine(res.msg))
				continue
			}
			refused = append(refused, fmt.Sprintf("%d: %s", i+1, oneLine(res.msg)))
			top := p
			for filepath.Dir(top) != "/" {
				if _, err := os.Stat(filepath.Join(h.RootDir, filepath.Dir(top))); err == nil {
					break
				}
				top = filepath.Dir(top)
			}
			if err := os.MkdirAll(filepath.Join(h.RootDir, p), 0o755); err != nil {
				return err
			}
			res, err = loadOne(ctx, h, r)
			// Each rule meets a bare host: .refused names every rule
			// that needs a missing path.
			if rerr := os.RemoveAll(filepath.Join(h.RootDir, top)); err == nil {
				err = rerr
			}
			if err != nil {
				return err
			}
			if res.rc != 0 {
				listed = append(listed, "!refused "+oneLine(res.msg))
				continue
			}
		}
		listed = append(listed, strings.Join(res.list, " ||| "))
	}
	write := func(ext string, lines []string) error {
		if len(lines) == 0 {
			return nil
		}
		return os.WriteFile(filepath.Join(dir, name+ext), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	}
	if err := write(".rules", rules); err != nil {
		return err
	}
	if err := write(".listed", listed); err != nil {
		return err
	}
	log.Printf("%s: %d rules, %d refused on the bare host", name, len(rules), len(refused))
	return write(".refused", refused)
}

// ruleLines keeps a file's rules: no comments, blanks or control lines.
func ruleLines(f string) ([]string, error) {
	fh, err := os.Open(f)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		l := strings.Join(strings.Fields(sc.Text()), " ")
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "-a ") || strings.HasPrefix(l, "-A ") || strings.HasPrefix(l, "-w ") {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// neededPath is the directory a rule needs: -F dir=D, the parent of
// -F path=P and of -w P.
func neededPath(rule string) string {
	w := strings.Fields(rule)
	for i := 0; i+1 < len(w); i++ {
		switch {
		case w[i] == "-F" && strings.HasPrefix(w[i+1], "dir="):
			return strings.TrimPrefix(w[i+1], "dir=")
		case w[i] == "-F" && strings.HasPrefix(w[i+1], "path="):
			return filepath.Dir(strings.TrimPrefix(w[i+1], "path="))
		case w[i] == "-w":
			return filepath.Dir(strings.TrimSuffix(w[i+1], "/"))
		}
	}
	return ""
}

type result struct {
	rc   int
	msg  string
	list []string
}

// loadOne loads rule alone (auditctl -R reads it as augenrules would) and
// lists the kernel's rules.
func loadOne(ctx context.Context, h *testinfra.Host, rule string) (result, error) {
	if err := os.WriteFile(filepath.Join(h.RootDir, "root/one.rules"), []byte(rule+"\n"), 0o600); err != nil {
		return result{}, err
	}
	out, err := h.MustExec(ctx, `auditctl -D >/dev/null 2>&1; m=$(auditctl -R /root/one.rules 2>&1); echo "@@rc $?"; printf '%s\n' "$m" | sed 's/^/@@msg /'; auditctl -l`)
	if err != nil {
		return result{}, err
	}
	var res result
	var msgs []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.HasPrefix(l, "@@rc "):
			fmt.Sscanf(l, "@@rc %d", &res.rc)
		case strings.HasPrefix(l, "@@msg "):
			msgs = append(msgs, strings.TrimPrefix(l, "@@msg "))
		case l == "No rules" || l == "":
		default:
			res.list = append(res.list, l)
		}
	}
	res.msg = strings.Join(msgs, "; ")
	return res, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
