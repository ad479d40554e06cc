package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
)

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type metric struct {
	name   string
	unit   string
	digits int
	get    func(Sample) float64
}

var metrics = []metric{
	{"wall time", "s", 2, func(s Sample) float64 { return secs(s.WallNS) }},
	{"controller CPU (user+sys)", "s", 2, func(s Sample) float64 { return secs(s.UserNS + s.SysNS) }},
	{"host CPU / host (all hosts share the same 2 cores)", "s", 2, func(s Sample) float64 { return s.HostCPUPerHost }},
	{"peak RSS, largest process", "MiB", 1, func(s Sample) float64 { return mb(s.MaxRSSKB) }},
	{"peak PSS, whole process tree", "MiB", 1, func(s Sample) float64 { return mb(s.PeakPSSKB) }},
	{"SSH exec requests / host", "", 1, func(s Sample) float64 { return s.ExecPerHost }},
	{"SFTP sessions / host", "", 1, func(s Sample) float64 { return s.SFTPPerHost }},
	{"SSH logins / host", "", 1, func(s Sample) float64 { return s.LoginsPerHost }},
	{"machine load (1-min avg) at start", "", 1, func(s Sample) float64 { return s.Load1 }},
}

// med is the median of one metric of one tool in one scenario.
func med(res *Result, tool, sc string, m metric) (float64, int) {
	var v []float64
	for _, s := range res.Samples {
		if s.Tool == tool && s.Scenario == sc {
			v = append(v, m.get(s))
		}
	}
	return median(v), len(v)
}

