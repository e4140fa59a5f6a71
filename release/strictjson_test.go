package release_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/release"
)

// rejectAll checks that Parse and ParseLegacyUnsafe both refuse each
// document with ErrMalformed and no result.
func rejectAll(t *testing.T, cases map[string][]byte) {
	t.Helper()
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if r, err := release.Parse(data); !errors.Is(err, release.ErrMalformed) || r != nil {
				t.Errorf("Parse = %v, %v; want ErrMalformed\n%.400s", r, err, data)
			}
			if r, err := release.ParseLegacyUnsafe(data); !errors.Is(err, release.ErrMalformed) || r != nil {
				t.Errorf("ParseLegacyUnsafe = %v, %v; want ErrMalformed\n%.400s", r, err, data)
			}
		})
	}
}

func TestRejectsDuplicateJSONKeys(t *testing.T) {
	base := string(doc())
	rejectAll(t, map[string][]byte{
		"version twice":            []byte(strings.Replace(base, "{", `{"version": "9.9.9",`, 1)),
		"binary twice, same value": []byte(strings.Replace(base, "{", `{"binary": "app.bz2",`, 1)),
		"key spelled with escapes": []byte(strings.Replace(base, "{", `{"vers\u0069on": "9.9.9",`, 1)),
		"signatures twice":         []byte(strings.Replace(base, "{", `{"signatures": [],`, 1)),
		"unknown member twice":     []byte(strings.Replace(base, "{", `{"x": 1, "y": 2, "x": 3,`, 1)),
		"inside an unknown member": doc("x", `{"a": 1, "a": 2}`),
		"deep inside an array":     doc("x", `[{"b": [{"c": 1, "c": 1}]}]`),
		"inside a signature entry": doc("signatures", `[{"keyid": "`+keyID+`", "keyid": "`+keyID+`", "sig": "00"}]`),
	})
	// The same key in two different objects is not a duplicate.
	mustParse(t, doc("x", `[{"a": 1}, {"a": 1}]`, "y", `{"a": {"a": 1}}`))
}

func TestRejectsNonCanonicalNumbers(t *testing.T) {
	cases := map[string][]byte{}
	for _, n := range []string{"1000.0", "1e3", "1E3", "1e+3", "1.5", "01000", "00", "-0", "-01", "+1", "0x10", "1_000", "12345678901234567890"} {
		cases["size "+n] = doc("size", n)
		cases["unknown member "+n] = doc("x", `[1, {"y": `+n+`}]`)
	}
	cases["NaN"] = doc("x", "NaN")
	cases["Infinity"] = doc("x", "-Infinity")
	rejectAll(t, cases)
	// Integers in canonical form are fine wherever they are.
	mustParse(t, doc("x", `[0, -1, 7, 123456789012345678, -123456789012345678]`))
}

func TestRejectsTrailingData(t *testing.T) {
	base := string(doc())
	rejectAll(t, map[string][]byte{
		"second object":   []byte(base + `{}`),
		"second release":  []byte(base + base),
		"garbage":         []byte(base + "x"),
		"closing brace":   []byte(base + "}"),
		"comma":           []byte(base + ","),
		"NUL":             []byte(base + "\x00"),
		"unclosed":        []byte(strings.TrimSuffix(base, "}\n")),
		"empty":           nil,
		"only spaces":     []byte("   "),
		"comment":         []byte("// release\n" + base),
		"byte order mark": []byte("\ufeff" + base),
		"trailing comma":  []byte(strings.Replace(base, "\n}", ",\n}", 1)),
	})
}

func TestRejectsDeepNesting(t *testing.T) {
	nest := func(depth int) string {
		return strings.Repeat("[", depth) + strings.Repeat("]", depth)
	}
	// The release object itself is one level.
	mustParse(t, doc("x", nest(limits.JSONDepth-1)))
	rejectAll(t, map[string][]byte{
		"arrays":         doc("x", nest(limits.JSONDepth)),
		"objects":        doc("x", strings.Repeat(`{"a":`, limits.JSONDepth)+"1"+strings.Repeat("}", limits.JSONDepth)),
		"very deep":      doc("x", nest(10000)),
		"unbalanced end": doc("x", nest(3)+"]"),
	})
}

