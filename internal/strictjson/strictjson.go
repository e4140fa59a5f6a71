// Package strictjson refuses JSON that two parsers could read differently,
// or that has no canonical form, before any metadata document is decoded.
//
// Every signed document of safeupdate (release.json, roots, channels) is
// checked here first: signatures cover the canonical JSON of the decoded
// value, so any ambiguity in decoding (duplicate keys, floats, invalid
// UTF-8, lone surrogate escapes) would let two readers see different
// documents under one signature.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/safeupdate/safeupdate/internal/limits"
)

// canonicalInt is the only number form canonical JSON allows.
var canonicalInt = regexp.MustCompile(`^(0|-?[1-9][0-9]{0,17})$`)

// jsonFrame is one open object or array while checking a document.
type jsonFrame struct {
	object    bool
	keys      map[string]bool
	expectKey bool
	key       string // member being read, in an object
	index     int    // element being read, in an array
}

// jsonPath names the value being read, such as signed.roles.root.keyids[0].
func jsonPath(stack []*jsonFrame) string {
	var b strings.Builder
	for _, f := range stack {
		if f.object {
			b.WriteString("." + f.key)
		} else {
			fmt.Fprintf(&b, "[%d]", f.index)
		}
	}
	if b.Len() == 0 {
		return "the top level"
	}
	return strings.TrimPrefix(b.String(), ".")
}

// Check refuses JSON that two parsers could read differently, that has
// no canonical form, or that holds null (no member of our formats is
// optional, and go-tuf v2.4.2 dereferences some nulls): invalid UTF-8,
// \u escapes of lone UTF-16 surrogates, duplicate object keys, numbers
// that are not plain integers, null, nesting deeper than limits.JSONDepth,
// and anything after the top-level value. It must run before the document
// is decoded.
func Check(data []byte) error { return check(data, false) }

// CheckAllowNull is Check for formats where null may appear in members
// that this version does not interpret (release.json's unknown members).
func CheckAllowNull(data []byte) error { return check(data, true) }

func check(data []byte, allowNull bool) error {
	if !utf8.Valid(data) {
		return errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*jsonFrame
	done := false
	// valueDone records that a complete value was read at the current level.
	valueDone := func() {
		if len(stack) == 0 {
			done = true
			return
		}
		if top := stack[len(stack)-1]; top.object {
			top.expectKey = true
		} else {
			top.index++
		}
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if done {
			return errors.New("data after the JSON value")
		}
		// The raw bytes of the token, after any separator before it.
		raw := data[start:dec.InputOffset()]
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
			top := stack[n-1]
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			key, ok := tok.(string)
			if !ok {
				return errors.New("object key is not a string")
			}
			if err := checkEscapes(raw); err != nil {
				return fmt.Errorf("member name %q in %s: %v", key, jsonPath(stack[:n-1]), err)
			}
			if top.keys[key] {
				return fmt.Errorf("duplicate key %q in %s", key, jsonPath(stack))
			}
			top.keys[key] = true
			top.key = key
			top.expectKey = false
			continue
		}
		switch t := tok.(type) {
		case nil:
			if !allowNull {
				return fmt.Errorf("null at %s", jsonPath(stack))
			}
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) >= limits.JSONDepth {
					return fmt.Errorf("nested deeper than %d", limits.JSONDepth)
				}
				stack = append(stack, &jsonFrame{object: t == '{', keys: map[string]bool{}, expectKey: t == '{'})
				continue
			case ']':
				stack = stack[:len(stack)-1]
			}
		case json.Number:
			if !canonicalInt.MatchString(string(t)) || t == "-0" {
				return fmt.Errorf("number %s at %s is not a canonical integer", t, jsonPath(stack))
			}
		case string:
			if err := checkEscapes(raw); err != nil {
				return fmt.Errorf("string at %s: %v", jsonPath(stack), err)
			}
		}
		valueDone()
	}
	if len(stack) != 0 {
		return errors.New("unexpected end of JSON")
	}
	return nil
}

// checkEscapes refuses a \u escape that is a lone UTF-16 surrogate in the
// JSON string literal in raw (after any separator): a high surrogate not
// followed at once by a \u escape of a low one, or a low one on its own.
// encoding/json decodes every lone surrogate to U+FFFD, so "\ud800" and
// "\udfff" would read, and sign, as one string where other parsers read
// two. A valid pair, such as "\ud83d\ude00", is one character and passes.
func checkEscapes(raw []byte) error {
	q := bytes.IndexByte(raw, '"')
	if q < 0 {
		return errors.New("string literal not found in the input")
	}
	lit := raw[q+1:]
	for i := 0; i < len(lit); i++ {
		switch lit[i] {
		case '"':
			return nil
		case '\\':
			r, ok := unicodeEscape(lit[i:])
			if !ok {
				i++ // a one-letter escape such as \n or \"
				continue
			}
			switch {
			case r >= 0xd800 && r < 0xdc00:
				if low, ok := unicodeEscape(lit[i+6:]); ok && low >= 0xdc00 && low < 0xe000 {
					i += 11
					continue
				}
				return fmt.Errorf("%s is a high surrogate escape without a low one after it; JSON parsers disagree on what it means", lit[i:i+6])
			case r >= 0xdc00 && r < 0xe000:
				return fmt.Errorf("%s is a low surrogate escape without a high one before it; JSON parsers disagree on what it means", lit[i:i+6])
			}
			i += 5
		}
	}
	return errors.New("unterminated string literal")
}

// unicodeEscape decodes the \uXXXX escape at the start of b.
func unicodeEscape(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[2:6]), 16, 16)
	return rune(n), err == nil
}

// Decode decodes checked JSON into maps, slices, strings, bools and
// json.Number, the form cjson.EncodeCanonical takes.
func Decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
