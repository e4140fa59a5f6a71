//go:build unix

package apply_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
)

// The crash and lock tests run Apply in real child processes: this test
// binary, run again with childEnv set to a JSON childSpec, runs only
// TestHelperChildApply, which applies the release the spec names.
const childEnv = "SAFEUPDATE_TEST_APPLY_CHILD"

type childSpec struct {
	Repo, Version, Target string
	Key                   []byte
	KillAt                string        // SIGKILL itself at this step, or "mid-write"
	PauseAt               string        // sleep for Pause at this step
	Pause                 time.Duration //
	Fallback              bool          // no atomic exchange (ForceRenameFallback)
	Wait                  time.Duration // Apply's ctx deadline
}

// midWrite is the KillAt of a child that kills itself once half of the new
// binary is written.
const midWrite = "mid-write"

// TestHelperChildApply is not a test: it is the child process of
// TestSurvivesKillDuringApply and TestSurvivesConcurrentApply, and returns
// at once when run as a test. It prints one line per install step
// ("step\tUNIXNANO\tNAME") and the result ("result\tok|busy|error\t...").
func TestHelperChildApply(t *testing.T) {
	raw, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	var s childSpec
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	kill := func() {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	if s.Fallback {
		apply.ForceRenameFallback(t)
	}
	say := func(step string) { fmt.Printf("step\t%d\t%s\n", time.Now().UnixNano(), step) }
	apply.SetStepHook(t, func(step string) {
		say(step)
		if step == s.PauseAt {
			time.Sleep(s.Pause)
		}
		if step == s.KillAt {
			kill()
		}
	})
	opts := []apply.Option{
		apply.SourceRepo(s.Repo), apply.Version(s.Version), apply.OS("linux"), apply.Arch("amd64"),
		apply.PublicKey(s.Key), apply.TargetFile(s.Target),
	}
	if s.KillAt == midWrite {
		opts = append(opts, apply.Progress(func(done, total int64) {
			if done >= total/2 {
				kill()
			}
		}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Wait)
	defer cancel()
	say("start")
	err := apply.Apply(ctx, opts...)
	switch {
	case err == nil:
		fmt.Printf("result\tok\n")
	case errors.Is(err, apply.ErrBusy):
		fmt.Printf("result\tbusy\t%v\n", err)
	default:
		fmt.Printf("result\terror\t%v\n", err)
	}
}

// child is a running child process.
type child struct {
	cmd     *exec.Cmd
	started time.Time
	stderr  bytes.Buffer
	done    chan struct{} // closed when its output is read to the end

	mu     sync.Mutex
	steps  map[string]time.Time
	result string
	seen   chan string // each step as it is printed
}

func startChild(t *testing.T, s childSpec) *child {
	t.Helper()
	return startChildAs(t, s, os.Args[0], nil)
}

// startChildAs starts the child from the test binary exe, as the user
// cred when it is not nil.
func startChildAs(t *testing.T, s childSpec, exe string, cred *syscall.Credential) *child {
	t.Helper()
	if s.Wait == 0 {
		s.Wait = time.Minute
	}
	spec, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	c := &child{done: make(chan struct{}), steps: make(map[string]time.Time), seen: make(chan string, 64)}
	c.cmd = exec.Command(exe, "-test.run=^TestHelperChildApply$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	if cred != nil {
		c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		c.cmd.Dir = "/"
	}
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go c.read(out)
	return c
}

func (c *child) read(out interface{ Read([]byte) (int, error) }) {
	defer close(c.done)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), "\t")
		c.mu.Lock()
		switch kind {
		case "step":
			ns, name, _ := strings.Cut(rest, "\t")
			n, _ := strconv.ParseInt(ns, 10, 64)
			c.steps[name] = time.Unix(0, n)
			select {
			case c.seen <- name:
			default:
			}
		case "result":
			c.result = rest
		}
		c.mu.Unlock()
	}
}

// wait waits for the child to exit and returns its result line ("" if it
// was killed first) and whether SIGKILL ended it.
func (c *child) wait(t *testing.T) (result string, killed bool) {
	t.Helper()
	<-c.done
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			killed = true
		} else {
			t.Errorf("child: %v\n%s", err, c.stderr.Bytes())
		}
	} else if err != nil {
		t.Errorf("child: %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.result, killed
}

// waitStep waits until the child has printed step.
func (c *child) waitStep(t *testing.T, step string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case s := <-c.seen:
			if s == step {
				return
			}
		case <-c.done:
			t.Fatalf("child ended before step %q\n%s", step, c.stderr.Bytes())
		case <-timeout:
			t.Fatalf("child did not reach step %q", step)
		}
	}
}

// at returns when the child printed step, and whether it did.
func (c *child) at(step string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts, ok := c.steps[step]
	return ts, ok
}

// bigBinary is an n-byte stand-in for an executable of a version: a shell
// script that prints the version, followed by zeros with the version
// sprinkled every MiB. It compresses to almost nothing, so that the time
// an update takes is spent decompressing and writing.
func bigBinary(version string, n int) []byte {
	b := make([]byte, n)
	copy(b, fmt.Sprintf("#!/bin/sh\necho %s\nexit 0\n", version))
	for off := 1 << 20; off < n; off += 1 << 20 {
		copy(b[off:], version)
	}
	return b
}
