package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// printer writes the demo's narration. The demo, the programs it runs and
// the repository server all print through it, each line whole, so that
// lines never interleave.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

// indent is where everything inside a step starts.
const indent = "      "

func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// act announces an act: a part of the story with its own setting.
func (p *printer) act(n int, title string) { p.line("\nAct %d: %s\n", n, title) }

// step announces a step, numbered within its act.
func (p *printer) step(n int, title string) { p.line("[%d] %s", n, title) }

// say explains something inside a step.
func (p *printer) say(format string, args ...any) { p.line(indent+format, args...) }

// ok reports an expectation that was checked and held.
func (p *printer) ok(format string, args ...any) { p.line(indent+"ok: "+format, args...) }

// lines returns a writer that prints each complete line it is given with
// prefix, and keeps a copy of everything. Close flushes a last, unfinished
// line.
func (p *printer) lines(prefix string) *lineWriter {
	return &lineWriter{p: p, prefix: prefix}
}

type lineWriter struct {
	p       *printer
	prefix  string
	mu      sync.Mutex
	pending []byte
	all     bytes.Buffer
}

func (lw *lineWriter) Write(b []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.all.Write(b)
	lw.pending = append(lw.pending, b...)
	for {
		i := bytes.IndexByte(lw.pending, '\n')
		if i < 0 {
			return len(b), nil
		}
		lw.p.line("%s%s", lw.prefix, lw.pending[:i])
		lw.pending = lw.pending[i+1:]
	}
}

func (lw *lineWriter) Close() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if len(lw.pending) > 0 {
		lw.p.line("%s%s", lw.prefix, lw.pending)
		lw.pending = nil
	}
	return nil
}

// String returns everything written so far.
func (lw *lineWriter) String() string {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.all.String()
}

// requestLog receives the repository server's request log, one line per
// request (time, client, method, path, status, bytes, duration), and
// remembers each request.
type requestLog struct {
	p     *printer
	mu    sync.Mutex
	buf   []byte
	lines []string // "GET /2.0.0/linux/amd64/release.json 200 562"
	shown int      // how many of lines show has printed
}

func (l *requestLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		if f := strings.Fields(line); len(f) == 7 {
			line = strings.Join(f[2:6], " ")
		}
		l.lines = append(l.lines, line)
	}
}

func (l *requestLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// show prints the requests logged since it was last called. The server logs
// a request just after answering it, so show first waits for the log to be
// quiet for a moment.
func (l *requestLog) show() {
	for n := -1; n != l.count(); {
		n = l.count()
		time.Sleep(50 * time.Millisecond)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines[l.shown:] {
		if f := strings.Fields(line); len(f) == 4 {
			line = fmt.Sprintf("%s %s -> %s, %s bytes", f[0], f[1], f[2], f[3])
		}
		l.p.line(indent+"server log: %s", line)
	}
	l.shown = len(l.lines)
}

// since waits as show does and returns the requests logged after the
// first n, one a line, without printing them.
func (l *requestLog) since(n int) string {
	for m := -1; m != l.count(); {
		m = l.count()
		time.Sleep(10 * time.Millisecond)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[n:], "\n")
}

// skip marks every request logged so far as shown, without printing them.
func (l *requestLog) skip() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.shown = len(l.lines)
}

// requested reports whether the server was asked for path.
func (l *requestLog) requested(path string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if f := strings.Fields(line); len(f) == 4 && f[1] == path {
			return true
		}
	}
	return false
}
