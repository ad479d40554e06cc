package shard

import (
	"fmt"
	"strings"
	"testing"
)

func names(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("web%03d", i))
	}
	return out
}

func TestParse(t *testing.T) {
	cases := []struct {
		in      string
		want    Spec
		wantErr string
	}{
		{"1/1", Spec{1, 1}, ""},
		{"3/8", Spec{3, 8}, ""},
		{"8/8", Spec{8, 8}, ""},
		{"0/8", Spec{}, "between 1 and 8"},
		{"9/8", Spec{}, "between 1 and 8"},
		{"1/0", Spec{}, "N is at least 1"},
		{"2", Spec{}, "K/N"},
		{"a/b", Spec{}, "K/N"},
		{"+1/2", Spec{}, "K/N"},
		{"1/2/3", Spec{}, "K/N"},
		{"1/100001", Spec{}, "at most"},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Parse(%q) = %v, %v; want error with %q", c.in, got, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// Every host lands in exactly one slice, and slices are of similar size.
func TestSlicesPartition(t *testing.T) {
	all := names(200)
	for _, n := range []int{1, 2, 3, 8} {
		seen := map[string]int{}
		for k := 1; k <= n; k++ {
			got := Spec{K: k, N: n}.Filter(all)
			// 200/n ± 50%: a fixed hash of fixed names, not a random draw.
			if lo, hi := 200/n/2, 200/n*3/2+1; len(got) < lo || len(got) > hi {
				t.Errorf("N=%d slice %d has %d hosts, want %d..%d", n, k, len(got), lo, hi)
			}
			for _, h := range got {
				seen[h]++
			}
		}
		for _, h := range all {
			if seen[h] != 1 {
				t.Errorf("N=%d: %s is in %d slices", n, h, seen[h])
			}
		}
	}
}

// A host's slice depends on its name and N alone: adding or removing other
// hosts never moves it; going from N to N+1 slices moves only the hosts
// that land in the new slice.
func TestSlicesStable(t *testing.T) {
	all := names(200)
	for _, h := range all {
		if Of(h, 5) != Of(h, 5) {
			t.Fatal("not deterministic")
		}
	}
	few := Spec{K: 2, N: 5}.Filter(all[:37])
	many := map[string]bool{}
	for _, h := range (Spec{K: 2, N: 5}).Filter(all) {
		many[h] = true
	}
	for _, h := range few {
		if !many[h] {
			t.Errorf("%s left slice 2/5 when other hosts were added", h)
		}
	}
	for _, h := range all {
		if a, b := Of(h, 5), Of(h, 6); a != b && b != 6 {
			t.Errorf("%s moved from slice %d/5 to %d/6, not to the new slice", h, a, b)
		}
	}
	// Pinned (computed apart, with Python's hashlib, from the documented
	// function), so that old and new goprov agree.
	for _, c := range []struct {
		name    string
		n, want int
	}{{"web1", 4, 1}, {"web1", 7, 6}, {"db2", 7, 6}} {
		if got := Of(c.name, c.n); got != c.want {
			t.Errorf("Of(%s, %d) = %d, want %d (the hash changed: every user's slices would move)", c.name, c.n, got, c.want)
		}
	}
}
