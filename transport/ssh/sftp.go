package ssh

import (
	"context"
	"fmt"

	"github.com/pkg/sftp"
)

// SFTP opens an SFTP session on the connection, as the login user (no
// sudo): a file API for uploads that can resume after a cut. The caller
// closes it. It fails on hosts whose sshd has no sftp subsystem.
func (c *Client) SFTP(ctx context.Context) (*sftp.Client, error) {
	if err := c.deadReason(); err != nil {
		return nil, fmt.Errorf("%s: ssh: connection lost: %w", c.name, err)
	}
	type result struct {
		cl  *sftp.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Writes in flight at once: the link's round trips overlap. A cut
		// can leave the last of them unwritten; resumers back off past
		// that window (at most 64 × 32 KiB).
		cl, err := sftp.NewClient(c.conn, sftp.UseConcurrentWrites(true))
		ch <- result{cl, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("%s: ssh: sftp: %w", c.name, c.lost(r.err))
		}
		return r.cl, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.cl != nil {
				r.cl.Close()
			}
		}()
		return nil, fmt.Errorf("%s: ssh: sftp: %w", c.name, ctx.Err())
	}
}
