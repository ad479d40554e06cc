package ssh

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// Jump connections are shared within the process: 500 hosts behind one
// bastion use ONE connection to it (a channel each), as OpenSSH users get
// with ControlMaster. Without sharing, a parallel run opens hundreds of
// handshakes to the bastion at once and its sshd (MaxStartups 10:30:100 by
// default) starts dropping them. A shared hop is keyed by the whole path to
// it and by everything that decided trust and identity (user, keys, known
// hosts, policy), so sharing never skips a check a new dial would make.

type poolEntry struct {
	key    string
	ready  chan struct{} // closed when the dial finished
	client *gossh.Client
	err    error
	refs   int
	done   chan struct{} // closed when the connection is gone
}

var jumpPool = struct {
	sync.Mutex
	m map[string]*poolEntry
}{m: map[string]*poolEntry{}}

// hopKey identifies h's settings; prefix is the key of the path to it.
func hopKey(prefix string, h *hop) string {
	var ids []string
	for _, id := range h.identities {
		ids = append(ids, id.path)
	}
	return fmt.Sprintf("%s|%s@%s policy=%s kh=%q gkh=%q alias=%q ids=%q only=%t agent=%q",
		prefix, h.user, h.addr(), h.policy, h.knownHosts, h.globalKnown, h.hostKeyAlias, ids, h.identitiesOnly, h.agentSock)
}

// acquireJump returns a live shared connection for key, dialling it (via
// prev) if there is none. Each successful acquire must be released.
func acquireJump(ctx context.Context, key string, prev *gossh.Client, h *hop, keepAlive time.Duration) (*poolEntry, error) {
	for {
		jumpPool.Lock()
		e := jumpPool.m[key]
		if e == nil {
			e = &poolEntry{key: key, ready: make(chan struct{}), done: make(chan struct{}), refs: 1}
			jumpPool.m[key] = e
			jumpPool.Unlock()
			e.client, e.err = dialRetry(ctx, prev, h)
			if e.err != nil {
				jumpPool.Lock()
				delete(jumpPool.m, key)
				jumpPool.Unlock()
				close(e.ready)
				return nil, e.err
			}
			close(e.ready)
			go e.watch(keepAlive)
			return e, nil
		}
		jumpPool.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("connect %s: %w", h.addr(), ctx.Err())
		}
		jumpPool.Lock()
		if e.err != nil || isClosed(e.done) || jumpPool.m[key] != e {
			// Failed for another dialer (maybe on its ctx) or died: try
			// ourselves, with our own ctx and timeout.
			jumpPool.Unlock()
			if e.err != nil && !errors.Is(e.err, context.Canceled) && !errors.Is(e.err, context.DeadlineExceeded) {
				return nil, e.err
			}
			continue
		}
		e.refs++
		jumpPool.Unlock()
		return e, nil
	}
}

// watch removes the entry when its connection dies, so later dials make a
// new one instead of reusing a dead link.
func (e *poolEntry) watch(interval time.Duration) {
	var once sync.Once
	dead := func(error) {
		once.Do(func() {
			jumpPool.Lock()
			if jumpPool.m[e.key] == e {
				delete(jumpPool.m, e.key)
			}
			jumpPool.Unlock()
			close(e.done)
			e.client.Close()
		})
	}
	if interval > 0 {
		go keepAlive(e.client, interval, e.done, dead)
	}
	_ = e.client.Wait()
	dead(nil)
}

// release drops one reference; the last one closes the connection.
func (e *poolEntry) release() {
	jumpPool.Lock()
	e.refs--
	last := e.refs == 0
	if last && jumpPool.m[e.key] == e {
		delete(jumpPool.m, e.key)
	}
	jumpPool.Unlock()
	if last {
		e.client.Close()
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// poolSize is for tests.
func poolSize() int {
	jumpPool.Lock()
	defer jumpPool.Unlock()
	return len(jumpPool.m)
}

// keepAlive sends keepalive@openssh.com every interval; after three
// intervals without any answer it calls dead. It returns when stop closes.
func keepAlive(conn *gossh.Client, interval time.Duration, stop <-chan struct{}, dead func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastReply atomic.Int64
	lastReply.Store(time.Now().UnixNano())
	var inflight atomic.Bool
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if inflight.CompareAndSwap(false, true) {
			go func() {
				defer inflight.Store(false)
				// OpenSSH answers "failure"; any answer proves liveness.
				if _, _, err := conn.SendRequest("keepalive@openssh.com", true, nil); err == nil {
					lastReply.Store(time.Now().UnixNano())
				}
			}()
		}
		if silent := time.Since(time.Unix(0, lastReply.Load())); silent > 3*interval {
			dead(fmt.Errorf("no answer to keepalive for %s", silent.Round(100*time.Millisecond)))
			return
		}
	}
}
