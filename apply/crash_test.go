//go:build unix

package apply_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
)

// killPoint is where a child applying the big release is killed: at a
// named step (and then the outcome is known), or after a delay.
type killPoint struct {
	step     string
	after    time.Duration
	fallback bool
	want     string // "old" or "new" after a kill at a step
}

func (p killPoint) String() string {
	mode := "exchange"
	if p.fallback {
		mode = "fallback"
	}
	if p.step != "" {
		return fmt.Sprintf("%s at %q", mode, p.step)
	}
	return fmt.Sprintf("%s after %v", mode, p.after.Round(time.Millisecond))
}

// killLane is one target directory in which children are killed one after
// the other.
type killLane struct {
	index    int
	r        *repo
	key      testKey
	dir      string
	target   string
	old, new []byte
}

// outcome is what a killed update left behind.
type outcome struct {
	target    string // "old" or "new"
	leftovers int    // temporary files
	lock      bool   // a stale lock file
	finished  bool   // the child was not killed
	elapsed   time.Duration
}

// run kills a child at p, checks what it left, and checks that the next
// Apply (installing the small 1.0.0 again) succeeds and removes every
// leftover.
func (l *killLane) run(t *testing.T, p killPoint) outcome {
	t.Helper()
	c := startChild(t, childSpec{Repo: l.r.url(), Version: "2.0.0", Target: l.target, Key: l.key.pub, KillAt: p.step, Fallback: p.fallback})
	if p.step == "" {
		timer := time.NewTimer(time.Until(c.started.Add(p.after)))
		select {
		case <-timer.C:
			c.cmd.Process.Kill() // SIGKILL
		case <-c.done:
			timer.Stop()
		}
	}
	result, killed := c.wait(t)
	o := outcome{finished: !killed, elapsed: time.Since(c.started)}
	if !killed && result != "ok" {
		t.Errorf("%v: the child was not killed and ended with %q", p, result)
	}
	if killed && p.step == "" && result != "" {
		o.finished = true // killed while exiting, after its result
	}

	data, err := os.ReadFile(l.target)
	if err != nil {
		t.Fatalf("%v: %v", p, err)
	}
	version := ""
	switch {
	case bytes.Equal(data, l.old):
		o.target, version = "old", "1.0.0"
	case bytes.Equal(data, l.new):
		o.target, version = "new", "2.0.0"
	default:
		t.Fatalf("%v: the target is neither the old nor the new binary: %d bytes, sha256 %.16s", p, len(data), hexSHA256(data))
	}
	if p.want != "" && o.target != p.want {
		t.Errorf("%v: the target is the %s binary, want the %s one", p, o.target, p.want)
	}
	if fi, err := os.Stat(l.target); err != nil || fi.Mode() != 0o755 {
		t.Errorf("%v: target mode %v (%v), want -rwxr-xr-x", p, fi.Mode(), err)
	}
	if out, err := exec.Command(l.target).Output(); err != nil || strings.TrimSpace(string(out)) != version {
		t.Errorf("%v: running the target: %q, %v; want %s", p, out, err, version)
	}
	for _, name := range names(t, l.dir) {
		switch {
		case apply.IsLeftover(name, "app") || apply.IsLeftover(name, "app.backup"):
			o.leftovers++
		case name == ".app.safeupdate.lock":
			o.lock = true
		case name != "app" && name != "app.backup":
			t.Errorf("%v: unexpected file %s", p, name)
		}
	}

	opts := []apply.Option{apply.SourceRepo(l.r.url()), apply.Version("1.0.0"), apply.OS("linux"), apply.Arch("amd64"),
		apply.PublicKey(l.key.pub), apply.TargetFile(l.target)}
	if err := apply.Apply(t.Context(), opts...); err != nil {
		t.Fatalf("%v: the next Apply: %v", p, err)
	}
	wantFile(t, l.target, l.old)
	if got := names(t, l.dir); len(got) != 2 {
		t.Errorf("%v: after the next Apply the directory holds %v, want app and app.backup", p, got)
	}
	return o
}

