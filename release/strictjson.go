package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"unicode/utf8"

	"github.com/safeupdate/safeupdate/internal/limits"
)

// canonicalInt is the only number form canonical JSON allows.
var canonicalInt = regexp.MustCompile(`^(0|-?[1-9][0-9]{0,17})$`)

// checkStrict refuses JSON that two parsers could read differently, or that
// has no canonical form: invalid UTF-8, duplicate object keys, numbers that
// are not plain integers, nesting deeper than limits.JSONDepth, and anything
// after the top-level value. It must run before the document is decoded.
func checkStrict(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object    bool
		keys      map[string]bool
		expectKey bool
	}
	var stack []*frame
	done := false
	// valueDone records that a complete value was read at the current level.
	valueDone := func() {
		if len(stack) == 0 {
			done = true
			return
		}
		if top := stack[len(stack)-1]; top.object {
			top.expectKey = true
		}
	}
	for {
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
			if top.keys[key] {
				return fmt.Errorf("duplicate key %q", key)
			}
			top.keys[key] = true
			top.expectKey = false
			continue
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if len(stack) >= limits.JSONDepth {
					return fmt.Errorf("nested deeper than %d", limits.JSONDepth)
				}
				stack = append(stack, &frame{object: t == '{', keys: map[string]bool{}, expectKey: t == '{'})
				continue
			case ']':
				stack = stack[:len(stack)-1]
			}
		case json.Number:
			if !canonicalInt.MatchString(string(t)) || t == "-0" {
				return fmt.Errorf("number %s is not a canonical integer", t)
			}
		}
		valueDone()
	}
	if len(stack) != 0 {
		return errors.New("unexpected end of JSON")
	}
	return nil
}