func TestRejectsInvalidUTF8(t *testing.T) {
	rejectAll(t, map[string][]byte{
		"in binary":             doc("binary", "\"app\xff.bz2\""),
		"in an unknown member":  doc("x", "\"\xc3\x28\""),
		"in a member name":      doc("\xe2\x82", `1`),
		"overlong encoding":     doc("x", "\"\xc0\xaf\""),
		"surrogate as UTF-8":    doc("x", "\"\xed\xa0\x80\""),
		"truncated at the end":  append(doc(), 0xe2),
		"in the signature list": doc("signatures", "[\"\xff\"]"),
	})
}

func TestRejectsNonObjectDocument(t *testing.T) {
	rejectAll(t, map[string][]byte{
		"null":   []byte("null"),
		"array":  []byte("[]"),
		"string": []byte(`"release"`),
		"number": []byte("1"),
		"true":   []byte("true"),
	})
}

func TestRejectsOversizedRelease(t *testing.T) {
	base := doc()
	pad := limits.ReleaseJSON - len(doc("pad", `""`))
	fits := doc("pad", `"`+strings.Repeat("x", pad)+`"`)
	if len(fits) != limits.ReleaseJSON {
		t.Fatalf("test bug: %d bytes", len(fits))
	}
	if _, err := release.Parse(fits); err != nil {
		t.Fatalf("a release.json of exactly the limit refused: %v", err)
	}
	for name, data := range map[string][]byte{
		"one byte over":   doc("pad", `"`+strings.Repeat("x", pad+1)+`"`),
		"trailing spaces": append(base, bytes.Repeat([]byte(" "), limits.ReleaseJSON)...),
	} {
		if r, err := release.Parse(data); !errors.Is(err, release.ErrTooLarge) || r != nil {
			t.Errorf("%s: Parse = %v, %v; want ErrTooLarge", name, r, err)
		}
		if r, err := release.ParseLegacyUnsafe(data); !errors.Is(err, release.ErrTooLarge) || r != nil {
			t.Errorf("%s: ParseLegacyUnsafe = %v, %v; want ErrTooLarge", name, r, err)
		}
	}
}

// TestRejectsLoneSurrogateInRelease checks that a signed member cannot be
// rewritten as a lone surrogate escape: encoding/json reads "\ud800" and
// "\udfff" alike as U+FFFD, so the signature over "\ufffd" would hold for
// both while other parsers read three different strings.
func TestRejectsLoneSurrogateInRelease(t *testing.T) {
	priv := fixedKey()
	data := signedDoc(t, priv, "note", `"\ufffd"`)
	if _, err := mustParse(t, data).Verify(trusting(t, 1, priv)); err != nil {
		t.Fatalf("the signed release is refused: %v", err)
	}
	signedNote := []byte(`"note": "` + "\ufffd" + `"`)
	if !bytes.Contains(data, signedNote) {
		t.Fatalf("test bug: Marshal wrote the note otherwise:\n%s", data)
	}
	cases := map[string][]byte{}
	for _, esc := range []string{`\ud800`, `\udfff`} {
		cases["signed note as "+esc] = bytes.Replace(data, signedNote, []byte(`"note": "`+esc+`"`), 1)
	}
	cases["in binary"] = doc("binary", `"app\udc00.bz2"`)
	cases["in a signature"] = doc("signatures", `[{"keyid": "`+keyID+`", "sig": "\ud800"}]`)
	cases["in a member name"] = doc(`\udfff`, `1`)
	rejectAll(t, cases)
	mustParse(t, doc("note", `"\ud83d\ude00"`))
}
