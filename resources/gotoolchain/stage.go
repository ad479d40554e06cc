package gotoolchain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/goprov/goprov/internal/inert"
	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
)

// A toolchain sent from the controller is staged first: uploaded over SFTP
// as the login user into a private file, resumed from the staged size
// after a cut, checked by SHA-256 on the host, and only then extracted as
// root. A dropped link costs the bytes in flight, not the whole archive.

// sftpHost is a transport that can open an SFTP session as the login user
// (transport/ssh.Client). The local transport (image roots) is not one:
// it keeps streaming.
type sftpHost interface {
	SFTP(ctx context.Context) (*sftp.Client, error)
}

// stageDir holds staged uploads, relative to the login user's home.
const stageDir = ".cache/goprov/stage"

// resumeBackoff is how far before a staged file's end a resumed upload
// starts again: writes are pipelined (at most 64 × 32 KiB in flight), so
// a cut may have left the last ones unwritten while a later one landed.
// The SHA-256 check at the end catches anything else.
const resumeBackoff = 8 << 20

// progressOut receives transfer progress; transfers shorter than a second
// print nothing.
var progressOut io.Writer = os.Stderr

// testHookStaged, when set, learns where each upload started and how many
// bytes it sent.
var testHookStaged func(host string, offset, sent, total int64)

// stageImage is what is staged: the rendered tree and its sentinel.
type stageImage struct {
	size     int64
	sum      string // sha256 hex of the whole image
	sentinel []byte
}

// image computes the staged image once per artifact (one read of the
// rendered tree, which is also checked against its render-time hash).
func (a *Artifact) image() (*stageImage, error) {
	a.imgOnce.Do(func() {
		var sent bytes.Buffer
		if err := WriteSentinel(&sent, a.Hash); err != nil {
			a.imgErr = err
			return
		}
		body, whole := sha256.New(), sha256.New()
		if _, err := io.Copy(io.MultiWriter(body, whole), io.NewSectionReader(a.body, 0, a.bodySize)); err != nil {
			a.imgErr = fmt.Errorf("read the rendered toolchain: %w", err)
			return
		}
		if !bytes.Equal(body.Sum(nil), a.bodySHA[:]) {
			a.imgErr = fmt.Errorf("the rendered toolchain %s changed since it was verified", a.Origin)
			return
		}
		whole.Write(sent.Bytes())
		a.img = &stageImage{size: a.bodySize + int64(sent.Len()), sum: hex.EncodeToString(whole.Sum(nil)), sentinel: sent.Bytes()}
	})
	return a.img, a.imgErr
}

// from reads the image from offset on.
func (a *Artifact) from(img *stageImage, off int64) io.Reader {
	if off >= a.bodySize {
		return bytes.NewReader(img.sentinel[off-a.bodySize:])
	}
	return io.MultiReader(io.NewSectionReader(a.body, off, a.bodySize-off), bytes.NewReader(img.sentinel))
}

