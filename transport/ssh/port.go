package ssh

import (
	"net"
	"strconv"
)

// Port is the TCP port of the sshd this client is logged in to (the final
// hop): the port a firewall change must never close.
func (c *Client) Port() int {
	_, p, err := net.SplitHostPort(c.addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// AuthMethod is how sshd authenticated this client: goprov offers public
// keys only (an sshd change that disables them would lock it out).
func (c *Client) AuthMethod() string { return "publickey" }
