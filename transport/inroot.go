package transport

import (
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// OpenInRoot opens name, an absolute path as the image sees it, from this
// machine but resolved inside the image root: every link, absolute or
// relative, as if the root were "/", and ".." never above it (openat2's
// RESOLVE_IN_ROOT). Only a regular file or a directory is opened: a device
// node planted in the image is refused, not opened. With os.O_CREATE a
// missing file is created. For the image host's own state that goprov
// keeps from the controller (its lock).
func (l *Local) OpenInRoot(name string, flag int, perm os.FileMode) (*os.File, error) {
	if l.root == "" {
		return os.OpenFile(name, flag, perm)
	}
	rootFD, err := unix.Open(l.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open image root: %w", err)
	}
	defer unix.Close(rootFD)
	how := func(f int, mode uint32) *unix.OpenHow {
		return &unix.OpenHow{Flags: uint64(f | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	}
	fd, err := unix.Openat2(rootFD, name, how(unix.O_PATH, 0))
	if errors.Is(err, unix.ENOENT) && flag&os.O_CREATE != 0 {
		fd, err = unix.Openat2(rootFD, name, how(flag|unix.O_NOFOLLOW|unix.O_EXCL, uint32(perm.Perm())))
		if err == nil {
			return os.NewFile(uintptr(fd), name), nil
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open in image root", Path: name, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat in image root", Path: name, Err: err}
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFDIR {
		return nil, fmt.Errorf("image root: %s is not a regular file or directory: refused", name)
	}
	// Reopen the very inode checked above, with the access asked for.
	return os.OpenFile(fdPath(fd), flag&^(os.O_CREATE|os.O_EXCL), perm)
}

// MkdirAllInRoot creates dir and its missing parents inside the image
// root (mode perm), resolving links as OpenInRoot does.
func (l *Local) MkdirAllInRoot(dir string, perm os.FileMode) error {
	if l.root == "" {
		return os.MkdirAll(dir, perm)
	}
	clean := path.Clean("/" + dir)
	if clean == "/" {
		// The image root itself: created when missing (an empty image).
		return os.MkdirAll(l.root, 0o755)
	}
	if err := l.MkdirAllInRoot(path.Dir(clean), 0o755); err != nil {
		return err
	}
	if d, err := l.OpenInRoot(clean, os.O_RDONLY|unix.O_DIRECTORY, 0); err == nil {
		return d.Close()
	}
	parent, err := l.OpenInRoot(path.Dir(clean), os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := unix.Mkdirat(int(parent.Fd()), path.Base(clean), uint32(perm.Perm())); err != nil {
		buf := make([]byte, unix.PathMax)
		if n, lerr := unix.Readlinkat(int(parent.Fd()), path.Base(clean), buf); lerr == nil {
			return fmt.Errorf("image root: %s is a link to %q, which leads to no directory inside the root: refused", clean, buf[:n])
		}
		return &os.PathError{Op: "mkdir in image root", Path: clean, Err: err}
	}
	return nil
}
