package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/repotool"
)

// A refused read gets a hint that says what to check, whatever the command.
func TestHintForForbidden(t *testing.T) {
	err := fmt.Errorf("repotool: verify: %w: GET http://127.0.0.1/x: 403 Forbidden", repotool.ErrForbidden)
	for _, cmd := range []string{"verify", "mirror", "rotate"} {
		if h := hintFor(cmd, err); !strings.Contains(h, "refused to serve") {
			t.Errorf("hint for %s: %q, want one about the refusal", cmd, h)
		}
	}
}
