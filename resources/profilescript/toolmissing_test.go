package profilescript

import (
	"errors"
	"strings"
	"testing"

	"github.com/goprov/goprov/resources"
)

// TestMissingShellNamesItsPackage: a verify shell that is not installed
// fails the read as before, naming the package that brings it, so a
// package resource installing zsh makes the check known after apply.
// Anything else wrong (a missing user) stays a plain error.
func TestMissingShellNamesItsPackage(t *testing.T) {
	_, err := parseVerify([]byte("@user deploy /home/deploy\n@noshell deploy zsh\n@user ops /home/ops\n@noshell ops zsh\n"))
	var miss *resources.ToolMissingError
	if !errors.As(err, &miss) || miss.Tool != "zsh" || len(miss.Packages) != 1 || miss.Packages[0] != "zsh" ||
		!strings.Contains(err.Error(), `zsh is not installed, so user "deploy"'s zsh login shell cannot be checked`) {
		t.Fatalf("err = %v (%+v)", err, miss)
	}
	_, err = parseVerify([]byte("@nouser kali\n@user deploy /home/deploy\n@noshell deploy zsh\n"))
	if err == nil || errors.As(err, &miss) {
		t.Fatalf("a missing user is no missing tool: %v", err)
	}
}