// Table renders medians per scenario and metric as a Markdown table, with
// goprov's ratio to each other tool that ran (below 1: goprov spends less).
func Table(res *Result) string {
	others := []string{toolAnsible}
	for _, t := range []string{toolMitogen, toolSSH} {
		if ranTool(res, t) {
			others = append(others, t)
		}
	}
	var b strings.Builder
	b.WriteString("| scenario | metric | goprov (median) |")
	for _, o := range others {
		fmt.Fprintf(&b, " %s (median) |", toolLabel[o])
	}
	for _, o := range others {
		fmt.Fprintf(&b, " goprov/%s |", toolShort[o])
	}
	b.WriteString("\n|---|---|---:|" + strings.Repeat("---:|", 2*len(others)) + "\n")
	for _, sc := range scenarios {
		ran := false
		for _, t := range append([]string{toolGoprov}, others...) {
			if _, n := med(res, t, sc, metrics[0]); n > 0 {
				ran = true
			}
		}
		if !ran {
			continue
		}
		for _, m := range metrics {
			g, ng := med(res, toolGoprov, sc, m)
			cell := func(v float64, n int) string {
				if n == 0 {
					return "—"
				}
				return fmt.Sprintf("%.*f", m.digits, v)
			}
			name := m.name
			if m.unit != "" {
				name += " (" + m.unit + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |", sc, name, cell(g, ng))
			var ratios []string
			for _, o := range others {
				a, na := med(res, o, sc, m)
				fmt.Fprintf(&b, " %s |", cell(a, na))
				ratio := "—"
				if m.name == "machine load (1-min avg) at start" {
					ratio = "(context)"
				} else if ng > 0 && na > 0 && a > 0 {
					ratio = fmt.Sprintf("%.3f", g/a)
					if g > 0 && g < a {
						ratio += fmt.Sprintf(" (%.1f× less)", a/g)
					}
				}
				ratios = append(ratios, ratio)
			}
			fmt.Fprintf(&b, " %s |\n", strings.Join(ratios, " | "))
		}
	}
	return b.String()
}

var (
	toolLabel = map[string]string{toolAnsible: "Ansible", toolMitogen: "Ansible+Mitogen", toolSSH: "bare ssh"}
	toolShort = map[string]string{toolAnsible: "Ansible", toolMitogen: "Mitogen", toolSSH: "ssh"}
)

func ranTool(res *Result, tool string) bool {
	for _, s := range res.Samples {
		if s.Tool == tool {
			return true
		}
	}
	return false
}

// Targets says which of the targets this run met.
func Targets(res *Result) string {
	var b strings.Builder
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	wall := metrics[0]
	for _, t := range []struct {
		sc, other string
		want      float64
	}{{scCheck, toolAnsible, 20}, {scConverge, toolAnsible, 10}, {scCheck, toolMitogen, 10}, {scConverge, toolMitogen, 5}} {
		g, ng := med(res, toolGoprov, t.sc, wall)
		a, na := med(res, t.other, t.sc, wall)
		if ng == 0 || na == 0 || g == 0 {
			continue
		}
		note := ""
		if res.N != 20 {
			note = fmt.Sprintf(" (the target is stated for N = 20; this run has N = %d)", res.N)
		}
		fmt.Fprintf(&b, "- %s: goprov %.1f× faster than %s (target ≥ %.0f×): %s%s\n", t.sc, a/g, toolLabel[t.other], t.want, verdict(a/g >= t.want), note)
	}
	if g, ng := med(res, toolGoprov, scCheck, wall); ng > 0 {
		if s, ns := med(res, toolSSH, scCheck, wall); ns > 0 && s > 0 {
			note := ""
			if res.N != 1 {
				note = fmt.Sprintf(" (the target is stated for N = 1; this run has N = %d)", res.N)
			}
			fmt.Fprintf(&b, "- no-op check: goprov's wall time is %.2f× a bare `ssh host true` (target ≤ 2×): %s%s\n", g/s, verdict(g/s <= 2), note)
		}
	}
	var maxExec int
	for _, s := range res.Samples {
		if s.Tool == toolGoprov && s.Scenario == scCheck {
			maxExec = max(maxExec, s.ExecMax)
		}
	}
	if _, n := med(res, toolGoprov, scCheck, wall); n > 0 {
		fmt.Fprintf(&b, "- reads: at most %d exec requests on any host in goprov's no-op checks (target ≤ 2): %s\n", maxExec, verdict(maxExec <= 2))
		hc, _ := med(res, toolGoprov, scCheck, metrics[2])
		fmt.Fprintf(&b, "- reads: goprov's no-op check costs each host %.0f ms of CPU (median; target ≤ 30 ms): %s\n", hc*1000, verdict(hc <= 0.030))
	}
	var peak int64
	for _, s := range res.Samples {
		if s.Tool == toolGoprov {
			peak = max(peak, s.MaxRSSKB)
		}
	}
	if peak > 0 {
		// Strictly: 1 MB = 10^6 bytes (ru_maxrss is in KiB).
		per := float64(peak) * 1024 / 1e6 / float64(res.N)
		note := ""
		if res.N != 200 {
			note = fmt.Sprintf(" (the target is stated for N = 200; this run has N = %d)", res.N)
		}
		fmt.Fprintf(&b, "- controller memory: goprov's peak RSS %.1f MiB over all scenarios = %.2f MB (10^6 bytes) per concurrent host (target ≤ 1 MB): %s%s\n",
			mb(peak), per, verdict(per <= 1), note)
	}
	return b.String()
}

// Describe says what machine and which versions measured.
func Describe(ctx context.Context, goprovBin string) string {
	var b strings.Builder
	first := func(name string, args ...string) string {
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil && len(out) == 0 {
			return "(" + err.Error() + ")"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	file := func(path, key string) string {
		data, err := os.ReadFile(path)
		if err != nil {
			return "?"
		}
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, key) {
				return strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
			}
		}
		return "?"
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	cg := "?"
	if data, err := os.ReadFile("/usr/lib/python3/dist-packages/ansible_collections/community/general/MANIFEST.json"); err == nil {
		var m struct {
			CollectionInfo struct{ Version string } `json:"collection_info"`
		}
		if json.Unmarshal(data, &m) == nil {
			cg = m.CollectionInfo.Version
		}
	}
	fmt.Fprintf(&b, "machine: %d CPUs (%s), %s RAM, Linux %s\n", runtime.NumCPU(), file("/proc/cpuinfo", "model name"), file("/proc/meminfo", "MemTotal"), strings.TrimSpace(string(kernel)))
	fmt.Fprintf(&b, "goprov:  %s (%s)\n", first(goprovBin, "version"), runtime.Version())
	fmt.Fprintf(&b, "ansible: %s, community.general %s, %s\n", first("ansible-playbook", "--version"), cg, first("python3", "--version"))
	fmt.Fprintf(&b, "mitogen: %s\n", first("dpkg-query", "-W", "-f=${Package} ${Version}", "ansible-mitogen"))
	fmt.Fprintf(&b, "ssh:     %s\n", first("ssh", "-V"))
	return b.String()
}
