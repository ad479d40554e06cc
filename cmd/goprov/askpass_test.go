package main

import (
	"bytes"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/testinfra"
)

// -ask-become-pass asks once per run on the terminal, without echo, and the
// password works for every host. script(1) gives goprov a real pty.
func TestAskBecomePassOnATerminal(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Fatalf("script(1) from util-linux is needed to give goprov a terminal: %v", err)
	}
	lab := testinfra.Start(t, testinfra.Options{Hosts: 2})
	cfg := labtest.Write(t, labtest.Inventory(lab, testinfra.UserOps), goScript)
	cmd := exec.Command(scriptBin, "-qec", goprovBin+" apply -auto-approve -ask-become-pass "+cfg, "/dev/null")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Answer the prompt once, as a person would.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "BECOME password") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no password prompt:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stdin.Write([]byte(testinfra.OpsPassword + "\n"))
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("apply with -ask-become-pass: %v\n%s", err, out.String())
	}
	got := out.String()
	if n := strings.Count(got, "BECOME password"); n != 1 {
		t.Errorf("asked %d times, want once per run:\n%s", n, got)
	}
	if strings.Contains(got, `w;o'r"d`) {
		t.Errorf("the password was echoed:\n%s", got)
	}
	if !strings.Contains(got, "Apply complete: 2 added") {
		t.Errorf("apply did not complete on both hosts:\n%s", got)
	}
}

// lockedBuffer is written by exec's copying goroutine and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
