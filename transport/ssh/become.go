package ssh

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"

	"github.com/goprov/goprov/internal/shell"
)

// Privilege escalation, the Ansible way: sudo is told to prompt with a
// random marker (-p) on stderr and to read the password from stdin (-S).
// The command it runs first prints a second random marker to stderr and
// only then execs the script. So the transport knows, from stderr alone:
//
//   - prompt marker seen once: sudo wants the password → write it + "\n";
//   - prompt marker seen twice: the password was wrong → abort;
//   - success marker seen: sudo is done with stdin → stream Cmd.Stdin.
//
// Nothing is written to stdin before sudo asks, so with NOPASSWD or cached
// credentials (when `sudo -S` reads nothing) the password can never leak
// into the script's stdin; and it is never in argv, so never in
// /proc/*/cmdline. The markers are removed from the Stderr returned.

type becomeMarkers struct {
	prompt  string
	success string
}

func newMarkers() becomeMarkers {
	return becomeMarkers{prompt: "goprov-sudo-prompt-" + randomHex(), success: "goprov-sudo-ok-" + randomHex()}
}

func randomHex() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on Linux
	}
	return hex.EncodeToString(b)
}

// maxArgScript is the largest script passed as an argument. Linux caps one
// argv string at 128 KiB (MAX_ARG_STRLEN) and the whole exec line travels as
// one argument of the login shell, so a big batched probe would fail with
// E2BIG. Larger scripts travel on stdin, ahead of Cmd.Stdin (see loader).
const maxArgScript = 32 << 10

// remoteCommand is the exec line for script, and the bytes to send on stdin
// before Cmd.Stdin (nil for small scripts). With m non-nil it runs as root
// through sudo; the script is then an argument of /bin/sh (so it shows in
// the process list, which is fine: it carries no secrets by contract).
func remoteCommand(m *becomeMarkers, script string) (line string, stdinPrefix []byte) {
	run := `exec /bin/sh -c "$1"`
	args := []string{"sh", script}
	if len(script) > maxArgScript {
		run, args, stdinPrefix = loader(len(script)), nil, []byte(script)
	}
	if m == nil {
		return shell.Join(append([]string{"/bin/sh", "-c", run}, args...)...), stdinPrefix
	}
	inner := "printf '%s\\n' " + shell.Quote(m.success) + " >&2; " + run
	return shell.Join(append([]string{"sudo", "-S", "-p", m.prompt, "-u", "root", "--", "/bin/sh", "-c", inner}, args...)...), stdinPrefix
}

// loader reads exactly n bytes of script from stdin into a private temp
// file (created by the user who runs it: root under sudo, so nobody else
// can swap it) and runs it; the rest of stdin is the script's. dd bs=1
// never reads past the script, whatever the pipe delivers at once.
func loader(n int) string {
	return `f=$(mktemp "${TMPDIR:-/tmp}/goprov-script.XXXXXX") || exit 125
trap 'rm -f "$f"; exit 143' HUP INT TERM
dd bs=1 count=` + strconv.Itoa(n) + ` of="$f" 2>/dev/null
if [ "$(wc -c < "$f")" -ne ` + strconv.Itoa(n) + ` ]; then rm -f "$f"; echo "goprov: script truncated in transit" >&2; exit 125; fi
/bin/sh "$f"; rc=$?; rm -f "$f"; exit $rc`
}

type becomeEvent int

const (
	evPrompt   becomeEvent = iota + 1 // sudo asks for the password
	evReprompt                        // sudo asks again: the password was wrong
	evStarted                         // the script runs; stdin belongs to it now
)

// becomeWriter is the session's stderr while sudo is involved. Before the
// success marker it buffers (sudo's lecture, "Sorry, try again"), counting
// prompt markers even when split across writes; after it, bytes pass through
// to post unchanged.
type becomeWriter struct {
	m      becomeMarkers
	events chan becomeEvent

	mu         sync.Mutex
	pre        bytes.Buffer
	post       bytes.Buffer
	promptFrom int
	prompts    int
	started    bool
}

func newBecomeWriter(m becomeMarkers) *becomeWriter {
	return &becomeWriter{m: m, events: make(chan becomeEvent, 8)}
}

func (w *becomeWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return w.post.Write(p)
	}
	w.pre.Write(p)
	b := w.pre.Bytes()
	prompt := []byte(w.m.prompt)
	for {
		i := bytes.Index(b[w.promptFrom:], prompt)
		if i < 0 {
			break
		}
		w.promptFrom += i + len(prompt)
		w.prompts++
		ev := evPrompt
		if w.prompts > 1 {
			ev = evReprompt
		}
		w.send(ev)
	}
	okLine := []byte(w.m.success + "\n")
	if i := bytes.Index(b, okLine); i >= 0 {
		w.started = true
		w.post.Write(b[i+len(okLine):])
		w.pre.Truncate(i)
		w.send(evStarted)
	}
	return len(p), nil
}

func (w *becomeWriter) send(ev becomeEvent) {
	select {
	case w.events <- ev:
	default: // more than 8 events means sudo misbehaves; the state is kept anyway
	}
}

func (w *becomeWriter) state() (started bool, prompts int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.started, w.prompts
}

// sudoOutput is what sudo printed before the script ran, markers removed:
// the text of a sudo failure. It cannot hold the password (sudo does not
// echo it and we never write it anywhere but stdin).
func (w *becomeWriter) sudoOutput() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := bytes.ReplaceAll(w.pre.Bytes(), []byte(w.m.prompt), nil)
	return string(bytes.TrimSpace(s))
}

func (w *becomeWriter) stderr() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.post.Bytes()...)
}
