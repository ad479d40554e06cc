package testinfra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// maxLabID bounds lab ids: subnets 10.200.0.0/24 … 10.249.249.0/24.
const maxLabID = 250 * 50

// subnetFor maps a lab id to its /24 prefix ("10.A.B").
func subnetFor(id int) string {
	return fmt.Sprintf("10.%d.%d", 200+(id-1)/250, (id-1)%250)
}

// allocate reserves a free lab id (bridge name, subnet) and creates the lab
// dir with its owner lock, all under one machine-wide flock so concurrent
// test processes never pick the same names.
func allocate(ctx context.Context, name string) (id int, dir string, owner *os.File, err error) {
	lock, err := lockFile(ctx, filepath.Join(RunRoot, "alloc.lock"))
	if err != nil {
		return 0, "", nil, err
	}
	defer lock.Close()

	used := map[int]bool{}
	ents, _ := os.ReadDir(RunRoot)
	for _, e := range ents {
		if s, err := loadState(filepath.Join(RunRoot, e.Name())); err == nil {
			used[s.ID] = true
		}
	}
	links := map[string]bool{}
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			links[i.Name] = true
		}
	}
	taken, err := usedPrefixes(ctx)
	if err != nil {
		return 0, "", nil, err
	}
	for cand := 1; cand <= maxLabID; cand++ {
		if used[cand] || links[fmt.Sprintf("gpl%d", cand)] {
			continue
		}
		_, cidr, _ := net.ParseCIDR(subnetFor(cand) + ".0/24")
		if overlaps(cidr, taken) {
			continue
		}
		n := name
		if n == "" {
			n = fmt.Sprintf("gpl%d", cand)
		}
		dir = filepath.Join(RunRoot, n)
		if err := os.Mkdir(dir, 0o700); err != nil {
			if errors.Is(err, os.ErrExist) {
				if name != "" {
					return 0, "", nil, fmt.Errorf("lab %q already exists (%s); run `goprov-lab down -name %s`", name, dir, name)
				}
				continue // a lab dir without readable state: skip its id
			}
			return 0, "", nil, fmt.Errorf("create lab dir: %w", err)
		}
		owner, err = lockFile(ctx, filepath.Join(dir, "owner.lock"))
		if err != nil {
			_ = os.RemoveAll(dir)
			return 0, "", nil, err
		}
		return cand, dir, owner, nil
	}
	return 0, "", nil, errors.New("no free lab subnet in 10.200.0.0/24-10.249.249.0/24")
}

// usedPrefixes lists the IPv4 networks already on this machine (addresses
// and routes), so a lab never shadows a real network.
func usedPrefixes(ctx context.Context) ([]*net.IPNet, error) {
	var out []*net.IPNet
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			out = append(out, n)
		}
	}
	routes, err := execOutput(ctx, "ip", "-4", "route", "show", "table", "all")
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, line := range strings.Split(routes, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "default" || dst == "broadcast" || dst == "local" || dst == "unreachable" || dst == "prohibit" || dst == "blackhole" {
			if dst == "default" || len(f) < 2 {
				continue
			}
			dst = f[1]
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		if _, n, err := net.ParseCIDR(dst); err == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

func overlaps(a *net.IPNet, list []*net.IPNet) bool {
	for _, b := range list {
		if a.Contains(b.IP) || b.Contains(a.IP) {
			return true
		}
	}
	return false
}

// netUp creates the bridge, and per host a network namespace and a veth pair
// (outside end on the bridge, inside end eth0 with the host's address). No
// default route and no forwarding: the hosts are offline.
func netUp(ctx context.Context, s *labState) error {
	// `ip netns add` may set up /run/netns itself; two at once can stack
	// mounts there, so namespace changes are serialised machine-wide.
	lock, err := lockFile(ctx, filepath.Join(RunRoot, "netns.lock"))
	if err != nil {
		return err
	}
	defer lock.Close()

	var b strings.Builder
	fmt.Fprintf(&b, "link add %s type bridge\n", s.Bridge)
	s.BridgeUp = true
	if err := s.save(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "addr add %s.1/24 dev %s\n", s.Subnet, s.Bridge)
	fmt.Fprintf(&b, "link set %s up\n", s.Bridge)
	for i := range s.Hosts {
		h := &s.Hosts[i]
		fmt.Fprintf(&b, "netns add %s\n", h.NetNS)
		fmt.Fprintf(&b, "link add %s type veth peer name eth0 netns %s\n", h.Veth, h.NetNS)
		fmt.Fprintf(&b, "link set %s master %s up\n", h.Veth, s.Bridge)
		h.NetNSMade = true
	}
	if err := s.save(); err != nil {
		return err
	}
	if err := runInput(ctx, b.String(), "ip", "-batch", "-"); err != nil {
		return fmt.Errorf("lab network: %w", err)
	}
	// No IPv6 chatter (router solicitations, DAD) on the lab bridge.
	_ = os.WriteFile(fmt.Sprintf("/proc/sys/net/ipv6/conf/%s/disable_ipv6", s.Bridge), []byte("1"), 0o644)
	for i := range s.Hosts {
		h := &s.Hosts[i]
		in := fmt.Sprintf("link set lo up\naddr add %s/24 dev eth0\nlink set eth0 up\n", h.Addr)
		if err := runInput(ctx, in, "ip", "-n", h.NetNS, "-batch", "-"); err != nil {
			return fmt.Errorf("%s network: %w", h.Name, err)
		}
	}
	return nil
}

// netDown removes namespaces, veths and the bridge; missing ones are fine.
func netDown(ctx context.Context, s *labState) error {
	lock, err := lockFile(ctx, filepath.Join(RunRoot, "netns.lock"))
	if err != nil {
		return err
	}
	defer lock.Close()
	// One `ip -force -batch` for everything that still exists (fast for
	// big labs), then a check that it is really gone.
	var b strings.Builder
	for i := range s.Hosts {
		h := &s.Hosts[i]
		if linkExists(h.Veth) {
			fmt.Fprintf(&b, "link del %s\n", h.Veth)
		}
		if _, err := os.Stat(filepath.Join("/run/netns", h.NetNS)); err == nil {
			fmt.Fprintf(&b, "netns del %s\n", h.NetNS)
		}
	}
	if s.Bridge != "" && linkExists(s.Bridge) {
		fmt.Fprintf(&b, "link del %s\n", s.Bridge)
	}
	var errs []error
	if b.Len() > 0 {
		if err := runInput(ctx, b.String(), "ip", "-force", "-batch", "-"); err != nil {
			errs = append(errs, err)
		}
	}
	for i := range s.Hosts {
		h := &s.Hosts[i]
		if linkExists(h.Veth) {
			errs = append(errs, fmt.Errorf("link %s still exists", h.Veth))
		}
		if _, err := os.Stat(filepath.Join("/run/netns", h.NetNS)); err == nil {
			errs = append(errs, fmt.Errorf("netns %s still exists", h.NetNS))
		}
		h.NetNSMade = false
	}
	if s.Bridge != "" && linkExists(s.Bridge) {
		errs = append(errs, fmt.Errorf("bridge %s still exists", s.Bridge))
	}
	s.BridgeUp = false
	return errors.Join(errs...)
}

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

func execOutput(ctx context.Context, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
