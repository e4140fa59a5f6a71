package release_test

import (
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/release"
)

func TestValidVersion(t *testing.T) {
	for _, v := range []string{
		"1.2.3", "v1.2.3", "0.0.0", "1.0.0-rc.1+build.5", "1.0.0-alpha", "1.0.0-0.3.7",
		"1.0.0-x.7.z.92", "1.0.0-x-y-z.--", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85",
		"1.0.0+21AF26D3----117B344092BD", "1.0.0+001", "18446744073709551615.0.0",
		"1.0.0-" + strings.Repeat("a", limits.VersionLength-6),
	} {
		if err := release.ValidVersion(v); err != nil {
			t.Errorf("ValidVersion(%q) = %v", v, err)
		}
	}
	for _, v := range []string{
		"", "1", "1.2", "1.2.3.4", "v", "vv1.2.3", "V1.2.3", "../1.0.0", "1.0.0/x", `1.0.0\x`,
		"1.0.0 ", " 1.0.0", "1.0.0\n", "1.0.0-rc\x00", "1.0.0\t", "1.0.0-rc.1\x7f",
		"01.0.0", "1.02.0", "1.0.00", "1.0.0-01", "1.0.0-rc.01",
		"1.0.0-", "1.0.0+", "1.0.0-rc..1", "1.0.0+b..1", "1.0.0-rc_1", "1.0.0+b+c", "1.0.0-é",
		"-1.0.0", "1.-1.0", "1.0.0..", "a.b.c", "1.0.x", "18446744073709551616.0.0",
		"1.0.0-" + strings.Repeat("a", limits.VersionLength-5),
		"1.0.0%2f", "1.0.0?x", "1.0.0#x",
	} {
		if err := release.ValidVersion(v); err == nil {
			t.Errorf("ValidVersion(%q) accepted", v)
		} else if !strings.HasPrefix(err.Error(), "release: ") {
			t.Errorf("ValidVersion(%q): error %q lacks the package prefix", v, err)
		}
	}
}

func TestCompareVersionsSemverOrder(t *testing.T) {
	// The ordering example of semver.org 2.0.0, item 11, then more.
	ordered := []string{
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.9.0", "1.10.0", "1.11.0",
		"2.0.0-1", "2.0.0-2", "2.0.0-10", "2.0.0-A", "2.0.0-a", "2.0.0", "10.0.0",
	}
	for i, a := range ordered {
		for j, b := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			got, err := release.CompareVersions(a, b)
			if err != nil || got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d", a, b, got, err, want)
			}
		}
	}
}

func TestCompareVersionsIgnoresPrefixAndBuild(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"v1.2.3", "1.2.3", 0},
		{"1.2.3", "v1.2.4", -1},
		{"1.2.3+build.1", "1.2.3+build.2", 0},
		{"1.2.3+z", "1.2.3", 0},
		{"v1.0.0-rc.1+a", "1.0.0-rc.1+b", 0},
		{"1.0.0+999", "1.0.1", -1},
		{"1.0.0-rc.1+x", "1.0.0", -1},
	} {
		got, err := release.CompareVersions(tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
}

func TestCompareVersionsRefusesInvalid(t *testing.T) {
	for _, pair := range [][2]string{{"1.0", "1.0.0"}, {"1.0.0", "../1.0.0"}, {"", ""}} {
		if got, err := release.CompareVersions(pair[0], pair[1]); err == nil {
			t.Errorf("CompareVersions(%q, %q) = %d, want an error", pair[0], pair[1], got)
		}
	}
}
