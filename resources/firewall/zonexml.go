package firewall

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Reading firewalld's permanent zones from their XML files, on the
// controller, instead of starting firewall-offline-cmd (a Python program,
// ~0.3 s of host CPU) on every read. The result must be exactly what
// `firewall-offline-cmd --list-all-zones` reports for the fields goprov
// uses (target, interfaces, sources, services, ports, rich rules), so this
// mirrors firewalld's own reader (firewall/core/io/zone.py and policy.py,
// common_startElement) and its rich rule printer (firewall/core/rich.py).
// The probe sends the files here only when every element in them is one
// this reader knows and every port is numeric (zoneXMLTags, probeScript);
// anything else still goes through firewall-offline-cmd.

// zoneXMLTags are the elements handled exactly below. nflog, mark and
// tcp-mss-clamp (and anything unknown) send the probe to the offline tool.
var zoneXMLTags = []string{
	"zone", "short", "description", "service", "port", "protocol", "source-port",
	"icmp-block", "icmp-type", "icmp-block-inversion", "masquerade", "forward-port",
	"forward", "interface", "source", "destination", "rule", "log", "audit", "limit",
	"accept", "reject", "drop",
}

// zoneFile is one zone file as the probe sends it.
type zoneFile struct {
	Name    string // file name, "public.xml"
	Content []byte
}

// zonesFromFiles reads the zone files, /usr/lib's first, then /etc's, so
// a zone in /etc replaces the built-in one of the same name.
func zonesFromFiles(files []zoneFile) (map[string]*Zone, error) {
	zones := map[string]*Zone{}
	for _, f := range files {
		name, ok := strings.CutSuffix(f.Name, ".xml")
		if !ok || name == "" {
			return nil, fmt.Errorf("firewalld zone files: %q is not a zone file", f.Name)
		}
		z, err := parseZoneXML(name, f.Content)
		if err != nil {
			return nil, fmt.Errorf("firewalld zone file %s: %w", f.Name, err)
		}
		zones[name] = z
	}
	return zones, nil
}

// xmlRule is a rich rule being read: each part already printed as
// rich.py's __str__ methods print it, plus what Rich_Rule.check() needs.
type xmlRule struct {
	family       string
	priority     int
	source, dest string
	srcAddr      bool // source by address (needs a family)
	srcConflict  bool // address with mac or ipset, or mac with ipset
	element      string
	elemKind     string // the element's tag
	elemBad      bool   // a port or protocol firewalld refuses
	log, audit   string
	action       string
	actionKind   string
	rejectType   string
	limitFor     *string // the part a <limit> child appends to
	bad          bool
}

