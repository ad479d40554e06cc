package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"

	"github.com/goprov/goprov/dsl"
	"github.com/goprov/goprov/internal/compile"
	"github.com/goprov/goprov/internal/inert"
	"github.com/goprov/goprov/planner"
	"github.com/goprov/goprov/resources"
	_ "github.com/goprov/goprov/resources/all" // every resource kind
)

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// configFlags are the flags of every command that loads a configuration.
type configFlags struct {
	vars     multiFlag
	varFiles multiFlag
	root     string
	limit    string
	noColor  bool
}

func (c *configFlags) register(fs *flag.FlagSet, hosts bool) {
	fs.Var(&c.vars, "var", "set a variable: -var name=value (repeatable)")
	fs.Var(&c.varFiles, "var-file", "read variables from an HCL file of name = value lines (repeatable)")
	fs.BoolVar(&c.noColor, "no-color", false, "never colour the output (also: $NO_COLOR set to anything; colour is only ever used on a terminal)")
	if hosts {
		fs.StringVar(&c.root, "root", "", "treat `DIR` as \"/\" of every local host (e.g. a golden image being built)")
		fs.StringVar(&c.limit, "limit", "", "only these hosts: `SELECTOR` like group.web,host.db1")
	}
}

// parseArgs parses flags placed before or after the positional arguments
// (`goprov plan DIR -json` as well as `goprov plan -json DIR`).
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagExit maps a flag parsing error to an exit code: asking for help
// (-h) is a success; a bad flag (already reported by the flag package) is not.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitError
}

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: goprov %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// load evaluates the configuration in dir and compiles it into targets.
// Diagnostics are printed; ok is false when there were errors.
func (c *configFlags) load(dir string, stderr io.Writer) (*dsl.Config, []*planner.Target, bool) {
	vars := map[string]string{}
	for _, kv := range c.vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			fmt.Fprintf(stderr, "Error: -var %q: expected name=value\n", kv)
			return nil, nil, false
		}
		vars[k] = v
	}
	cfg, diags := dsl.Load(dir, dsl.Options{Vars: vars, VarFiles: c.varFiles, Kinds: resources.Registry{}})
	if !diags.HasErrors() {
		if c.root != "" {
			for _, h := range cfg.Hosts {
				if h.Connection == dsl.ConnLocal {
					h.Root = c.root
				}
			}
		}
		var targets []*planner.Target
		var d hcl.Diagnostics
		targets, d = compile.Compile(cfg, c.limit)
		diags = append(diags, d...)
		if !diags.HasErrors() {
			diags = append(diags, compile.Lint(cfg)...) // warnings: printed, never fatal
		}
		printDiagsColor(stderr, cfg.Files, diags, colorOn(c.noColor, stderr))
		return cfg, targets, !diags.HasErrors()
	}
	var files map[string]*hcl.File
	if cfg != nil {
		files = cfg.Files
	}
	printDiagsColor(stderr, files, diags, colorOn(c.noColor, stderr))
	return cfg, nil, false
}

// printDiags writes diagnostics as "file:line:col: error: summary", the
// detail, and the source line with a caret: readable by people, and by
// editors and CI annotations that parse file:line:col.
func printDiags(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) {
	printDiagsColor(w, files, diags, false)
}

// printDiagsColor is printDiags, with "error" red and "warning" yellow when
// color is set. Everything quoted from the configuration is made inert: a
// module from elsewhere may hide a bidi override in its source.
func printDiagsColor(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) {
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		if color {
			sev = map[string]string{"error": "\x1b[1;31merror\x1b[0m", "warning": "\x1b[1;33mwarning\x1b[0m"}[sev]
		}
		if d.Subject != nil {
			s := d.Subject
			fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", inert.Text(s.Filename), s.Start.Line, s.Start.Column, sev, inert.Indent(d.Summary, "  "))
		} else {
			fmt.Fprintf(w, "%s: %s\n", sev, inert.Indent(d.Summary, "  "))
		}
		if d.Detail != "" {
			fmt.Fprintf(w, "  %s\n", inert.Indent(d.Detail, "  "))
		}
		if d.Subject != nil && files != nil {
			if f, ok := files[d.Subject.Filename]; ok && f != nil {
				lines := bytes.Split(f.Bytes, []byte("\n"))
				if n := d.Subject.Start.Line; n >= 1 && n <= len(lines) {
					line := string(lines[n-1])
					fmt.Fprintf(w, "  %4d | %s\n", n, inert.Text(line))
					col := d.Subject.Start.Column
					if col < 1 {
						col = 1
					}
					// The caret sits under the escaped text as shown.
					pad := strings.Map(func(r rune) rune {
						if r == '\t' {
							return '\t'
						}
						return ' '
					}, inert.Text(firstRunes(line, col-1)))
					fmt.Fprintf(w, "       | %s^\n", pad)
				}
			}
		}
	}
}

// colorOn says whether output to w gets colour: only on a terminal, and
// never with -no-color, with NO_COLOR set to anything non-empty
// (https://no-color.org), or with TERM=dumb.
func colorOn(noColor bool, w io.Writer) bool {
	if noColor || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func firstRunes(s string, n int) string {
	r := []rune(s)
	if n > len(r) {
		n = len(r)
	}
	return string(r[:n])
}

// dirFlagArgs parses a command's flags and its one optional directory (or
// plan file) argument; on failure it says why and gives the exit code.
func dirFlagArgs(fs *flag.FlagSet, args []string, stderr io.Writer) (string, int, bool) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", flagExit(err), false
	}
	dir, err := dirArg(pos)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return "", exitError, false
	}
	return dir, exitOK, true
}

func dirArg(pos []string) (string, error) {
	switch len(pos) {
	case 0:
		return ".", nil
	case 1:
		return pos[0], nil
	}
	return "", fmt.Errorf("expected one directory, got %q", pos)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
