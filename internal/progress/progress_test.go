package progress

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func fixedWidth(n int) func() int { return func() int { return n } }

type step struct {
	after time.Duration // clock advance before the Add
	add   int64
}

func TestPlainLines(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name  string
		total int64
		steps []step
		err   error
		want  string
	}{{
		name:  "known total, one line per 10% step",
		total: 1000,
		steps: []step{
			{time.Second, 50},      // 5%: quiet
			{time.Second, 100},     // 15%: line
			{time.Second, 10},      // 16%: quiet, same step
			{time.Second, 300},     // 46%: one line for three steps
			{4 * time.Second, 540}, // 100%: left to Done
			{time.Second, 0},       // nothing new
		},
		want: "app: starting (1000 B)\n" +
			"app: 15% 150 B of 1000 B, 75 B/s, ETA 12s\n" +
			"app: 46% 460 B of 1000 B, 115 B/s, ETA 5.0s\n" +
			"app: done, 1000 B in 9.0s (111 B/s)\n",
	}, {
		name:  "unknown total, one line per 64 MiB or 10 s",
		total: 0,
		steps: []step{
			{time.Second, 32 * mib},  // quiet
			{time.Second, 32 * mib},  // 64 MiB since start: line
			{9 * time.Second, mib},   // 9 s since the line: quiet
			{time.Second, mib},       // 10 s: line
			{30 * time.Second, 0},    // no progress: quiet
			{time.Second, 200 * mib}, // many steps at once: one line
		},
		err: errors.New("connection reset"),
		want: "app: starting (size unknown)\n" +
			"app: 64.0 MiB, 32.0 MiB/s\n" +
			"app: 66.0 MiB, 5.5 MiB/s\n" +
			"app: 266.0 MiB, 6.2 MiB/s\n" +
			"app: failed after 266.0 MiB in 43s: connection reset\n",
	}, {
		name:  "nothing copied",
		total: 5 * mib,
		err:   errors.New("not found"),
		want:  "app: starting (5.0 MiB)\napp: failed after 0 B in 0.0s: not found\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			clock := newClock()
			b := newBar(&out, "app", tt.total, false, fixedWidth(80), clock.now)
			for _, s := range tt.steps {
				clock.advance(s.after)
				b.Add(s.add)
			}
			b.Done(tt.err)
			b.Done(nil) // a second Done prints nothing
			b.Add(1)    // nor does an Add after Done
			if got := out.String(); got != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestTerminalRedrawsAtMostTenTimesASecond(t *testing.T) {
	var out bytes.Buffer
	clock := newClock()
	b := newBar(&out, "app", 1000, true, fixedWidth(60), clock.now)
	want := "\r" + render("app", 0, 1000, 0, 60)
	for i := range 10 { // 10 Adds in 90 ms: no redraw
		if i > 0 {
			clock.advance(10 * time.Millisecond)
		}
		b.Add(10)
	}
	clock.advance(10 * time.Millisecond)
	b.Add(400) // 100 ms after the first draw
	want += "\r" + render("app", 500, 1000, 100*time.Millisecond, 60)
	clock.advance(50 * time.Millisecond)
	b.Add(500)
	b.Done(nil)
	done := "app: done, 1000 B in 0.1s (6.5 KiB/s)"
	want += "\r" + done + strings.Repeat(" ", len(render("app", 500, 1000, 0, 60))-len(done)) + "\n"
	if got := out.String(); got != want {
		t.Errorf("output:\n%q\nwant:\n%q", got, want)
	}
}

func TestRender(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name     string
		label    string
		n, total int64
		elapsed  time.Duration
		width    int
		want     string
	}{
		{"start", "app.bz2", 0, 10 * mib, 0, 80,
			"app.bz2 [                                       ]   0% 0 B/10.0 MiB --/s ETA --"},
		{"half", "app.bz2", 5 * mib, 10 * mib, 2 * time.Second, 80,
			"app.bz2 [==============              ]  50% 5.0 MiB/10.0 MiB 2.5 MiB/s ETA 2.0s"},
		{"narrow bar", "app.bz2", 5 * mib, 10 * mib, 2 * time.Second, 64,
			"app.bz2 [======      ]  50% 5.0 MiB/10.0 MiB 2.5 MiB/s ETA 2.0s"},
		{"no room for a bar", "app.bz2", 5 * mib, 10 * mib, 2 * time.Second, 50,
			"app.bz2  50% 5.0 MiB/10.0 MiB 2.5 MiB/s ETA 2.0s"},
		{"label cut", "a-very-long-label.bz2", 5 * mib, 10 * mib, 2 * time.Second, 50,
			"a-ver...  50% 5.0 MiB/10.0 MiB 2.5 MiB/s ETA 2.0s"},
		{"tiny terminal", "app.bz2", 5 * mib, 10 * mib, 2 * time.Second, 12,
			"app.bz2  50"},
		{"unknown total", "upload", 3 * mib, 0, 90 * time.Second, 80,
			"upload 3.0 MiB 34.1 KiB/s 1m30s"},
		{"past the total", "app", 12, 10, time.Hour + 2*time.Minute, 80,
			"app [========================================] 100% 12 B/10 B 0 B/s ETA 0.0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(tt.label, tt.n, tt.total, tt.elapsed, tt.width)
			if got != tt.want {
				t.Errorf("render = %q\nwant     %q", got, tt.want)
			}
			if len([]rune(got)) >= tt.width {
				t.Errorf("render is %d wide, terminal %d", len([]rune(got)), tt.width)
			}
		})
	}
}