func (r *xmlRule) String() string {
	parts := []string{"rule"}
	if r.priority != 0 {
		parts = append(parts, fmt.Sprintf(`priority="%d"`, r.priority))
	}
	if r.family != "" {
		parts = append(parts, fmt.Sprintf(`family="%s"`, r.family))
	}
	for _, s := range []string{r.source, r.dest, r.element, r.log, r.audit, r.action} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

// valid is Rich_Rule.check() but for address syntax: firewalld drops a
// rule that fails it (with a warning), so it must not be listed either.
func (r *xmlRule) valid() bool {
	switch {
	case r.bad, r.elemBad, r.srcConflict:
		return false
	case r.family == "" && (r.srcAddr || r.dest != "" || r.elemKind == "forward-port"):
		return false
	case r.priority < -32768 || r.priority > 32767:
		return false
	}
	if r.element == "" && (r.log == "" || r.priority == 0) {
		if r.action == "" || (r.source == "" && r.dest == "" && r.priority == 0) {
			return false
		}
	}
	switch r.elemKind {
	case "icmp-block", "forward-port", "masquerade":
		if r.action != "" {
			return false // firewalld: "<element> and action"
		}
	default:
		if r.log == "" && r.audit == "" && r.action == "" {
			return false
		}
	}
	if r.elemKind == "masquerade" && strings.Contains(r.source, " mac=") {
		return false
	}
	if r.audit != "" && r.actionKind == "" {
		return false
	}
	if r.rejectType != "" && !rejectTypeOK(r.family, r.rejectType) {
		return false
	}
	return true
}

// rejectTypeOK is firewalld's REJECT_TYPES check (core/base.py).
func rejectTypeOK(family, t string) bool {
	types := map[string]string{
		"ipv4": " icmp-host-prohibited host-prohib icmp-net-unreachable net-unreach icmp-host-unreachable host-unreach icmp-port-unreachable port-unreach icmp-proto-unreachable proto-unreach icmp-net-prohibited net-prohib tcp-reset tcp-rst icmp-admin-prohibited admin-prohib ",
		"ipv6": " icmp6-adm-prohibited adm-prohibited icmp6-no-route no-route icmp6-addr-unreachable addr-unreach icmp6-port-unreachable port-unreach tcp-reset ",
	}[family]
	return types != "" && strings.Contains(types, " "+t+" ")
}

// parseZoneXML reads one zone file the way firewalld's zone reader does.
func parseZoneXML(name string, content []byte) (*Zone, error) {
	z := &Zone{Name: name, Target: "default"}
	d := xml.NewDecoder(bytes.NewReader(content))
	var rule *xmlRule
	seenRules := map[string]bool{}
	var prio []int // of each rich rule, for the sort
	var ports []numRange
	var portProtos []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			a := attrs(t)
			if rule != nil && rule.bad {
				continue
			}
			if rule != nil {
				ruleElement(rule, t.Name.Local, a)
				continue
			}
			switch t.Name.Local {
			case "zone":
				if tg, ok := a["target"]; ok && tg != "" && tg != "default" {
					z.Target = tg
				}
			case "rule":
				rule = &xmlRule{family: a["family"]}
				if f := rule.family; f != "" && f != "ipv4" && f != "ipv6" {
					rule.bad = true
				}
				if p, ok := a["priority"]; ok {
					// firewalld's int() fails the whole zone on a bad number.
					if rule.priority, err = strconv.Atoi(strings.TrimSpace(p)); err != nil {
						return nil, fmt.Errorf("rule priority %q", p)
					}
				}
			case "service":
				z.Services = appendNew(z.Services, a["name"])
			case "interface":
				z.Interfaces = appendNew(z.Interfaces, a["name"])
			case "source":
				zoneSource(z, a)
			case "port":
				pr, err := parsePortRange(a["port"])
				if err != nil {
					return nil, err
				}
				ports, portProtos = coalescePort(ports, portProtos, pr, a["protocol"])
			}
		case xml.EndElement:
			switch {
			case rule != nil && t.Name.Local == "rule":
				if s := rule.String(); rule.valid() && !seenRules[s] {
					seenRules[s] = true
					z.RichRules = append(z.RichRules, s)
					prio = append(prio, rule.priority)
				}
				rule = nil
			case rule != nil && isAction(t.Name.Local):
				rule.limitFor = nil
			}
		}
	}
	for i, p := range ports {
		z.Ports = append(z.Ports, p.String()+"/"+portProtos[i])
	}
	// The order --list-all-zones prints (firewall/command.py): services
	// and interfaces sorted, rich rules stable-sorted by priority.
	sort.Strings(z.Services)
	sort.Strings(z.Interfaces)
	if len(z.RichRules) < 2 {
		return z, nil
	}
	idx := make([]int, len(z.RichRules))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return prio[idx[i]] < prio[idx[j]] })
	rules := make([]string, len(idx))
	for i, k := range idx {
		rules[i] = z.RichRules[k]
	}
	z.RichRules = rules
	return z, nil
}

func attrs(t xml.StartElement) map[string]string {
	m := map[string]string{}
	for _, a := range t.Attr {
		m[a.Name.Local] = a.Value
	}
	return m
}

