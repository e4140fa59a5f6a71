package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDemo runs the whole demo. Act 1: keys, builds, a signed repository
// served on 127.0.0.1, a self-update and two tampered releases. Act 2: a
// trust root and a channel, a release key rotation the old binary follows,
// a release signed with the revoked key and an expired channel, both
// refused. Act 3: a fleet of 30 follows a 20% rollout, then 100%. Every
// step checks its own outcome, so the test fails exactly
// when the demo would; it also checks that every step of every act ran.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds six binaries: skipped with -short")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the demo makes its directory
	var out strings.Builder // written under the printer's lock
	if err := run(t.Context(), io.MultiWriter(t.Output(), &out)); err != nil {
		t.Fatal(err)
	}
	if left := entries(t, tmp); len(left) != 0 {
		t.Errorf("the demo left %q behind", left)
	}

	if len(story) != 3 || story[1].title != rotatedKeys.title || story[2].title != stagedRollout.title {
		t.Errorf("the story has %d acts; want act 1, act 2 (key rotation) and act 3 (staged rollout)", len(story))
	}
	var steps []string
	for i, a := range story {
		steps = append(steps, fmt.Sprintf("Act %d: %s", i+1, a.title))
		for j, s := range a.steps {
			steps = append(steps, fmt.Sprintf("[%d] %s", j+1, s.title))
		}
	}
	steps = append(steps, "Every step behaved as expected")
	if err := expectLines(out.String(), steps...); err != nil {
		t.Error(err)
	}
	_, act3, _ := strings.Cut(out.String(), "\nAct 3: ")
	if err := expectLines(act3,
		indent+"wrote repo2/channels/stable.json: version 5, release 3.0.0 to 20% of clients",
		indent+"ok: ",
		indent+"wrote repo2/channels/stable.json: version 6, release 3.0.0 to 100% of clients",
		indent+"ok: the other ",
	); err != nil {
		t.Errorf("act 3: %v", err)
	}
	if !strings.Contains(act3, "machines updated to 3.0.0 (the 20% rollout expects about 6)") {
		t.Error("act 3 does not say how many machines the 20% rollout updated")
	}
	_, act2, _ := strings.Cut(out.String(), "\nAct 2: ")
	if err := expectLines(act2,
		indent+"ok: the app keeps root version 1 in ",
		indent+"ok: app 2.0.0 accepted 2.root.json",
		indent+"ok: the app keeps root version 2 in ",
		indent+"ok: refused with apply.ErrSignature, exit status 1",
		indent+"ok: the channel verified, but release 4.0.0 did not",
		indent+"ok: refused with apply.ErrExpired, exit status 1",
	); err != nil {
		t.Errorf("act 2: %v", err)
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
