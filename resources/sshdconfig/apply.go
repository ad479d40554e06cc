package sshdconfig

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/goprov/goprov/internal/shell"
	"github.com/goprov/goprov/resources"
	"github.com/goprov/goprov/transport"
)

const (
	noteImage = "image root: checked with the image's own sshd (sshd -t), not reloaded (no sshd of the image runs here)"
	// rollbackTimeout bounds how long a change may stay unconfirmed: if
	// goprov loses the host between the reload and the new-login proof,
	// the host restores the previous file by itself.
	rollbackTimeout = 120
	accessTimeout   = 30 * time.Second
	rollbackDir     = "/var/lib/goprov/sshd-rollback"
	lockPath        = "/run/goprov-sshd.lock"
)

// Diff implements resources.Resource.
func (f *File) Diff(h *resources.Host, probe []byte) (resources.Change, error) {
	st, err := f.parse(probe)
	if err != nil {
		return resources.Change{}, err
	}
	ch := resources.FileChange(st.file, f.desired(), f.Path())
	if err := f.check(h, st, ch.Action != resources.NoOp); err != nil {
		return resources.Change{}, err
	}
	if f.Present && st.want.Values != nil {
		for _, o := range Overrides(f.Settings, st.want.Values, st.first.Values, st.setters) {
			by := "something sshd reads first (a Match block, the command line?)"
			if len(o.By) > 0 {
				by = strings.Join(o.By, ", ")
			}
			ch.Notes = append(ch.Notes, fmt.Sprintf("%s: sshd uses %q, not %q: %s sets it first, and sshd keeps the first value it reads",
				o.Keyword, o.Got, o.Want, by))
		}
	}
	if st.pending && isLive(h) {
		if ch.Action == resources.NoOp {
			ch.Action = resources.Update
		}
		ch.Notes = append(ch.Notes, "sshd reload pending (an earlier change was written but its reload or new-login proof never finished: "+st.why+")")
	}
	if !isLive(h) && ch.Action != resources.NoOp {
		ch.Notes = append(ch.Notes, noteImage)
	}
	return ch, nil
}

// check refuses what must not be written: a main config that would never
// read the file, a configuration sshd rejects, and, when the file
// changes, one that would lock goprov out.
func (f *File) check(h *resources.Host, st *state, changes bool) error {
	const nothing = "; nothing was written"
	if f.Present {
		if st.noMain {
			return fmt.Errorf("%s does not exist: sshd would not read %s"+nothing, MainConfig, f.Path())
		}
		if !includesDropins(st.includes) {
			return fmt.Errorf("%s does not include %s/*.conf, so sshd would never read %s: add `Include %s/*.conf` at its top (Debian's and Ubuntu's default)"+nothing,
				MainConfig, Dir, f.Path(), Dir)
		}
		if st.want.NoSSHD {
			return fmt.Errorf("no sshd at %s on this host (openssh-server not installed?)"+nothing, SSHD)
		}
	}
	if st.want.NoSSHD {
		return nil // removing a file of an sshd that is not there
	}
	if st.want.Rejected != "" {
		with := "with this file"
		if !f.Present {
			with = "without this file"
		}
		return fmt.Errorf("sshd -t rejects the configuration %s: %s"+nothing, with, st.want.Rejected)
	}
	if !changes || !isLive(h) || h.LoginUser == "" {
		return nil
	}
	l := f.login(h, st)
	if why := Lockout(st.want.Values, l); len(why) > 0 {
		return fmt.Errorf("refused: the change would lock goprov out (it logs in as %s with %s on port %d): %s"+nothing,
			l.User, l.Method, l.Port, strings.Join(why, "; "))
	}
	return nil
}

func (f *File) login(h *resources.Host, st *state) Login {
	l := Login{User: h.LoginUser, Groups: st.groups, Method: h.AuthMethod, Port: st.port()}
	if l.Method == "" {
		l.Method = "publickey"
	}
	if len(st.conn) >= 4 {
		l.Addr, l.LAddr = st.conn[0], st.conn[2]
	}
	if l.Port == 0 {
		l.Port = h.Facts.SSHDPort
	}
	if l.Port == 0 {
		l.Port = h.SSHPort
	}
	return l
}

// includesDropins tells whether the main config's Include arguments
// cover sshd_config.d/*.conf (absolute, or relative to /etc/ssh).
func includesDropins(args []string) bool {
	for _, a := range args {
		if a == Dir+"/*.conf" || a == "sshd_config.d/*.conf" {
			return true
		}
	}
	return false
}

// Apply implements resources.Resource.
func (f *File) Apply(ctx context.Context, h *resources.Host, ch resources.Change) error {
	if ch.Action == resources.NoOp {
		return nil
	}
	st, err := f.parse(ch.Current)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Path(), err)
	}
	want := f.desired()
	writes := resources.FileChange(st.file, want, f.Path()).Action != resources.NoOp
	if !isLive(h) {
		if writes {
			if err := f.write(ctx, h, want); err != nil {
				return err
			}
			h.Note(noteImage)
		}
		return nil
	}
	dm := f.deadMan()
	if err := dm.Arm(ctx, h, rollbackTimeout); err != nil {
		return err
	}
	fail := func(err error) error {
		if rerr := dm.RollbackNow(ctx, h); rerr != nil {
			return fmt.Errorf("%w; restoring the previous %s failed too (%v): the host restores it within %d s", err, f.Path(), rerr, rollbackTimeout)
		}
		if cerr := resources.ClearPending(ctx, h, pendingKey); cerr != nil {
			return fmt.Errorf("%w; the previous %s was restored and sshd reloaded (%v)", err, f.Path(), cerr)
		}
		return fmt.Errorf("%w; the previous %s was restored and sshd reloaded", err, f.Path())
	}
	if err := resources.MarkPending(ctx, h, pendingKey, "sshd change started "+time.Now().UTC().Format(time.RFC3339)); err != nil {
		return fail(err)
	}
	if writes {
		if err := f.write(ctx, h, want); err != nil {
			return fail(err)
		}
	}
	if err := reload(ctx, h); err != nil {
		return fail(err)
	}
	if h.SSHPort != 0 || h.LoginUser != "" {
		if err := resources.ProveAccess(ctx, h.Reconnect, accessTimeout); err != nil {
			return fail(fmt.Errorf("a new SSH login failed after sshd reloaded %s: %w", f.Path(), err))
		}
	}
	if err := dm.Disarm(ctx, h); err != nil {
		return err
	}
	return resources.ClearPending(ctx, h, pendingKey)
}

