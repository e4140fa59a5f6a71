package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDemo runs the whole demo: keys, builds, a signed repository served on
// 127.0.0.1, a self-update and two tampered releases. Every step checks its
// own outcome, so the test fails exactly when the demo would.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three binaries: skipped with -short")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the demo makes its directory
	if err := run(t.Context(), t.Output()); err != nil {
		t.Fatal(err)
	}
	if left := entries(t, tmp); len(left) != 0 {
		t.Errorf("the demo left %q behind", left)
	}
}

// TestDemoCleansUpWhenInterrupted interrupts the demo (Ctrl-C cancels its
// context) while go build runs, and checks that it fails and removes
// everything it made.
func TestDemoCleansUpWhenInterrupted(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &cancelOn{text: "$ go build", after: 300 * time.Millisecond, cancel: cancel}
	err := run(ctx, out)
	if err == nil {
		t.Fatalf("run succeeded although interrupted:\n%s", out.String())
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("run: %v, want context.Canceled", err)
	}
	if left := entries(t, tmp); len(left) != 0 {
		t.Errorf("the interrupted demo left %q behind", left)
	}
}

// cancelOn records what is written to it, and calls cancel after a delay
// once text was written.
type cancelOn struct {
	mu     sync.Mutex
	out    strings.Builder
	text   string
	after  time.Duration
	cancel func()
	timer  *time.Timer
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.out.Write(p)
	if c.timer == nil && strings.Contains(c.out.String(), c.text) {
		c.timer = time.AfterFunc(c.after, c.cancel)
	}
	return n, err
}

func (c *cancelOn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