func TestHumanAndDuration(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		3 << 30: "3.0 GiB", 5 << 40: "5.0 TiB", 5 << 50: "5120.0 TiB"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "0.0s", 1500 * time.Millisecond: "1.5s",
		42 * time.Second: "42s", 185 * time.Second: "3m05s", 2*time.Hour + 7*time.Minute: "2h07m"} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestReaderAndWriterCount(t *testing.T) {
	var out bytes.Buffer
	clock := newClock()
	in := newBar(&out, "in", 0, false, fixedWidth(80), clock.now)
	outBar := newBar(io.Discard, "out", 0, false, fixedWidth(80), clock.now)
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	var dst bytes.Buffer
	n, err := io.Copy(outBar.Writer(&dst), in.Reader(bytes.NewReader(data)))
	if err != nil || n != int64(len(data)) || !bytes.Equal(dst.Bytes(), data) {
		t.Fatalf("copy = %d, %v; data equal: %v", n, err, bytes.Equal(dst.Bytes(), data))
	}
	clock.advance(time.Second)
	in.Done(nil)
	if want := "in: done, 976.6 KiB in 1.0s (976.6 KiB/s)\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("output %q, want suffix %q", out.String(), want)
	}
	if outBar.n != int64(len(data)) {
		t.Errorf("writer counted %d, want %d", outBar.n, len(data))
	}
}

func TestNilWriterPrintsNothingButCounts(t *testing.T) {
	b := New(nil, "quiet", 100)
	var dst bytes.Buffer
	if _, err := io.Copy(b.Writer(&dst), b.Reader(strings.NewReader("hello"))); err != nil {
		t.Fatal(err)
	}
	b.Add(3)
	b.Done(errors.New("boom"))
	if b.n != 13 || dst.String() != "hello" {
		t.Errorf("counted %d, copied %q; want 13, hello", b.n, dst.String())
	}
	var nilBar *Bar // a nil *Bar is a valid, silent Bar
	nilBar.Add(1)
	nilBar.Done(nil)
	if r := strings.NewReader("x"); nilBar.Reader(r) != r || nilBar.Writer(&dst) != &dst {
		t.Error("nil Bar wraps its reader or writer")
	}
}

func TestNonTerminalWriterGetsPlainLines(t *testing.T) {
	var out bytes.Buffer
	b := New(&out, "app", 10)
	b.Done(nil)
	if strings.Contains(out.String(), "\r") || !strings.HasPrefix(out.String(), "app: starting (10 B)\napp: done, 0 B in ") {
		t.Errorf("output %q", out.String())
	}
}

func TestConcurrentAdd(t *testing.T) {
	var out bytes.Buffer
	clock := newClock()
	const workers, adds = 8, 1000
	b := newBar(&out, "app", workers*adds, false, fixedWidth(80), clock.now)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range adds {
				clock.advance(time.Millisecond)
				b.Add(1)
			}
		})
	}
	wg.Wait()
	b.Done(nil)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 11 || !strings.HasPrefix(lines[10], "app: done, 7.8 KiB in 8.0s") {
		t.Fatalf("got %d lines:\n%s", len(lines), out.String())
	}
	for i, l := range lines[1:10] {
		if want := "app: " + string(rune('1'+i)) + "0% "; !strings.HasPrefix(l, want) {
			t.Errorf("line %d = %q, want prefix %q", i+1, l, want)
		}
	}
}

// TestRejectsEscapeSequences gives a Bar a label and an error that carry
// terminal control sequences, as a hostile repository or server could:
// nothing but printable characters (and the Bar's own \r and \n) may
// reach the terminal or the log.
func TestRejectsEscapeSequences(t *testing.T) {
	const evil = "\x1b]0;owned\x07\x1b[2J\u009b31m"
	for _, tty := range []bool{false, true} {
		var out bytes.Buffer
		clock := newClock()
		b := newBar(&out, "app"+evil, 100, tty, fixedWidth(80), clock.now)
		clock.advance(time.Second)
		b.Add(50)
		b.Done(errors.New("server says" + evil))
		got := strings.NewReplacer("\r", "", "\n", "").Replace(out.String())
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("tty %v: control character %U written: %q", tty, r, out.String())
			}
		}
		if !strings.Contains(got, "app?]0;owned??[2J?31m") || !strings.Contains(got, "server says?]0;owned") {
			t.Errorf("tty %v: label or error not shown with '?' for control characters: %q", tty, out.String())
		}
	}
}
