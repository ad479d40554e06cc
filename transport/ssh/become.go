package ssh

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
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

// sudoCommand is the exec line for script run as root through sudo. The
// script is an argument of /bin/sh (so it shows in the process list, which
// is fine: it carries no secrets by contract).
func sudoCommand(m becomeMarkers, script string) string {
	inner := "printf '%s\\n' " + shell.Quote(m.success) + ` >&2; exec /bin/sh -c "$1"`
	return shell.Join("sudo", "-S", "-p", m.prompt, "-u", "root", "--", "/bin/sh", "-c", inner, "sh", script)
}

// plainCommand runs script with /bin/sh whatever the login shell is.
func plainCommand(script string) string {
	return shell.Join("/bin/sh", "-c", script)
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
