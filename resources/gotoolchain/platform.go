package gotoolchain

import (
	"fmt"
	"regexp"
	"strconv"
)

// Platform is a host's GOOS/GOARCH (from its facts).
type Platform struct{ OS, Arch string }

var goNameRe = regexp.MustCompile(`^[a-z0-9]+$`)

// PlatformOf maps host facts to Go's names. Facts already use Go's arch
// names except for 32-bit ARM, which they call by its archive name.
func PlatformOf(os, arch string) (Platform, error) {
	if arch == "armv6l" {
		arch = "arm"
	}
	if !goNameRe.MatchString(os) || !goNameRe.MatchString(arch) {
		return Platform{}, fmt.Errorf("host platform %q/%q is not one Go is released for", os, arch)
	}
	return Platform{OS: os, Arch: arch}, nil
}

// String is "linux/amd64", as `go version` prints it.
func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Key is "linux-amd64": the module-version suffix and the sha256 map key.
func (p Platform) Key() string { return p.OS + "-" + p.Arch }

// ArchiveKey is the platform in official archive names (linux-armv6l).
func (p Platform) ArchiveKey() string {
	if p.Arch == "arm" {
		return p.OS + "-armv6l"
	}
	return p.Key()
}

// ModuleVersion is the golang.org/toolchain version of a release.
func ModuleVersion(goVersion string, p Platform) string {
	return "v0.0.1-" + goVersion + "." + p.Key()
}

// ArchiveName is the official archive's file name.
func ArchiveName(goVersion string, p Platform) string {
	return goVersion + "." + p.ArchiveKey() + ".tar.gz"
}

// version is a parsed release for ordering: 1.22.5 > 1.22rc1 > 1.22beta1.
type version struct {
	minor, patch, pre int // pre: 0 release, -1 rc, -2 beta (with number)
	preN              int
}

var verPartsRe = regexp.MustCompile(`^1\.([0-9]+)(?:\.([0-9]+))?(?:(rc|beta)([0-9]+))?$`)

func parseVersion(s string) (version, bool) {
	m := verPartsRe.FindStringSubmatch(s)
	if m == nil {
		return version{}, false
	}
	var v version
	v.minor, _ = strconv.Atoi(m[1])
	if m[2] != "" {
		v.patch, _ = strconv.Atoi(m[2])
	}
	switch m[3] {
	case "rc":
		v.pre = -1
	case "beta":
		v.pre = -2
	}
	if m[4] != "" {
		v.preN, _ = strconv.Atoi(m[4])
	}
	return v, true
}

// less orders versions ascending; unparsable ones sort first.
func lessVersion(a, b string) bool {
	va, oka := parseVersion(a)
	vb, okb := parseVersion(b)
	if !oka || !okb {
		if oka != okb {
			return !oka
		}
		return a < b
	}
	switch {
	case va.minor != vb.minor:
		return va.minor < vb.minor
	case va.patch != vb.patch:
		return va.patch < vb.patch
	case va.pre != vb.pre:
		return va.pre < vb.pre
	}
	return va.preN < vb.preN
}
