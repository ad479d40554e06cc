package planner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// imageFS is what the local transport offers for an image root: files
// opened from the controller but resolved inside the image.
type imageFS interface {
	OpenInRoot(name string, flag int, perm os.FileMode) (*os.File, error)
	MkdirAllInRoot(dir string, perm os.FileMode) error
}

// lockImage is lockHost for an image root: goprov itself holds the flock
// on LockDir/apply.lock inside the image (the same file a script-held lock
// uses), so the lock needs no flock(1) in the image (an empty directory
// has none) and dies with goprov. Every path resolves inside the root.
func lockImage(ctx context.Context, fs imageFS, holder string, timeout time.Duration) (func(), error) {
	if err := fs.MkdirAllInRoot(LockDir, 0o700); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	d, err := fs.OpenInRoot(LockDir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	err = d.Chmod(0o700)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	f, err := fs.OpenInRoot(LockDir+"/apply.lock", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock: flock: %w", err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, &LockError{Holder: readHolder(fs)}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := writeHolder(fs, holder+"\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	return func() {
		_ = writeHolder(fs, "")
		f.Close() // drops the flock
	}, nil
}

func writeHolder(fs imageFS, s string) error {
	h, err := fs.OpenInRoot(LockDir+"/apply.holder", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, werr := io.WriteString(h, s)
	return errors.Join(werr, h.Close())
}

func readHolder(fs imageFS) string {
	h, err := fs.OpenInRoot(LockDir+"/apply.holder", os.O_RDONLY, 0)
	if err != nil {
		return ""
	}
	defer h.Close()
	b, _ := io.ReadAll(io.LimitReader(h, 4096))
	return strings.TrimSpace(string(b))
}