func TestSurvivesKillDuringApply(t *testing.T) {
	if testing.Short() {
		t.Skip("kills about 70 processes updating a 32 MiB binary; skipped with -short")
	}
	start := time.Now()
	key := newKey(t)
	r := newRepo(t)
	old, big := binary("1.0.0", 20000), bigBinary("2.0.0", 32<<20)
	r.publish(t, "1.0.0", "linux", "amd64", old, key)
	r.publish(t, "2.0.0", "linux", "amd64", big, key)
	lanes := make([]*killLane, 2)
	for i := range lanes {
		dir := t.TempDir()
		lanes[i] = &killLane{index: i, r: r, key: key, dir: dir, target: filepath.Join(dir, "app"), old: old, new: big}
		if err := os.WriteFile(lanes[i].target, old, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("published in %v", time.Since(start).Round(time.Millisecond))

	// How long a whole update takes, both lanes at once as below.
	var mu sync.Mutex
	var full time.Duration
	inLanes(t, lanes, func(t *testing.T, l *killLane) {
		o := l.run(t, killPoint{after: time.Minute})
		if !o.finished || o.target != "new" {
			t.Errorf("a whole update left %+v", o)
		}
		mu.Lock()
		full = max(full, o.elapsed)
		mu.Unlock()
	})
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("a whole update takes %v", full.Round(time.Millisecond))

	// Kills at each step, in both install modes, then at 50 moments spread
	// over the whole update (and a little past it).
	var points []killPoint
	for _, fallback := range []bool{false, true} {
		for _, s := range []struct{ step, want, wantFallback string }{
			{"locked", "old", "old"},
			{"temp created", "old", "old"},
			{midWrite, "old", "old"},
			{"synced", "old", "old"},
			{"backup kept", "new", "old"}, // the exchange keeps the backup after the swap
			{"swapped", "new", "new"},
			{"before dir sync", "new", "new"},
			{"unlocking", "new", "new"},
		} {
			want := s.want
			if fallback {
				want = s.wantFallback
			}
			points = append(points, killPoint{step: s.step, fallback: fallback, want: want})
		}
	}
	const timed = 50
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range timed {
		frac := (float64(i) + rng.Float64()) / timed
		points = append(points, killPoint{after: time.Duration(frac * 1.25 * float64(full)), fallback: i%4 == 3})
	}

	outcomes := make([]outcome, len(points))
	inLanes(t, lanes, func(t *testing.T, l *killLane) {
		for i := l.index; i < len(points) && !t.Failed(); i += len(lanes) {
			outcomes[i] = l.run(t, points[i])
		}
	})
	var nOld, nNew, withLeftovers, withLock int
	for _, o := range outcomes[len(points)-timed:] {
		switch o.target {
		case "old":
			nOld++
		case "new":
			nNew++
		}
		if o.leftovers > 0 {
			withLeftovers++
		}
		if o.lock {
			withLock++
		}
	}
	for i, o := range outcomes[:len(points)-timed] {
		p := points[i]
		if want := leavesTemp(p); (o.leftovers > 0) != want {
			t.Errorf("%v: %d temporary files left, want some: %v", p, o.leftovers, want)
		}
		if !o.lock {
			t.Errorf("%v: no stale lock file left", p)
		}
	}
	t.Logf("%d timed kills: target old after %d, new after %d; temporary files left by %d, a stale lock by %d",
		timed, nOld, nNew, withLeftovers, withLock)
	if withLeftovers < timed/5 {
		t.Errorf("only %d of %d timed kills hit the update while it wrote the new binary", withLeftovers, timed)
	}
	t.Logf("%d kills in %v", len(points), time.Since(start).Round(time.Millisecond))
}

// inLanes runs fn in each lane, the lanes in parallel.
func inLanes(t *testing.T, lanes []*killLane, fn func(*testing.T, *killLane)) {
	t.Run("lanes", func(t *testing.T) {
		for _, l := range lanes {
			t.Run(fmt.Sprint(l.index), func(t *testing.T) {
				t.Parallel()
				fn(t, l)
			})
		}
	})
}

// leavesTemp says whether a kill at p's step leaves a temporary file: the
// new binary before the swap, or (after an exchange) the previous one
// until it is renamed to the backup.
func leavesTemp(p killPoint) bool {
	switch p.step {
	case "temp created", midWrite, "synced":
		return true
	case "backup kept":
		return p.fallback
	case "swapped":
		return !p.fallback
	}
	return false
}

// names lists dir without reading its files (listDir hashes them).
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range entries {
		ns = append(ns, e.Name())
	}
	return ns
}
