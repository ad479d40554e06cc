// Package shard splits a run's hosts into N stable slices, so that N jobs
// (a CI matrix, a Kubernetes Indexed Job, a Nomad batch job) can each plan
// or apply one slice: `-shard K/N`.
//
// A host's slice depends only on its name and N (rendezvous hashing): it
// never moves when other hosts are added or removed, and going from N to
// N+1 slices moves only the hosts that land in the new slice. For slice
// i in 1..N the score of a host is the first 8 bytes (big-endian) of
// SHA-256("goprov-shard\x00" + decimal(i) + "\x00" + name); the host
// belongs to the slice with the highest score (the lowest i on a tie).
package shard

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// MaxN bounds N: scoring is O(N) per host.
const MaxN = 100000

// Spec is slice K (1-based) of N.
type Spec struct{ K, N int }

func (s Spec) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// Parse reads "K/N".
func Parse(v string) (Spec, error) {
	ks, ns, ok := strings.Cut(v, "/")
	k, kerr := atoi(ks)
	n, nerr := atoi(ns)
	if !ok || kerr != nil || nerr != nil {
		return Spec{}, fmt.Errorf("-shard %q: want K/N, e.g. 2/8 for the second of 8 slices", v)
	}
	switch {
	case n < 1:
		return Spec{}, fmt.Errorf("-shard %q: N is at least 1", v)
	case n > MaxN:
		return Spec{}, fmt.Errorf("-shard %q: N is at most %d", v, MaxN)
	case k < 1 || k > n:
		return Spec{}, fmt.Errorf("-shard %q: K is between 1 and %d", v, n)
	}
	return Spec{K: k, N: n}, nil
}

// atoi accepts plain decimal digits only (no sign, no spaces).
func atoi(s string) (int, error) {
	if s == "" || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return strconv.Atoi(s)
}

// Of is the slice (1..n) that name belongs to.
func Of(name string, n int) int {
	best, bestScore := 1, uint64(0)
	for i := 1; i <= n; i++ {
		sum := sha256.Sum256([]byte("goprov-shard\x00" + strconv.Itoa(i) + "\x00" + name))
		if score := binary.BigEndian.Uint64(sum[:8]); i == 1 || score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// Has reports whether name is in the slice.
func (s Spec) Has(name string) bool { return Of(name, s.N) == s.K }

// Filter keeps the names in the slice, in their order.
func (s Spec) Filter(names []string) []string {
	var out []string
	for _, n := range names {
		if s.Has(n) {
			out = append(out, n)
		}
	}
	return out
}
