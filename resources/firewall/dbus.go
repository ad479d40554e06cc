package firewall

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// zoneFromDBus reads a running firewalld's zone from its D-Bus answer
// (`busctl --json=short call … getZoneSettings2 s ZONE`, an a{sv}) into the
// Zone that `firewall-cmd --list-all-zones` would print: firewall-cmd
// takes the same call (client.py getZoneSettings) and prints it with
// print_zone_info (command.py): interfaces sorted and unique, services
// sorted, ports "port/proto" in order, rich rules sorted by priority
// (stable), a missing target as "default".
func zoneFromDBus(name, answer string) (*Zone, error) {
	var msg struct {
		Type string
		Data []map[string]struct {
			Type string
			Data json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(answer), &msg); err != nil {
		return nil, fmt.Errorf("firewalld zone %s over D-Bus: %w", name, err)
	}
	if msg.Type != "a{sv}" || len(msg.Data) != 1 {
		return nil, fmt.Errorf("firewalld zone %s over D-Bus: unexpected answer %.200q", name, answer)
	}
	z := &Zone{Name: name, Target: "default"}
	for key, v := range msg.Data[0] {
		var dst *[]string
		switch key {
		case "target":
			if err := json.Unmarshal(v.Data, &z.Target); err != nil || v.Type != "s" {
				return nil, fmt.Errorf("firewalld zone %s over D-Bus: target %s %s", name, v.Type, v.Data)
			}
			continue
		case "ports":
			var ports [][2]string
			if err := json.Unmarshal(v.Data, &ports); err != nil || v.Type != "a(ss)" {
				return nil, fmt.Errorf("firewalld zone %s over D-Bus: ports %s %s", name, v.Type, v.Data)
			}
			for _, p := range ports {
				z.Ports = append(z.Ports, p[0]+"/"+p[1])
			}
			continue
		case "interfaces":
			dst = &z.Interfaces
		case "sources":
			dst = &z.Sources
		case "services":
			dst = &z.Services
		case "rules_str":
			dst = &z.RichRules
		default:
			continue
		}
		if err := json.Unmarshal(v.Data, dst); err != nil || v.Type != "as" {
			return nil, fmt.Errorf("firewalld zone %s over D-Bus: %s %s %s", name, key, v.Type, v.Data)
		}
	}
	z.Interfaces = sortedUnique(z.Interfaces)
	sort.Strings(z.Services)
	sort.SliceStable(z.RichRules, func(i, j int) bool { return richPriority(z.RichRules[i]) < richPriority(z.RichRules[j]) })
	return z, nil
}

func sortedUnique(xs []string) []string {
	if len(xs) == 0 {
		return xs
	}
	sort.Strings(xs)
	out := xs[:1]
	for _, x := range xs[1:] {
		if x != out[len(out)-1] {
			out = append(out, x)
		}
	}
	return out
}

// richPriority is firewall-cmd's sort key for a rich rule
// (rich_rule_sorted_key): the number after the first "priority=", up to
// the next space, quotes removed; 0 without one.
func richPriority(rule string) int {
	_, rest, ok := strings.Cut(rule, "priority=")
	if !ok {
		return 0
	}
	v, _, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(strings.ReplaceAll(v, `"`, ""))
	if err != nil {
		return 0 // firewall-cmd itself fails on such a rule
	}
	return n
}
