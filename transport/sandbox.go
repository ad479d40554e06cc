package transport

// The image sandbox. goprov re-executes itself (/proc/self/exe) as a small
// helper in new user, mount, PID, network, IPC, UTS and cgroup namespaces;
// the helper makes the image directory "/" with pivot_root (not chroot:
// the old root is detached, so there is nothing left to climb back to),
// mounts a fresh /proc and a minimal /dev, and execs the shell on the
// script. What that leaves an image's binaries:
//
//   - files: only the image's. Links, absolute or relative, resolve inside
//     it, by the kernel. The image is mounted nodev and nosuid: a device
//     node planted in the image (a disk, /dev/mem) cannot be opened.
//   - capabilities: those of root in the user namespace only. Its uid map
//     is the identity (0-4294967294), so chown to any owner works and files
//     of any owner stay readable, yet no capability applies to anything of
//     the real machine (its mounts, network, processes, kernel).
//   - processes: a fresh PID namespace; the machine's processes (and their
//     /proc/PID/root or environ) are not there to be seen.
//   - network: a new namespace with only a loopback that is down; or,
//     for a command that asks for the network when the operator allowed
//     it (Cmd.Network, Local.AllowNetwork), this machine's network, with
//     a Landlock scope so the image's code cannot reach this machine's
//     abstract UNIX sockets (which belong to the network namespace) nor
//     signal its processes.
//   - environment: ChildEnv's minimal one; the descriptors: stdin, stdout,
//     stderr and the script.
//
// A plan's read (Cmd.ReadOnly) gets the image read-only. An image without
// /bin/sh (an empty directory, a distroless tree) runs the build machine's
// static busybox instead, exec'ed from a descriptor opened before the
// pivot, so nothing is copied into the image.

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sandboxArg0 marks the re-executed helper; init diverts such a process
// before anything else of goprov (or of a test binary) runs.
const sandboxArg0 = "goprov-sandbox"

// StaticShell is the shell used for images without /bin/sh: Debian's
// busybox-static (with its applets: cat, sha256sum, tar, …).
var StaticShell = "/bin/busybox"

// Descriptors the helper receives.
const (
	fdScript = 3
	fdStatus = 4
)

func init() {
	if len(os.Args) == 4 && os.Args[0] == sandboxArg0 {
		sandboxMain(os.Args[1], sandboxMode{readOnly: os.Args[2] == "ro", network: os.Args[3] == "net"})
	}
}

// sandboxMode is how one script's sandbox differs from the default.
type sandboxMode struct {
	readOnly bool // the image mounted read-only (a plan's read)
	network  bool // this machine's network instead of an empty one
}

// args is the mode as the helper's argv.
func (m sandboxMode) args() []string {
	a := []string{"rw", "nonet"}
	if m.readOnly {
		a[0] = "ro"
	}
	if m.network {
		a[1] = "net"
	}
	return a
}

// sandboxCommand prepares the helper for root. The returned file is the
// read end of the status pipe.
func sandboxCommand(ctx context.Context, root string, m sandboxMode, script *os.File) (*exec.Cmd, *os.File, error) {
	readOnly := m.readOnly
	if os.Geteuid() != 0 {
		return nil, nil, errors.New("image roots need goprov to run as root: the sandbox maps the image's owners 1:1 in a user namespace")
	}
	if !readOnly {
		// A root that does not exist yet is an empty image (the README's
		// first command); a run that writes creates it, a plan never.
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, nil, fmt.Errorf("create image root: %w", err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: %w", err)
	}
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = append([]string{sandboxArg0, root}, m.args()...)
	cmd.ExtraFiles = []*os.File{script, w}
	all := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}
	flags := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET |
		unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP)
	if m.network {
		// Root of the new user namespace holds no capability over this
		// network namespace (owned by the initial user namespace): it
		// can connect out, not reconfigure interfaces or netfilter.
		flags &^= unix.CLONE_NEWNET
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 flags,
		UidMappings:                all,
		GidMappings:                all,
		GidMappingsEnableSetgroups: true,
		Setsid:                     true, // no controlling terminal to push input into
		Pdeathsig:                  syscall.SIGKILL,
	}
	return cmd, r, nil
}

// closeExtraWriters closes the parent's copy of the status pipe's write
// end once the helper has it, so the read end sees EOF when it execs.
func closeExtraWriters(cmd *exec.Cmd) {
	for _, f := range cmd.ExtraFiles[1:] {
		f.Close()
	}
}

