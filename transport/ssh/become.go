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
// only then reads the script from stdin. So the transport knows, from stderr
// alone:
//
//   - prompt marker seen once: sudo wants the password → write it + "\n";
//   - prompt marker seen twice: the password was wrong → abort;
//   - success marker seen: sudo is done with stdin → send the framed script,
//     then stream Cmd.Stdin.
//
// Nothing but the sudo stage itself (read exactly, up to its frame's end)
// is written to stdin before sudo asks, so with NOPASSWD or cached
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

// bootstrap reads one framed script from stdin and runs it; the rest of
// stdin is the script's. The frame is a header line "LEN NONCE\n", then LEN
// bytes: the script, "\n#", NONCE. read takes the header byte by byte and
// dd (fullblock) exactly LEN bytes, so nothing after the frame is consumed;
// a frame cut short (connection lost) lacks the trailing nonce and is
// refused rather than half run. eval keeps a script of any size out of argv.
const bootstrap = `read n k;s=$(dd bs=$n count=1 iflag=fullblock 2>/dev/null);case $s in *"#$k")eval "$s";;*)echo goprov: script not received intact >&2;exit 125;;esac`

// execLine is the exec request of every command, whatever it runs. sshd
// hands it to the login user's shell, which may be bash, zsh, fish, tcsh or
// csh: so it is one fixed single-quoted word holding no newline, `!`,
// backslash or quote, which every one of them passes to /bin/sh unchanged.
const execLine = `/bin/sh -c '` + bootstrap + `'`

// frame wraps script for bootstrap.
func frame(script string) []byte {
	nonce := randomHex()
	body := script + "\n#" + nonce
	return []byte(strconv.Itoa(len(body)) + " " + nonce + "\n" + body)
}

// sudoStage is the first script of a privileged command, run by the login
// user: sudo, which asks for the password on stderr with the prompt marker
// and reads it from stdin; then, as root, the success marker on stderr and
// a second bootstrap that reads the real script from stdin, sent only once
// the marker arrived.
func sudoStage(m becomeMarkers) string {
	inner := "printf '%s\\n' " + shell.Quote(m.success) + " >&2; " + bootstrap
	return "exec " + shell.Join("sudo", "-S", "-p", m.prompt, "-u", "root", "--", "/bin/sh", "-c", inner)
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
