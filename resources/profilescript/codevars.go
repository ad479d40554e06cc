package profilescript

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// The script is sourced by the login shell itself, so a variable it sets
// acts in that shell (and is exported to every program it starts). Values
// stay inert text in the script, but the variables below turn a value into
// code, or decide where code comes from: goprov manages settings, not
// code, so they are refused. One place, with why (shown to the user).
//
// Not refused, on purpose: TMOUT (a hardening setting), GLOBIGNORE (changes
// globbing, runs nothing), EDITOR/VISUAL/PAGER (name a program by design),
// PYTHONPATH, PERL5LIB, NODE_OPTIONS, JAVA_TOOL_OPTIONS (common site-wide
// settings such as heap sizes; review them like code). BASH_FUNC_x%%
// (exported functions) cannot be named: env keys are identifiers.
var codeVars = map[string]string{}

const (
	whyPrompt = "is a prompt string: bash (promptvars, on by default), dash and zsh (PROMPT_SUBST) expand it with parameter expansion and command substitution each time it is shown, so $(…) or `…` in it runs in every interactive shell of every user"
	whyZsh    = "is a zsh prompt string: with PROMPT_SUBST it is expanded with command substitution each time it is shown"
)

func init() {
	for _, k := range []string{"PS0", "PS1", "PS2", "PS3"} {
		codeVars[k] = whyPrompt
	}
	for _, k := range []string{"PROMPT", "PROMPT2", "PROMPT3", "PROMPT4", "RPROMPT", "RPROMPT2", "RPS1", "RPS2", "SPROMPT"} {
		codeVars[k] = whyZsh
	}
	for k, why := range map[string]string{
		"PROMPT_COMMAND": "is a command line: bash runs it before every prompt",
		"PS4":            "is the xtrace prompt: bash expands it, with command substitution, for every traced line (set -x), of any script run from the session",
		"BASH_ENV":       "names a file every non-interactive bash (each bash script) sources at start, after expanding the value with command substitution",
		"ENV":            "names a file every interactive POSIX shell (dash, bash in sh mode, ksh) sources at start, after expanding the value",
		"ZDOTDIR":        "is where zsh reads .zshenv, .zshrc and .zlogin from: every zsh of the session runs code from that directory",
		"FPATH":          "is where zsh (and ksh) load autoloaded functions from: code is taken from those directories",
		"SHELLOPTS":      "switches bash options on in every bash started from the session (xtrace with PS4 runs code; others change how every script behaves), and is read-only in bash",
		"BASHOPTS":       "switches shopt options on in every bash started from the session, changing how every script behaves",
		"IFS":            "changes how the login shell splits words for everything it sources after this script (the rest of /etc/profile, later profile.d scripts, the user's own files): commands then run with other arguments",
		"CDPATH":         "makes cd in the login shell and in scripts that inherit it land in another directory than the one named, so later commands act on the wrong files",
		"LD_PRELOAD":     "makes the dynamic loader load the named libraries into every dynamically linked program of the session",
		"LD_LIBRARY_PATH": "makes the dynamic loader look for libraries of every dynamically linked program in those directories first (library hijacking); " +
			"set library paths in /etc/ld.so.conf.d instead",
		"LD_AUDIT":      "makes the dynamic loader load the named auditing libraries into every dynamically linked program of the session",
		"GCONV_PATH":    "makes glibc's iconv load conversion modules (code) from those directories",
		"PYTHONSTARTUP": "names a file every interactive python runs at start",
		"PERL5OPT":      "adds command-line switches to every perl; -M and -m load modules, so code runs in every perl program of the session",
		"RUBYOPT":       "adds command-line switches to every ruby; -r requires a library, so code runs in every ruby program of the session",
	} {
		codeVars[k] = why
	}
}

// envKeyRange is where key is written in the env attribute (its key in an
// object constructor), else the attribute's value.
func envKeyRange(body hcl.Body, key string, fallback *hcl.Range) *hcl.Range {
	expr := attrExpr(body, "env")
	if expr == nil {
		return fallback
	}
	pairs, diags := hcl.ExprMap(expr)
	if diags.HasErrors() {
		return fallback
	}
	for _, p := range pairs {
		if kw := hcl.ExprAsKeyword(p.Key); kw == key {
			return p.Key.Range().Ptr()
		}
		if v, d := p.Key.Value(nil); !d.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() && v.AsString() == key {
			return p.Key.Range().Ptr()
		}
	}
	return fallback
}

// elemRange is where element i of list attribute name is written, else the
// attribute's value.
func elemRange(body hcl.Body, name string, i int, fallback *hcl.Range) *hcl.Range {
	expr := attrExpr(body, name)
	if expr == nil {
		return fallback
	}
	elems, diags := hcl.ExprList(expr)
	if diags.HasErrors() || i >= len(elems) {
		return fallback
	}
	return elems[i].Range().Ptr()
}

func attrExpr(body hcl.Body, name string) hcl.Expression {
	if body == nil {
		return nil
	}
	c, _, _ := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
	if c == nil || c.Attributes[name] == nil {
		return nil
	}
	return c.Attributes[name].Expr
}

// absoluteEntry reports whether a PATH entry is absolute whatever the
// variables it names hold: it starts with "/", or with $NAME or ${NAME}
// followed by "/" (an unset variable then leaves an absolute path, never
// an empty entry, which would mean the current directory).
func absoluteEntry(e string) bool {
	if strings.HasPrefix(e, "/") {
		return true
	}
	if !strings.HasPrefix(e, "$") || strings.HasPrefix(e, "$$") {
		return false
	}
	_, n := refAt(e)
	return n > 0 && strings.HasPrefix(e[n:], "/")
}
