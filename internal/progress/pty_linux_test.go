package progress

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPty opens a pseudo-terminal of the given width and returns its
// master and slave ends.
func openPty(t *testing.T, cols uint16) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var n int
	var ioErr error
	rc, err := m.SyscallConn() // not m.Fd(): keep m pollable for SetReadDeadline
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) {
		if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr == nil {
			n, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	}); err != nil || ioErr != nil {
		t.Fatalf("unlock pty: %v %v", err, ioErr)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty slave: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: cols}); err != nil {
		t.Fatalf("set pty size: %v", err)
	}
	return m, s
}

func TestTerminalOnRealPty(t *testing.T) {
	master, slave := openPty(t, 64)
	got := make(chan []byte, 1)
	go func() { // read until the final line ends
		var buf bytes.Buffer
		p := make([]byte, 4096)
		for !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
			n, err := master.Read(p)
			buf.Write(p[:n])
			if err != nil {
				break
			}
		}
		got <- buf.Bytes()
	}()
	if err := master.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}

	b := New(slave, "app.bz2", 10<<20)
	b.Add(5 << 20) // within 100 ms of the first draw: no redraw
	b.Done(nil)
	out := string(<-got)

	// The line discipline turns "\n" into "\r\n".
	first := "\r" + render("app.bz2", 0, 10<<20, 0, 64) + "\r"
	if len(out) < len(first) || out[:len(first)] != first {
		t.Fatalf("pty output %q\ndoes not start with %q", out, first)
	}
	final := regexp.MustCompile(`^app\.bz2: done, 5\.0 MiB in [0-9.]+s \((--|[0-9. KMGTi]+B)/s\) *\r\n$`)
	if !final.MatchString(out[len(first):]) {
		t.Errorf("pty output %q: final line does not match %s", out, final)
	}
}
