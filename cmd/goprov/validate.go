package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "validate [DIR] [flags]", stderr)
	var cf configFlags
	cf.register(fs, false)
	dir, code, ok := dirFlagArgs(fs, args, stderr)
	if !ok {
		return code
	}
	cfg, targets, ok := cf.load(dir, stderr)
	if !ok {
		return exitError
	}
	n := 0
	for _, t := range targets {
		n += len(t.Resources)
	}
	fmt.Fprintf(stdout, "The configuration is valid: %d hosts, %d resources, %d resource-host pairs.\n", len(cfg.Hosts), len(cfg.Resources), n)
	return exitOK
}

func runFmt(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("fmt", "fmt [-check] [DIR]", stderr)
	check := fs.Bool("check", false, "only list files that need formatting; exit 3 if any")
	dir, code, ok := dirFlagArgs(fs, args, stderr)
	if !ok {
		return code
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return exitError
	}
	sort.Strings(files)
	bad := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return exitError
		}
		// Refuse to reformat what does not parse: formatting broken input
		// could lose text.
		if _, diags := hclwrite.ParseConfig(src, f, hcl.InitialPos); diags.HasErrors() {
			printDiags(stderr, nil, diags)
			return exitError
		}
		out := hclwrite.Format(src)
		if bytes.Equal(src, out) {
			continue
		}
		bad++
		fmt.Fprintln(stdout, f)
		if !*check {
			st, _ := os.Stat(f)
			if err := os.WriteFile(f, out, st.Mode().Perm()); err != nil {
				fmt.Fprintf(stderr, "Error: %v\n", err)
				return exitError
			}
		}
	}
	if *check && bad > 0 {
		return exitFmt
	}
	return exitOK
}