// stagedInstall uploads (or resumes) the image, then extracts it as root.
func (tc *Toolchain) stagedInstall(ctx context.Context, h *resources.Host, sh sftpHost, p Platform, work string, art *Artifact) ([]byte, error) {
	img, err := art.image()
	if err != nil {
		return nil, err
	}
	staged, err := upload(ctx, h.Name, sh, art, img, "go"+tc.Version)
	if err != nil {
		return nil, err
	}
	out, err := runOut(ctx, h, tc.stagedScript(h, p, work, art, staged, img.sum), nil, "install go"+tc.Version)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// upload makes the staged file whole and returns its absolute path.
func upload(ctx context.Context, host string, sh sftpHost, art *Artifact, img *stageImage, label string) (string, error) {
	cl, err := sh.SFTP(ctx)
	if err != nil {
		if strings.Contains(err.Error(), "subsystem request failed") {
			return "", fmt.Errorf("%w: %v", errNoSFTP, err)
		}
		return "", err
	}
	defer cl.Close()
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer stop()
	home, err := cl.Getwd()
	if err != nil {
		return "", fmt.Errorf("stage %s: home directory: %w", label, err)
	}
	dir := path.Join(home, stageDir)
	if err := cl.MkdirAll(dir); err != nil {
		return "", fmt.Errorf("stage %s: mkdir %s: %w", label, dir, err)
	}
	if err := cl.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("stage %s: chmod %s: %w", label, dir, err)
	}
	// Named by content: a resume only ever continues the same bytes.
	name := path.Join(dir, label+"-"+img.sum[:16]+".tar")
	var off int64
	if st, err := cl.Lstat(name); err == nil {
		if !st.Mode().IsRegular() || st.Size() > img.size {
			if err := cl.Remove(name); err != nil {
				return "", fmt.Errorf("stage %s: remove %s: %w", label, name, err)
			}
		} else {
			off = max(0, st.Size()-resumeBackoff)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("stage %s: stat %s: %w", label, name, err)
	}
	f, err := cl.OpenFile(name, os.O_WRONLY|os.O_CREATE)
	if err != nil {
		return "", fmt.Errorf("stage %s: open %s: %w", label, name, err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return "", fmt.Errorf("stage %s: chmod %s: %w", label, name, err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return "", fmt.Errorf("stage %s: seek: %w", label, err)
	}
	pr := newProgress(host, label, off, img.size)
	// The length is known, so the pipelined writer takes all of it.
	src := io.LimitReader(io.TeeReader(art.from(img, off), pr), img.size-off)
	n, err := f.ReadFrom(src)
	pr.finish(err)
	if testHookStaged != nil {
		testHookStaged(host, off, n, img.size)
	}
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		return "", fmt.Errorf("stage %s: upload cut after %d of %d bytes (%w); the next apply resumes from there", label, off+n, img.size, err)
	}
	return name, nil
}

// stagedScript checks the staged image as root and extracts it.
func (tc *Toolchain) stagedScript(h *resources.Host, p Platform, work string, art *Artifact, staged, sum string) string {
	var b strings.Builder
	b.WriteString(tc.prologue(h, work))
	fmt.Fprintf(&b, `s=%s
[ -f "$s" ] && [ ! -L "$s" ] || { echo "the staged toolchain $s is missing" >&2; exit %d; }
got=$(sha256sum <"$s" | cut -d' ' -f1)
[ "$got" = %s ] || { rm -f -- "$s"; echo "the staged toolchain had sha256 $got, not the controller's: removed it, apply again" >&2; exit %d; }
`, shell.Quote(staged), exitStage, shell.Quote(sum), exitStage)
	b.WriteString(tc.extractChecks(`<"$s"`, art))
	b.WriteString(tc.epilogue(p))
	b.WriteString("rm -f -- \"$s\"\n")
	return b.String()
}

const exitStage = 27

// errNoSFTP: the host's sshd offers no sftp subsystem; the caller streams.
var errNoSFTP = errors.New("no sftp subsystem")

// progress prints "staged X of Y MiB" lines once the transfer has taken a
// second, then at most once a second.
type progress struct {
	mu          sync.Mutex
	host, label string
	start, last time.Time
	from        int64 // where this transfer started (a resume)
	done, total int64
	printed     bool
}

func newProgress(host, label string, off, total int64) *progress {
	now := time.Now()
	return &progress{host: host, label: label, start: now, last: now, from: off, done: off, total: total}
}

func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= time.Second {
		p.last = now
		p.print("")
	}
	return len(b), nil
}

func (p *progress) finish(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.printed {
		return
	}
	if err != nil {
		p.print(" (cut)")
	} else {
		p.print(" (done)")
	}
}

func (p *progress) print(suffix string) {
	p.printed = true
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	rate := mib(p.done-p.from) / max(time.Since(p.start).Seconds(), 0.001)
	fmt.Fprintf(progressOut, "goprov: %s: %s: staged %.1f of %.1f MiB (%d%%), %.0f MiB/s%s\n",
		inert.Text(p.host), p.label, mib(p.done), mib(p.total), p.done*100/max(p.total, 1), rate, suffix)
}
