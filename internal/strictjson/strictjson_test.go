package strictjson_test

import (
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/internal/strictjson"
)

// TestRejectsLoneSurrogateEscape checks that a \u escape of a lone UTF-16
// surrogate is refused wherever a string can be: encoding/json reads every
// one as U+FFFD, so "\ud800" and "\udfff" would be one signed string to us
// and two to other parsers.
func TestRejectsLoneSurrogateEscape(t *testing.T) {
	cases := map[string]string{
		"lone high":                     `{"x": "\ud800"}`,
		"lone low":                      `{"x": "\udfff"}`,
		"high at the end":               `{"x": "app\udbff"}`,
		"high before a character":       `{"x": "\ud800a"}`,
		"high before another high":      `{"x": "\ud800\ud800\udc00"}`,
		"high before a non-surrogate":   `{"x": "\ud800\u0041"}`,
		"high before a one-letter esc":  `{"x": "\ud800\n"}`,
		"low before high":               `{"x": "\udc00\ud800"}`,
		"upper-case hex":                `{"x": "\uD800"}`,
		"after an escaped backslash":    `{"x": "\\\udc00"}`,
		"after a valid pair":            `{"x": "\ud83d\ude00\udc00"}`,
		"in a member name":              `{"\ud800": 1}`,
		"in a nested member name":       `{"a": [{"b": {"\udfff": 1}}]}`,
		"in an array":                   `{"a": ["ok", "\udfff"]}`,
		"in a top-level string":         `"\ud800"`,
		"second member, after a pair":   `{"a": "\ud83d\ude00", "b": "\udbff"}`,
		"value after a name with pairs": `{"\ud83d\ude00": "\udc00"}`,
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			for _, check := range []func([]byte) error{strictjson.Check, strictjson.CheckAllowNull} {
				err := check([]byte(doc))
				if err == nil {
					t.Fatalf("accepted %s", doc)
				}
				if !strings.Contains(err.Error(), "surrogate") {
					t.Errorf("the error does not say why: %v", err)
				}
			}
		})
	}
}

// TestAcceptsSurrogatePairEscape checks that a valid pair of surrogate
// escapes, one character outside the Basic Multilingual Plane, is accepted
// and decodes to that character, as are escapes that only look alike.
func TestAcceptsSurrogatePairEscape(t *testing.T) {
	for doc, want := range map[string]string{
		`"\ud83d\ude00"`:       "\U0001F600",
		`"\uD83D\uDE00"`:       "\U0001F600",
		`"a\ud800\udc00b"`:     "a\U00010000b",
		`"\udbff\udfff"`:       "\U0010FFFF",
		`"\ud83d\ude00\u00e9"`: "\U0001F600\u00e9",
		`"\ud7ff\ue000"`:       "\ud7ff\ue000",
		`"\\ud800"`:            `\ud800`,
		`"\ufffd"`:             "\ufffd",
	} {
		if err := strictjson.Check([]byte(doc)); err != nil {
			t.Errorf("%s refused: %v", doc, err)
			continue
		}
		v, err := strictjson.Decode([]byte(doc))
		if err != nil || v != want {
			t.Errorf("%s decodes to %q, %v; want %q", doc, v, err, want)
		}
	}
	obj := `{"\ud83d\ude00": ["\ud83d\ude00", {"k": "\ud83d\ude00"}]}`
	if err := strictjson.Check([]byte(obj)); err != nil {
		t.Errorf("pairs in names and nested values refused: %v", err)
	}
}
