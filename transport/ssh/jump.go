package ssh

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ParseJump parses an OpenSSH ProxyJump value: comma-separated hops, each
// [user@]host[:port] or ssh://[user@]host[:port], IPv6 in brackets;
// outermost first. "none" yields an empty chain. Anything that is not a
// plain name (spaces, shell metacharacters, a leading "-") is rejected: the
// value comes from files a user may not have written and must never be
// mistaken for options or code.
func ParseJump(spec string) ([]Config, error) {
	if spec == "" {
		return nil, fmt.Errorf("empty ProxyJump")
	}
	if strings.EqualFold(spec, "none") {
		return nil, nil
	}
	var chain []Config
	for _, el := range strings.Split(spec, ",") {
		c, err := parseJumpHop(el)
		if err != nil {
			return nil, fmt.Errorf("ProxyJump %q: %w", spec, err)
		}
		chain = append(chain, c)
	}
	return chain, nil
}

func parseJumpHop(el string) (Config, error) {
	if el == "" {
		return Config{}, fmt.Errorf("empty hop")
	}
	el = strings.TrimPrefix(el, "ssh://")
	var c Config
	rest := el
	if u, h, ok := strings.Cut(el, "@"); ok {
		if !validUser(u) {
			return Config{}, fmt.Errorf("hop %q: invalid user", el)
		}
		c.User, rest = u, h
	}
	host, port, hasPort := rest, "", false
	switch {
	case strings.HasPrefix(rest, "["):
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return Config{}, fmt.Errorf("hop %q: unclosed [", el)
		}
		host = rest[1:end]
		after := rest[end+1:]
		if after != "" {
			if !strings.HasPrefix(after, ":") {
				return Config{}, fmt.Errorf("hop %q: junk after ]", el)
			}
			port, hasPort = after[1:], true
		}
		if net.ParseIP(strings.SplitN(host, "%", 2)[0]) == nil {
			return Config{}, fmt.Errorf("hop %q: %q in brackets is not an IPv6 address", el, host)
		}
	case strings.Count(rest, ":") > 1:
		// A bare IPv6 address (no port possible without brackets).
		if net.ParseIP(rest) == nil {
			return Config{}, fmt.Errorf("hop %q: invalid address", el)
		}
	default:
		host, port, hasPort = strings.Cut(rest, ":")
		if !validHostName(host) {
			return Config{}, fmt.Errorf("hop %q: invalid host name", el)
		}
	}
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strings.HasPrefix(port, "+") {
			return Config{}, fmt.Errorf("hop %q: invalid port %q", el, port)
		}
		c.Port = n
	}
	c.Address = host
	c.Name = host
	return c, nil
}

// validUser accepts the POSIX portable user name set (plus a trailing $ that
// Samba machine accounts use is deliberately not allowed).
func validUser(u string) bool {
	if u == "" || u[0] == '-' {
		return false
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// validHostName accepts DNS names, IPv4 addresses and ssh_config aliases
// made of letters, digits, '.', '-' and '_'.
func validHostName(h string) bool {
	if h == "" || h[0] == '-' || h[0] == '.' {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
