package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/goprov/goprov/internal/shell"
)

// Local runs commands on this machine. Without a root it runs them with
// /bin/sh; with a root (a golden image built in a directory) it runs every
// script in a sandbox where that directory is "/" (see sandbox.go): paths
// in scripts are the image's own, and the kernel resolves them, links
// included, inside the image.
//
// Either way the script never travels in an argv (Linux caps one argv
// string at 128 KiB): it is handed over in an anonymous memory file that
// the shell reads as its script file, and stdin stays the script's.
type Local struct {
	root      string
	MaxOutput int64 // bytes one command may print; 0: DefaultMaxOutput
	// AllowNetwork lets an image root's commands that ask for it
	// (Cmd.Network) share this machine's network (-root-network). Off,
	// every sandboxed script gets an empty network namespace.
	AllowNetwork bool
}

// NewLocal returns a transport for this machine.
func NewLocal() *Local { return &Local{} }

// NewLocalRoot returns a transport for the image in directory root: every
// script runs sandboxed with root as "/". A root of "" or "/" is this
// machine itself, as NewLocal.
func NewLocalRoot(root string) *Local {
	if root == "/" {
		root = ""
	}
	return &Local{root: root}
}

// NetworkAllowed reports whether this image root's commands that ask for
// the network get it (for error hints: an image's failed download).
func (l *Local) NetworkAllowed() bool { return l.root != "" && l.AllowNetwork }

// Root is the image directory scripts run in ("" for this machine).
func (l *Local) Root() string { return l.root }

// childPath is the PATH every child gets: the usual system directories,
// sbin included (tools such as visudo live there).
const childPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ChildEnv is the whole environment of a process goprov starts: PATH, a C
// locale, HOME, and the named variables of goprov's own environment that
// the caller needs passed on (e.g. GOPROXY for `go mod download`). Nothing
// else of the controller's environment (GOPROV_BECOME_PASSWORD,
// SSH_AUTH_SOCK, cloud credentials, …) ever reaches a child.
func ChildEnv(keep ...string) []string {
	home := "/"
	if h, err := os.UserHomeDir(); err == nil {
		home = h
	}
	env := []string{"PATH=" + childPath, "LC_ALL=C", "LANG=C", "HOME=" + home}
	for _, k := range keep {
		if v, ok := os.LookupEnv(k); ok && !strings.ContainsRune(k, '=') {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// MaxOutputBytes is what one command may print (0: DefaultMaxOutput).
func (l *Local) MaxOutputBytes() int64 { return l.MaxOutput }

// Run implements Transport.
func (l *Local) Run(ctx context.Context, c Cmd) (Result, error) {
	if shell.ContainsNUL(c.Script) {
		return Result{}, errors.New("local: script contains a NUL byte, which no shell can take")
	}
	budget := NewBudget(l.MaxOutput)
	ctx, cancel := limitContext(ctx, budget)
	defer cancel()
	script, err := scriptFile(c.Script)
	if err != nil {
		return Result{}, fmt.Errorf("local: %w", err)
	}
	defer script.Close()

	var cmd *exec.Cmd
	var status *os.File // the sandbox's set-up errors, when sandboxed
	switch {
	case l.root != "":
		if cmd, status, err = sandboxCommand(ctx, l.root, sandboxMode{readOnly: c.ReadOnly, network: c.Network && l.AllowNetwork}, script); err != nil {
			return Result{}, fmt.Errorf("local: %w", err)
		}
		defer status.Close()
	case c.Sudo && os.Geteuid() != 0:
		// sudo closes inherited descriptors, so the script goes in a file
		// private to this user (who may run it as root anyway). Never
		// prompt: a local run that needs a password must be started with
		// sudo by the operator.
		f, err := privateScript(c.Script)
		if err != nil {
			return Result{}, fmt.Errorf("local: %w", err)
		}
		defer os.Remove(f)
		cmd = exec.CommandContext(ctx, "sudo", "-n", "--", "/bin/sh", f)
	default:
		cmd = exec.CommandContext(ctx, "/bin/sh", "/proc/self/fd/3")
		cmd.ExtraFiles = []*os.File{script}
	}
	cmd.Env = ChildEnv()
	cmd.Stdin = c.Stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = budget.Wrap(&stdout), budget.Wrap(&stderr)
	if c.Stdout != nil {
		cmd.Stdout = c.Stdout // streamed, not kept: see Cmd.Stdout
	}
	err = runStarted(cmd, status)
	if berr := budget.Err(); berr != nil {
		return Result{}, fmt.Errorf("local: %w", berr)
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *exec.ExitError
	var setup *SandboxError
	switch {
	case errors.As(err, &setup):
		return res, fmt.Errorf("local: %w", err)
	case err == nil:
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		res.ExitCode = exitErr.ExitCode()
	case ctx.Err() != nil:
		return res, fmt.Errorf("local: %w", ctx.Err())
	default:
		return res, fmt.Errorf("local: run %s: %w", cmd.Path, err)
	}
	return res, nil
}

// runStarted runs cmd; with a status pipe (the sandbox's), a message the
// sandbox wrote there before it could start the shell is the error.
func runStarted(cmd *exec.Cmd, status *os.File) error {
	if status == nil {
		return cmd.Run()
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	// The write end went to the child only.
	closeExtraWriters(cmd)
	werr := cmd.Wait()
	msg, _ := io.ReadAll(io.LimitReader(status, 4096))
	if len(msg) > 0 {
		return &SandboxError{Msg: strings.TrimSpace(string(msg))}
	}
	return werr
}

// SandboxError is a sandbox that could not be set up: nothing of the
// script ran.
type SandboxError struct{ Msg string }

func (e *SandboxError) Error() string { return "sandbox: " + e.Msg }

// scriptFile puts the script in an anonymous memory file (no path, gone
// with its last descriptor), sealed so nothing can change it once written.
func scriptFile(script string) (*os.File, error) {
	fd, err := unix.MemfdCreate("goprov-script", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("script file: %w", err)
	}
	f := os.NewFile(uintptr(fd), "goprov-script")
	if _, err := io.WriteString(f, script); err != nil {
		f.Close()
		return nil, fmt.Errorf("script file: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("script file: seal: %w", err)
	}
	return f, nil
}

// privateScript writes the script to a 0600 temp file and returns its path.
func privateScript(script string) (string, error) {
	f, err := os.CreateTemp("", "goprov-script-*")
	if err != nil {
		return "", fmt.Errorf("script file: %w", err)
	}
	_, werr := io.WriteString(f, script)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("script file: %w", errors.Join(werr, cerr))
	}
	return f.Name(), nil
}

// Close implements Transport.
func (l *Local) Close() error { return nil }
