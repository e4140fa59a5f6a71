// Package progress reports the progress of a long copy (an upload, a
// download, a compression) on a terminal or in a log.
//
// On a terminal the Bar redraws one line in place; anywhere else it prints
// a few plain lines, so logs of CI jobs stay short. A Bar writing to nil
// prints nothing, which lets callers keep one code path for quiet runs.
//
// # Threat model
//
// The label and the error given to Done may hold untrusted text (names
// read from a repository, errors from a server): every character that is
// not printable is replaced with '?', so neither can send escape sequences
// to the terminal. Counts are only reported, never checked: a Bar bounds
// nothing.
//
// # Compatibility
//
// The output is for people and may change between versions; do not parse
// it.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

const (
	redrawEvery   = 100 * time.Millisecond // terminal: at most ~10 redraws a second
	plainStepPct  = 10                     // plain: one line per 10% step
	plainStepSize = 64 << 20               // plain, unknown total: one line per 64 MiB
	plainStepTime = 10 * time.Second       // ... or per 10 s
	defaultWidth  = 80                     // when the terminal's width cannot be read
)

// A Bar counts bytes and reports progress to a writer. Its methods are
// safe for concurrent use, and all of them do nothing on a nil *Bar.
type Bar struct {
	w     io.Writer // nil: print nothing
	label string
	total int64 // <= 0: unknown
	tty   bool
	width func() int
	now   func() time.Time

	mu        sync.Mutex
	n         int64
	start     time.Time
	lastDraw  time.Time // terminal: last redraw; plain: last line
	lastN     int64     // plain, unknown total: count at the last line
	nextPct   int64     // plain, known total: next percent step to report
	drawnLen  int       // terminal: length of the line on screen
	done      bool
	writeFail bool // w failed once: stop writing to it
}

// New returns a Bar reporting to w the progress of label towards total
// bytes. A total <= 0 means the size is unknown. If w is nil the Bar counts
// but prints nothing. If w is an *os.File on a terminal the Bar redraws one
// line; otherwise it prints a first line now, then at most one line per 10%
// (or per 64 MiB or 10 s when the total is unknown), then a final line from
// Done. Errors writing to w are ignored: progress is never worth failing for.
func New(w io.Writer, label string, total int64) *Bar {
	tty, width := false, func() int { return defaultWidth }
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
		width = func() int {
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
				return cols
			}
			return defaultWidth
		}
	}
	return newBar(w, label, total, tty, width, time.Now)
}

func newBar(w io.Writer, label string, total int64, tty bool, width func() int, now func() time.Time) *Bar {
	b := &Bar{w: w, label: printable(label), total: total, tty: tty, width: width, now: now, nextPct: plainStepPct}
	b.start = now()
	b.lastDraw = b.start
	if w == nil {
		return b
	}
	if tty {
		b.redraw(b.start)
	} else {
		b.print(b.label + ": " + startText(total))
	}
	return b
}

// Add records n more bytes and updates the display if it is due.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += n
	if b.w == nil || b.done {
		return
	}
	now := b.now()
	if b.tty {
		if now.Sub(b.lastDraw) >= redrawEvery {
			b.redraw(now)
		}
		return
	}
	if b.total > 0 {
		pct := b.n * 100 / b.total
		if pct < b.nextPct || pct >= 100 {
			return // 100% is Done's line
		}
		b.nextPct = pct - pct%plainStepPct + plainStepPct
	} else if b.n-b.lastN < plainStepSize && now.Sub(b.lastDraw) < plainStepTime || b.n == b.lastN {
		return
	}
	b.lastN, b.lastDraw = b.n, now
	b.print(b.label + ": " + plainText(b.n, b.total, now.Sub(b.start)))
}

// Reader returns a reader that reads from r and adds to b the bytes read.
func (b *Bar) Reader(r io.Reader) io.Reader {
	if b == nil {
		return r
	}
	return &countingReader{r: r, b: b}
}

// Writer returns a writer that writes to w and adds to b the bytes
// written.
func (b *Bar) Writer(w io.Writer) io.Writer {
	if b == nil {
		return w
	}
	return &countingWriter{w: w, b: b}
}

// Done prints the final line: the size, the time taken and the rate, or
// err if it is not nil. Calls after the first do nothing.
func (b *Bar) Done(err error) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	if b.w == nil {
		return
	}
	line := b.label + ": " + doneText(b.n, b.now().Sub(b.start), err)
	if b.tty {
		b.write("\r" + pad(line, b.drawnLen) + "\n")
		return
	}
	b.print(line)
}

// redraw overwrites the terminal line. Called with b.mu held.
func (b *Bar) redraw(now time.Time) {
	b.lastDraw = now
	line := render(b.label, b.n, b.total, now.Sub(b.start), b.width())
	b.write("\r" + pad(line, b.drawnLen))
	b.drawnLen = utf8.RuneCountInString(line)
}

func (b *Bar) print(line string) { b.write(line + "\n") }

func (b *Bar) write(s string) {
	if b.writeFail {
		return
	}
	if _, err := io.WriteString(b.w, s); err != nil {
		b.writeFail = true
	}
}

// pad adds spaces to line so that it covers a previous line of prev bytes.
func pad(line string, prev int) string {
	if n := prev - utf8.RuneCountInString(line); n > 0 {
		return line + fmt.Sprintf("%*s", n, "")
	}
	return line
}

type countingReader struct {
	r io.Reader
	b *Bar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.b.Add(int64(n))
	}
	return n, err
}

type countingWriter struct {
	w io.Writer
	b *Bar
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if n > 0 {
		c.b.Add(int64(n))
	}
	return n, err
}
