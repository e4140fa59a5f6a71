package blobrepo

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidPath reports whether p may name an object in a store, with an error
// wrapping ErrInvalidPath that says why not. The rules (see the package
// documentation) make a path mean the same file on every store and keep it
// inside the repository root.
func ValidPath(p string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidPath, p, why) }
	switch {
	case p == "":
		return bad("empty")
	case len(p) > maxKey:
		return bad(fmt.Sprintf("longer than %d bytes", maxKey))
	case !utf8.ValidString(p):
		return bad("not UTF-8")
	case strings.HasPrefix(p, "/"):
		return bad("starts with /")
	case strings.HasSuffix(p, "/"):
		return bad("ends with /")
	case strings.Contains(p, "__0x"):
		return bad(`contains "__0x", the object store escape marker`)
	}
	if i := strings.IndexAny(p, "\\:%?#\""); i >= 0 {
		return bad(fmt.Sprintf("contains %q", p[i]))
	}
	for _, c := range p {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
			return bad(fmt.Sprintf("contains control or format character %U", c))
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch {
		case seg == "":
			return bad("empty segment")
		case seg == "." || seg == "..":
			return bad(fmt.Sprintf("%q segment", seg))
		case strings.HasPrefix(seg, "."):
			return bad(fmt.Sprintf("segment %q starts with a dot", seg))
		case len(seg) > maxSegment:
			return bad(fmt.Sprintf("segment longer than %d bytes", maxSegment))
		}
	}
	return nil
}