// write puts the file in place (or removes it), the candidate checked by
// `sshd -t` with the whole configuration first.
func (f *File) write(ctx context.Context, h *resources.Host, want *resources.DesiredFile) error {
	if want == nil {
		return resources.RemoveFile(ctx, h, f.Path())
	}
	err := resources.WriteFile(ctx, h, *want, resources.WriteOptions{Validate: f.validateSh(h), MkdirMode: 0o755})
	if ve, ok := err.(*resources.ErrValidation); ok {
		return fmt.Errorf("%s: sshd -t rejects the configuration with this file, the live file is untouched: %s", f.Path(), ve.Msg)
	}
	return err
}

// validateSh checks the temp file "$1" in the place of the live one.
func (f *File) validateSh(h *resources.Host) string {
	return inPrivateRun(h, fmt.Sprintf(`PATH=/usr/sbin:/usr/bin:/sbin:/bin
R=%s IMG=%s N=%s cand=$1
%s
sshd_tmp || exit 1
trap 'rm -rf -- "$c"' EXIT
sshd_cand "$c/x" "$cand" 0
o=$(sshd_run -t -f "$ic/x/sshd_config" 2>&1); rc=$?
printf '%%s\n' "$o" | sed -e "s|$ic/x/d/|/etc/ssh/sshd_config.d/|g" -e "s|$ic/x/sshd_config|/etc/ssh/sshd_config|g" -e "s|$ic|@CANDIDATE@|g"
exit $rc`, shell.Quote(imageRoot(h)), imgFlag(h), shell.Quote(f.Name+".conf"), candidateSh))
}

// reloadSh makes the running sshd read its configuration again and waits
// until it has: sshd re-executes itself on SIGHUP and opens new listening
// sockets, so until their inodes change a new login could still meet the
// old configuration. systemd's unit is reloaded where systemd runs (the
// lab's sshd runs under tini: there the listener gets SIGHUP directly).
const reloadSh = `PATH=/usr/sbin:/usr/bin:/sbin:/bin
pid= unit=
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	for u in ssh sshd; do
		p=$(systemctl show -p MainPID --value "$u" 2>/dev/null)
		case $p in ''|0) ;; *) pid=$p unit=$u; break ;; esac
	done
fi
if [ -z "$pid" ]; then
	pf=$(sshd -T 2>/dev/null | awk '$1 == "pidfile" { print $2 }')
	pid=$(cat "${pf:-/run/sshd.pid}" 2>/dev/null)
	case $pid in ''|*[!0-9]*) pid= ;; esac
	if [ -n "$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" != sshd ]; then pid=; fi
	[ -n "$pid" ] || pid=$(pgrep -o -x sshd)
fi
[ -n "$pid" ] || { echo "no running sshd found to reload" >&2; exit 1; }
socks() { ls -l /proc/$1/fd 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | sort | tr '\n' ' '; }
before=$(socks "$pid")
if [ -n "$unit" ]; then systemctl reload "$unit" || exit 1; else kill -HUP "$pid" || exit 1; fi
i=0
while [ $i -lt 150 ]; do
	now=$(socks "$pid")
	if [ -n "$now" ] && [ "$now" != "$before" ]; then exit 0; fi
	[ -d /proc/$pid ] || { echo "sshd (pid $pid) exited on reload" >&2; exit 1; }
	sleep 0.1; i=$((i+1))
done
echo "sshd (pid $pid) did not reload within 15 s" >&2; exit 1`

func reload(ctx context.Context, h *resources.Host) error {
	res, err := h.Run(ctx, transportCmd(reloadSh))
	if err != nil {
		return fmt.Errorf("reload sshd: %w", err)
	}
	return res.Err("reload sshd")
}

// deadMan saves this file (or that it was absent); its restore puts it
// back and reloads sshd.
func (f *File) deadMan() resources.DeadMan {
	p := shell.Quote(f.Path())
	return resources.DeadMan{
		Tag: "sshd", Dir: rollbackDir, Lock: lockPath,
		Save: `f=` + p + `
if [ -f "$f" ]; then cp -p -- "$f" "$d/file"; fi`,
		Restore: `f=` + p + `
if [ -f "$d/file" ]; then cp -p -- "$d/file" "$(dirname "$f")/.goprov-restore" && mv -f -- "$(dirname "$f")/.goprov-restore" "$f"; else rm -f -- "$f"; fi
( ` + reloadSh + `
)`,
	}
}

func transportCmd(script string) transport.Cmd { return transport.Cmd{Script: script, Sudo: true} }
