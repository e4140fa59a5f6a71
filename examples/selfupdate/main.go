// Command selfupdate is safeupdate's end-to-end demo, the README's first
// command:
//
//	go run ./examples/selfupdate
//
// In a temporary directory, with nothing but Go installed, it makes a
// release key, builds three versions of a tiny program that updates itself
// (./app), publishes a signed release to a repository served on 127.0.0.1,
// and runs version 1.0.0, which updates itself to 2.0.0 and restarts. Then a
// mirror tampers with release 3.0.0, and the update is refused. Last, 3.0.0
// is published again with a signed patch from 2.0.0, and the app updates by
// downloading the patch (a few hundred bytes) instead of the payload
// (megabytes); the demo shows both sizes, from the server's log.
//
// In act 2 the program pins a TUF trust root instead of a key and follows
// channel "stable" of a second repository. The publisher rotates the
// release key (root 2 replaces key A with key B): version 2.0.0, built with
// root 1, walks to root 2 and updates to 3.0.0, signed by B. A thief holding
// the revoked key A and the channel key publishes 4.0.0 and points the
// channel at it: refused. Then the channel expires: refused too.
//
// In act 3, on act 2's repository, a fleet of 30 machines at 2.0.0 follows
// channel stable while 3.0.0 is rolled out to 20% of clients: the machines
// in the rollout update, the others download nothing. Then 100%: all do.
//
// Every step checks what it shows: the demo exits non-zero if anything does
// not behave as described, so it doubles as an end-to-end test (see
// demo_test.go).
//
// The story is told in acts, each a list of steps sharing one *demo; a new
// act is a new entry in story.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// An act is one part of the story: steps run in order, and the first that
// fails ends the demo.
type act struct {
	title string
	steps []step
}

type step struct {
	title string
	run   func(ctx context.Context, d *demo) error
}

// story is the whole demo. Act 2 reuses act 1's release key as key A and
// otherwise sets a new stage: its own builds, repository and install
// directory.
var story = []act{
	signedUpdates,
	rotatedKeys,
	stagedRollout,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the demo at once
	}()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo FAILED: %v\n", err)
		os.Exit(1)
	}
}

// run tells the whole story to out. It returns an error if any step does
// not behave as expected, and removes everything it made in every case.
func run(ctx context.Context, out io.Writer) error {
	start := time.Now()
	p := &printer{w: out}
	d, err := newDemo(p)
	if err != nil {
		return err
	}
	defer d.close()

	p.line("safeupdate demo: a program updates itself from a repository of signed releases.")
	p.line("Working in %s (removed at the end).", d.dir)
	for i, a := range story {
		p.act(i+1, a.title)
		for j, s := range a.steps {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("interrupted: %w", err)
			}
			p.step(j+1, s.title)
			if err := s.run(ctx, d); err != nil {
				return fmt.Errorf("act %d, step %d (%s): %w", i+1, j+1, s.title, err)
			}
		}
	}
	p.line("\nEvery step behaved as expected (%.1fs).", time.Since(start).Seconds())
	return nil
}
