package repotool

import (
	"io"

	"github.com/safeupdate/safeupdate/internal/progress"
)

// progressMin is the smallest transfer that shows progress: shorter ones
// are over before a bar would help.
const progressMin = 4 << 20

// newProgress returns a bar for a transfer of total bytes to w, or nil
// (which reports nothing) when w is nil or the transfer is small. The
// label may hold names read from a repository: package progress prints it
// with anything but printable characters replaced.
func newProgress(w io.Writer, label string, total int64) *progress.Bar {
	if w == nil || total < progressMin {
		return nil
	}
	return progress.New(w, label, total)
}