// sandboxMain is the helper: set up, then exec the shell. It never returns.
func sandboxMain(root string, m sandboxMode) {
	status := os.NewFile(fdStatus, "status")
	unix.CloseOnExec(fdStatus)
	shell, err := setupSandbox(root, m.readOnly)
	if err == nil && m.network {
		err = scopeOutOfMachine()
	}
	if err == nil {
		argv := []string{"sh", "/proc/self/fd/" + strconv.Itoa(fdScript)}
		err = syscall.Exec(shell, argv, os.Environ())
		err = fmt.Errorf("exec the image's shell %s: %w", shell, err)
	}
	fmt.Fprintf(status, "%s: %v", root, err)
	os.Exit(126)
}

// setupSandbox builds the image's mount tree and pivots into it; it
// returns the path of the shell to exec.
func setupSandbox(root string, readOnly bool) (string, error) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return "", fmt.Errorf("make mounts private: %w", err)
	}
	busybox := openStaticShell() // before the pivot: it lives on this machine
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) && readOnly {
		// A plan of an image that does not exist yet reads an empty one:
		// a tmpfs in this private mount namespace stands in.
		root = os.TempDir()
		if err = unix.Mount("tmpfs", root, "tmpfs", 0, "mode=0755,size=64k"); err == nil {
			rootFD, err = unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		}
	}
	if err != nil {
		return "", fmt.Errorf("open image root: %w", err)
	}
	bare, err := prepareMountPoints(rootFD, readOnly)
	if err != nil {
		return "", err
	}
	if bare {
		err = mountComposite(root, rootFD)
	} else {
		err = unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, "")
	}
	if err != nil {
		return "", fmt.Errorf("mount image root: %w", err)
	}
	newFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open image root: %w", err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID}
	if readOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(newFD, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return "", fmt.Errorf("set image mount nodev,nosuid: %w", err)
	}
	if err := mountSystemDirs(newFD); err != nil {
		return "", err
	}
	if err := unix.Fchdir(newFD); err != nil {
		return "", fmt.Errorf("enter image root: %w", err)
	}
	// pivot_root(".", ".") stacks the old root on the new one; detaching
	// it leaves the image as the only tree this process can reach.
	if err := unix.PivotRoot(".", "."); err != nil {
		return "", fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return "", fmt.Errorf("detach the build machine's root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return "", err
	}
	var st unix.Stat_t
	if unix.Stat("/bin/sh", &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		return "/bin/sh", nil
	}
	if busybox < 0 {
		return "", fmt.Errorf("the image has no /bin/sh and this machine has no static %s to run scripts with (Debian: apt-get install busybox-static)", StaticShell)
	}
	return "/proc/self/fd/" + strconv.Itoa(busybox), nil
}

