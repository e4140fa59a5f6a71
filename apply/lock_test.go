//go:build unix

package apply_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
)

// lockRepo publishes 2.0.0 and 3.0.0 (8 MiB each, so that an update takes
// a while) and installs 1.0.0 at a new target.
func lockRepo(t *testing.T) (r *repo, key testKey, target string, bins map[string][]byte) {
	t.Helper()
	key, r = newKey(t), newRepo(t)
	bins = map[string][]byte{"1.0.0": binary("1.0.0", 20000), "2.0.0": bigBinary("2.0.0", 8<<20), "3.0.0": bigBinary("3.0.0", 8<<20)}
	r.publish(t, "2.0.0", "linux", "amd64", bins["2.0.0"], key)
	r.publish(t, "3.0.0", "linux", "amd64", bins["3.0.0"], key)
	target = filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(target, bins["1.0.0"], 0o755); err != nil {
		t.Fatal(err)
	}
	return r, key, target, bins
}

func TestSurvivesConcurrentApply(t *testing.T) {
	r, key, target, bins := lockRepo(t)
	const n = 4
	children := make([]*child, n)
	versions := make([]string, n)
	for i := range children {
		versions[i] = []string{"2.0.0", "3.0.0"}[i%2]
		children[i] = startChild(t, childSpec{Repo: r.url(), Version: versions[i], Target: target, Key: key.pub})
	}
	type hold struct {
		i                     int
		start, locked, unlock time.Time
	}
	var holds []hold
	for i, c := range children {
		if result, killed := c.wait(t); result != "ok" || killed {
			t.Fatalf("child %d: %q (killed: %v)", i, result, killed)
		}
		h := hold{i: i}
		var ok1, ok2, ok3 bool
		h.start, ok1 = c.at("start")
		h.locked, ok2 = c.at("locked")
		h.unlock, ok3 = c.at("unlocking")
		if !ok1 || !ok2 || !ok3 {
			t.Fatalf("child %d did not report its steps", i)
		}
		holds = append(holds, h)
	}
	sort.Slice(holds, func(a, b int) bool { return holds[a].locked.Before(holds[b].locked) })
	waited := 0
	for k := 1; k < len(holds); k++ {
		prev, h := holds[k-1], holds[k]
		if h.locked.Before(prev.unlock) {
			t.Errorf("child %d took the lock at %v, before child %d released it at %v", h.i, h.locked, prev.i, prev.unlock)
		}
		if h.start.Before(prev.unlock) {
			waited++
		}
	}
	if waited == 0 {
		t.Error("no child ever waited for another: the test did not run them at the same time")
	}
	t.Logf("%d of %d children waited for the lock", waited, n)
	// The updates ran one after the other, in lock order: the target is
	// the last one's binary and the backup the one before.
	last, before := holds[n-1].i, holds[n-2].i
	wantFile(t, target, bins[versions[last]])
	wantFile(t, target+".backup", bins[versions[before]])
	if got := listDir(t, filepath.Dir(target)); len(got) != 2 {
		t.Errorf("the directory holds %v, want app and app.backup", sortedKeys(got))
	}
}

func TestSurvivesBusyLock(t *testing.T) {
	r, key, target, bins := lockRepo(t)
	opts := func(version string) []apply.Option {
		return []apply.Option{apply.SourceRepo(r.url()), apply.Version(version), apply.OS("linux"), apply.Arch("amd64"),
			apply.PublicKey(key.pub), apply.TargetFile(target)}
	}
	// A process holds the lock for a while.
	holder := startChild(t, childSpec{Repo: r.url(), Version: "2.0.0", Target: target, Key: key.pub, PauseAt: "locked", Pause: 3 * time.Second})
	holder.waitStep(t, "locked")

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := apply.Apply(ctx, opts("3.0.0")...)
	if !errors.Is(err, apply.ErrBusy) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), ".app.safeupdate.lock") {
		t.Errorf("Apply while locked: got %v, want ErrBusy after the deadline, naming the lock", err)
	}
	// Had it waited for the lock instead, it would have succeeded.
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("Apply gave up after %v, before its deadline of 300ms", d)
	}
	if err := apply.Rollback(apply.TargetFile(target)); err == nil {
		t.Error("Rollback without a backup succeeded")
	}
	if err := os.WriteFile(target+".backup", bins["1.0.0"], 0o755); err != nil {
		t.Fatal(err)
	}
	// Rollback does not wait: it fails while the holder still holds the lock.
	if err := apply.Rollback(apply.TargetFile(target)); !errors.Is(err, apply.ErrBusy) {
		t.Errorf("Rollback while locked: got %v, want ErrBusy", err)
	}
	if _, done := holder.at("unlocking"); done {
		t.Fatal("the holder released the lock too early for this test")
	}
	wantFile(t, target, bins["1.0.0"])

	// With time enough, Apply waits for the holder, then runs.
	if err := apply.Apply(t.Context(), opts("3.0.0")...); err != nil {
		t.Fatal(err)
	}
	unlocked, _ := holder.at("unlocking")
	if result, _ := holder.wait(t); result != "ok" {
		t.Fatalf("the holder: %q", result)
	}
	if time.Now().Before(unlocked) || unlocked.IsZero() {
		t.Error("Apply returned before the holder released the lock")
	}
	wantFile(t, target, bins["3.0.0"])
	wantFile(t, target+".backup", bins["2.0.0"])
	if got := listDir(t, filepath.Dir(target)); len(got) != 2 {
		t.Errorf("the directory holds %v, want app and app.backup", sortedKeys(got))
	}
	if !bytes.Equal(bins["2.0.0"][:20], []byte("#!/bin/sh\necho 2.0.0")) {
		t.Fatal("bigBinary changed its header")
	}
}
