package reader

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzContentRangeStart checks the parser of the Content-Range header a
// server sends with a resumed download, for any header: no panic; a start
// is accepted only for a header "bytes FIRST-..." whose FIRST is that
// non-negative number; and every well-formed header gives its first byte.
// (A refused header may come with a non-zero start; callers look at ok.)
func FuzzContentRangeStart(f *testing.F) {
	for _, h := range []string{"bytes 0-99/100", "bytes 100-199/*", "bytes 5-", "bytes -5-10/20", "bytes */100",
		"bytes 9223372036854775807-9223372036854775807/*", "bytes 99999999999999999999-1/2", "items 0-1/2", "bytes=0-1", ""} {
		f.Add(h, int64(0))
	}
	f.Add("", int64(12345))
	f.Fuzz(func(t *testing.T, h string, n int64) {
		start, ok := contentRangeStart(h)
		if ok {
			rest, found := strings.CutPrefix(h, "bytes ")
			first, _, dash := strings.Cut(rest, "-")
			want, err := strconv.ParseInt(first, 10, 64)
			if !found || !dash || err != nil || start != want || start < 0 {
				t.Fatalf("%q gave start %d", h, start)
			}
		}
		if n < 0 {
			return
		}
		well := "bytes " + strconv.FormatInt(n, 10) + "-" + strconv.FormatInt(n, 10) + "/*"
		if got, ok := contentRangeStart(well); !ok || got != n {
			t.Fatalf("%q gave %d, %v", well, got, ok)
		}
	})
}