func appendNew(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// zoneSource binds a zone to a source address or ipset, as firewalld
// does: invert, neither or both of address and ipset make it ignored.
func zoneSource(z *Zone, a map[string]string) {
	addr, hasAddr := a["address"]
	set, hasSet := a["ipset"]
	_, inv := a["invert"]
	if hasAddr == hasSet || inv {
		return
	}
	if hasSet {
		z.Sources = appendNew(z.Sources, "ipset:"+set)
		return
	}
	z.Sources = appendNew(z.Sources, addr)
}

func isAction(name string) bool {
	switch name {
	case "accept", "reject", "drop", "log", "audit":
		return true
	}
	return false
}

func invertWord(a map[string]string) string {
	if v, ok := a["invert"]; ok && (strings.EqualFold(v, "yes") || strings.EqualFold(v, "true")) {
		return " NOT"
	}
	return ""
}

// ruleElement reads an element inside a <rule>, printing each part as
// rich.py's __str__ methods do.
func ruleElement(r *xmlRule, name string, a map[string]string) {
	if name == "source" || name == "destination" {
		ruleAddr(r, name, a)
		return
	}
	if isAction(name) {
		ruleAction(r, name, a)
		return
	}
	if name == "limit" {
		if r.limitFor == nil || strings.Contains(*r.limitFor, " limit value=") || !limitOK(limitValue(a["value"])) {
			r.bad = true
			return
		}
		*r.limitFor += fmt.Sprintf(` limit value="%s"`, limitValue(a["value"]))
		return
	}
	var s string
	switch name {
	case "service":
		s = fmt.Sprintf(`service name="%s"`, a["name"])
		r.elemBad = a["name"] == ""
	case "port", "source-port":
		s = fmt.Sprintf(`%s port="%s" protocol="%s"`, name, a["port"], a["protocol"])
		r.elemBad = !portOK(a["port"]) || !richProto(a["protocol"])
	case "protocol":
		s = fmt.Sprintf(`protocol value="%s"`, a["value"])
	case "icmp-block", "icmp-type":
		s = fmt.Sprintf(`%s name="%s"`, name, a["name"])
		r.elemBad = a["name"] == ""
	case "masquerade":
		s = "masquerade"
	case "forward-port":
		s = fmt.Sprintf(`forward-port port="%s" protocol="%s"`, a["port"], a["protocol"])
		if v := a["to-port"]; v != "" {
			s += fmt.Sprintf(` to-port="%s"`, v)
		}
		if v := a["to-addr"]; v != "" {
			s += fmt.Sprintf(` to-addr="%s"`, v)
		}
		r.elemBad = !portOK(a["port"]) || !richProto(a["protocol"]) || (a["to-port"] == "" && a["to-addr"] == "") ||
			(a["to-port"] != "" && !portOK(a["to-port"]))
	default: // interface and anything else firewalld refuses in a rule
		r.bad = true
		return
	}
	if r.element != "" {
		r.bad = true
		return
	}
	r.element, r.elemKind = s, name
}

func portOK(p string) bool { _, err := parsePortRange(p); return err == nil }

func richProto(p string) bool {
	switch p {
	case "tcp", "udp", "sctp", "dccp":
		return true
	}
	return false
}

// ruleAddr reads a rule's source or destination.
func ruleAddr(r *xmlRule, name string, a map[string]string) {
	cur := &r.source
	if name == "destination" {
		cur = &r.dest
		if r.dest != "" {
			return // firewalld ignores a second destination
		}
	} else if r.source != "" {
		r.bad = true
		return
	}
	s := name + invertWord(a) + " "
	addr, mac, set := a["address"], a["mac"], a["ipset"]
	if name == "destination" {
		mac = ""
		if addr != "" && set != "" {
			r.srcConflict = true
		}
	} else {
		r.srcAddr = addr != ""
		r.srcConflict = (addr != "" && (mac != "" || set != "")) || (mac != "" && set != "")
	}
	switch {
	case addr != "":
		s += fmt.Sprintf(`address="%s"`, addr)
	case mac != "":
		s += fmt.Sprintf(`mac="%s"`, mac)
	case set != "":
		s += fmt.Sprintf(`ipset="%s"`, set)
	default:
		r.bad = true
		return
	}
	*cur = s
}

// ruleAction reads accept, reject, drop, log and audit.
func ruleAction(r *xmlRule, name string, a map[string]string) {
	switch name {
	case "log":
		if r.log != "" {
			return
		}
		s := "log"
		if p, ok := a["prefix"]; ok {
			if p == "" || len(p) > 127 {
				r.bad = true
				return
			}
			s += fmt.Sprintf(` prefix="%s"`, p)
		}
		if l, ok := a["level"]; ok {
			if !validLogLevel(l) {
				r.bad = true
				return
			}
			s += fmt.Sprintf(` level="%s"`, l)
		}
		r.log = s
		r.limitFor = &r.log
	case "audit":
		if r.audit != "" {
			r.bad = true
			return
		}
		r.audit = "audit"
		r.limitFor = &r.audit
	default: // accept, reject, drop
		if r.action != "" {
			r.bad = true
			return
		}
		r.action, r.actionKind = name, name
		if t := a["type"]; name == "reject" && t != "" {
			r.action += fmt.Sprintf(` type="%s"`, t)
			r.rejectType = t
		}
		r.limitFor = &r.action
	}
}

// limitOK is Rich_Limit.check().
func limitOK(v string) bool {
	rate, unit, ok := strings.Cut(v, "/")
	n, err := strconv.Atoi(rate)
	if !ok || strings.Contains(unit, "/") || err != nil || n < 1 {
		return false
	}
	switch unit {
	case "s", "m", "h":
		return true
	case "d":
		return n != 1
	}
	return false
}

func validLogLevel(l string) bool {
	switch l {
	case "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug":
		return true
	}
	return false
}

// limitValue shortens "1/minute" to "1/m" as Rich_Limit does.
func limitValue(v string) string {
	rate, unit, ok := strings.Cut(v, "/")
	if ok && !strings.Contains(unit, "/") {
		switch unit {
		case "second", "minute", "hour", "day":
			return rate + "/" + unit[:1]
		}
	}
	return v
}

// numRange is a numeric port or range, lo ≤ hi.
type numRange struct{ lo, hi int }

func (p numRange) String() string {
	if p.lo == p.hi {
		return strconv.Itoa(p.lo)
	}
	return fmt.Sprintf("%d-%d", p.lo, p.hi)
}

// parsePortRange reads "443", "8000-8100" or "8000:8100" (the probe sends
// only numeric ports: names would need the host's services database).
func parsePortRange(s string) (numRange, error) {
	a, b, isRange := strings.Cut(strings.Replace(s, ":", "-", 1), "-")
	lo, err := strconv.Atoi(a)
	hi := lo
	if err == nil && isRange {
		hi, err = strconv.Atoi(b)
	}
	if err != nil || lo < 0 || hi < 0 || lo > 65535 || hi > 65535 {
		return numRange{}, fmt.Errorf("port %q", s)
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return numRange{lo, hi}, nil
}

// coalescePort adds a zone port as firewalld's reader does: a range
// already covered is ignored; overlapping ranges of the same protocol are
// merged into one, appended at the end (functions.coalescePortRange).
func coalescePort(ports []numRange, protos []string, n numRange, proto string) ([]numRange, []string) {
	var same []numRange
	for i, p := range ports {
		if protos[i] == proto {
			if n.lo >= p.lo && n.hi <= p.hi {
				return ports, protos
			}
			same = append(same, p)
		}
	}
	sort.SliceStable(same, func(i, j int) bool { return same[i].lo < same[j].lo })
	removed := map[numRange]bool{}
	c := n
	for _, r := range same {
		switch {
		case c.lo <= r.lo && c.hi >= r.hi:
			removed[r] = true
		case c.lo <= r.lo && c.hi < r.hi && c.hi >= r.lo:
			removed[r] = true
			c.hi = r.hi
		case c.lo > r.lo && c.hi >= r.hi && c.lo <= r.hi:
			removed[r] = true
			c.lo = r.lo
		}
	}
	var outP []numRange
	var outProto []string
	for i, p := range ports {
		if protos[i] == proto && removed[p] {
			continue
		}
		outP = append(outP, p)
		outProto = append(outProto, protos[i])
	}
	return append(outP, c), append(outProto, proto)
}
