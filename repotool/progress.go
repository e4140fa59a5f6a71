package repotool

import (
	"io"
	"strings"
	"unicode"

	"github.com/safeupdate/safeupdate/internal/progress"
)

// progressMin is the smallest transfer that shows progress: shorter ones
// are over before a bar would help.
const progressMin = 4 << 20

// newProgress returns a bar for a transfer of total bytes to w, or nil
// (which reports nothing) when w is nil or the transfer is small. The
// label may hold names read from a repository, so anything but printable
// characters is replaced: a hostile name cannot send escape sequences to
// the publisher's terminal.
func newProgress(w io.Writer, label string, total int64) *progress.Bar {
	if w == nil || total < progressMin {
		return nil
	}
	label = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, label)
	return progress.New(w, label, total)
}