// openStaticShell opens StaticShell if it is a static executable (a
// dynamic one would need the image's libc), else returns -1.
func openStaticShell() int {
	f, err := elf.Open(StaticShell)
	if err != nil {
		return -1
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return -1
		}
	}
	fd, err := unix.Open(StaticShell, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// prepareMountPoints checks the image's /dev and /proc, where the sandbox
// mounts its own. A link or a file there is refused (mounting "on" it
// would follow it). Missing ones are created for a run that writes (every
// Linux root has them); a read-only run reports bare instead and gets a
// composite root, so a plan writes nothing, not even those.
func prepareMountPoints(rootFD int, readOnly bool) (bare bool, err error) {
	for _, d := range []string{"dev", "proc"} {
		var st unix.Stat_t
		err := unix.Fstatat(rootFD, d, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		case err == nil:
			return false, fmt.Errorf("image root: /%s is a link or not a directory: refused", d)
		case errors.Is(err, unix.ENOENT) && readOnly:
			bare = true
		case errors.Is(err, unix.ENOENT):
			if err := unix.Mkdirat(rootFD, d, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				return false, fmt.Errorf("image root: create /%s: %w", d, err)
			}
		default:
			return false, fmt.Errorf("image root: /%s: %w", d, err)
		}
	}
	return bare, nil
}

// mountComposite covers root with a tmpfs that holds a bind mount of each
// of the image's top-level entries (links copied as links) plus empty
// dev and proc: the image as it is, with mount points it lacks, for
// read-only runs.
func mountComposite(root string, rootFD int) error {
	dirFD, err := unix.Openat(rootFD, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	dir := os.NewFile(uintptr(dirFD), root)
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		return err
	}
	topFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(topFD)
	for _, n := range names {
		if err := bindEntry(rootFD, topFD, n); err != nil {
			return fmt.Errorf("/%s: %w", n, err)
		}
	}
	for _, d := range []string{"dev", "proc"} {
		if err := unix.Mkdirat(topFD, d, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	}
	return nil
}

// bindEntry mirrors the image's top-level entry name into the composite.
func bindEntry(fromFD, toFD int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(fromFD, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(fromFD, name, buf)
		if err != nil {
			return err
		}
		return unix.Symlinkat(string(buf[:n]), toFD, name)
	case unix.S_IFDIR:
		if err := unix.Mkdirat(toFD, name, 0o755); err != nil {
			return err
		}
	case unix.S_IFREG:
		fd, err := unix.Openat(toFD, name, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return err
		}
		unix.Close(fd)
	default:
		return nil // devices, sockets, fifos at the top: not needed to read
	}
	return bindAt(fromFD, name, toFD, name, unix.MS_BIND|unix.MS_REC)
}

// bindAt bind-mounts fromFD/from onto toFD/to without following links in
// either last component (both are opened O_NOFOLLOW, then mounted through
// their /proc/self/fd names).
func bindAt(fromFD int, from string, toFD int, to string, flags uintptr) error {
	src, err := unix.Openat(fromFD, from, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(src)
	dst, err := unix.Openat(toFD, to, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dst)
	return unix.Mount(fdPath(src), fdPath(dst), "", flags, "")
}

func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// mountSystemDirs mounts the sandbox's own /proc and /dev (a tmpfs with
// the harmless devices of this machine bound in), through descriptors
// opened without following links. /tmp stays the image's own: a tmpfs
// there would hide (and lose) what the image keeps in it.
func mountSystemDirs(rootFD int) error {
	at := func(d string) (int, error) {
		return unix.Openat(rootFD, d, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	procFD, err := at("proc")
	if err != nil {
		return fmt.Errorf("image /proc: %w", err)
	}
	defer unix.Close(procFD)
	if err := unix.Mount("proc", fdPath(procFD), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := mountDev(at); err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	return nil
}

func mountDev(at func(string) (int, error)) error {
	devFD, err := at("dev")
	if err != nil {
		return err
	}
	err = unix.Mount("tmpfs", fdPath(devFD), "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k")
	unix.Close(devFD)
	if err != nil {
		return err
	}
	if devFD, err = at("dev"); err != nil { // now the tmpfs
		return err
	}
	defer unix.Close(devFD)
	hostDev, err := unix.Open("/dev", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(hostDev)
	for _, n := range []string{"null", "zero", "full", "random", "urandom"} {
		fd, err := unix.Openat(devFD, n, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o666)
		if err != nil {
			return err
		}
		unix.Close(fd)
		if err := bindAt(hostDev, n, devFD, n, unix.MS_BIND); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	for n, to := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := unix.Symlinkat(to, devFD, n); err != nil {
			return err
		}
	}
	return nil
}

// landlockScopeABI is the first Landlock ABI with scopes (Linux 6.12).
const landlockScopeABI = 6

// scopeOutOfMachine confines this process and its children with a
// Landlock scope: no connecting to abstract UNIX sockets (a network
// namespace's, so this machine's when it shares that namespace: the
// classic containerd-shim escape) nor signalling processes made outside
// the sandbox. A kernel without scopes is refused, not run unconfined.
func scopeOutOfMachine() error {
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 || abi < landlockScopeABI {
		have := "no Landlock (" + errno.Error() + ")"
		if errno == 0 {
			have = "Landlock ABI " + strconv.Itoa(int(abi))
		}
		return fmt.Errorf("an image command with the network needs Landlock scopes (Linux 6.12 or later, Landlock enabled) to keep it from this machine's abstract UNIX sockets; this kernel has %s", have)
	}
	attr := unix.LandlockRulesetAttr{Scoped: unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL}
	// Only the fields up to Scoped: the size of ABI 6's struct.
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), unsafe.Offsetof(attr.Scoped)+8, 0)
	if errno != 0 {
		return fmt.Errorf("landlock: create ruleset: %w", errno)
	}
	defer unix.Close(int(fd))
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); errno != 0 {
		return fmt.Errorf("landlock: restrict: %w", errno)
	}
	return nil
}
