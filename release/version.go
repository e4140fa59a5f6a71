package release

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/safeupdate/safeupdate/internal/limits"
)

// version is a parsed semantic version (semver.org 2.0.0); build metadata
// is kept in the string but ignored when comparing, as the spec says.
type version struct {
	major, minor, patch uint64
	pre                 []string
}

// ValidVersion reports whether v is a semantic version, with or without a
// leading "v" (1.2.3, v1.2.3-rc.1+build.5). Such a version never contains
// "/", "\", "..", white space or control characters, so it is safe as a
// path segment.
func ValidVersion(v string) error {
	_, err := parseVersion(v)
	return err
}

func parseVersion(s string) (version, error) {
	bad := func(why string) (version, error) {
		return version{}, fmt.Errorf("release: invalid version %q: %s (want a semantic version such as 1.2.3)", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if len(s) > limits.VersionLength {
		return bad(fmt.Sprintf("longer than %d characters", limits.VersionLength))
	}
	rest := strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		if err := identifiers(rest[i+1:], false); err != nil {
			return bad("build metadata: " + err.Error())
		}
		rest = rest[:i]
	}
	var v version
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		pre := rest[i+1:]
		if err := identifiers(pre, true); err != nil {
			return bad("pre-release: " + err.Error())
		}
		v.pre = strings.Split(pre, ".")
		rest = rest[:i]
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return bad("want MAJOR.MINOR.PATCH")
	}
	nums := []*uint64{&v.major, &v.minor, &v.patch}
	for i, p := range parts {
		if !numeric(p) || (len(p) > 1 && p[0] == '0') {
			return bad(fmt.Sprintf("%q is not a number without leading zeros", p))
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return bad(err.Error())
		}
		*nums[i] = n
	}
	return v, nil
}

func identifiers(s string, noLeadingZero bool) error {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return fmt.Errorf("empty identifier")
		}
		for _, c := range id {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return fmt.Errorf("character %q not allowed", c)
			}
		}
		if noLeadingZero && numeric(id) && len(id) > 1 && id[0] == '0' {
			return fmt.Errorf("%q has a leading zero", id)
		}
	}
	return nil
}

func numeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// CompareVersions returns -1, 0 or +1 as a is older than, the same as, or
// newer than b, by semantic version precedence.
func CompareVersions(a, b string) (int, error) {
	va, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	return va.compare(vb), nil
}

func (a version) compare(b version) int {
	for _, p := range [][2]uint64{{a.major, b.major}, {a.minor, b.minor}, {a.patch, b.patch}} {
		if p[0] != p[1] {
			if p[0] < p[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		if c := compareIdentifier(a.pre[i], b.pre[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(a.pre) < len(b.pre):
		return -1
	case len(a.pre) > len(b.pre):
		return 1
	}
	return 0
}

func compareIdentifier(x, y string) int {
	xn, yn := numeric(x), numeric(y)
	switch {
	case xn && yn:
		if len(x) != len(y) {
			if len(x) < len(y) {
				return -1
			}
			return 1
		}
		return strings.Compare(x, y)
	case xn:
		return -1
	case yn:
		return 1
	}
	return strings.Compare(x, y)
}
