//go:build !windows

package apply_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildSelfUpdater builds internal/testdata/selfupdater once per version.
func buildSelfUpdater(t *testing.T, dir string, versions ...string) map[string][]byte {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bins := make(map[string][]byte)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, v := range versions {
		wg.Go(func() {
			out := filepath.Join(dir, "selfupdater-"+v)
			cmd := exec.Command(gobin, "build", "-buildvcs=false", "-ldflags", "-s -w -X main.version="+v, "-o", out, "./internal/testdata/selfupdater")
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("go build %s: %v\n%s", v, err, msg)
				return
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			bins[v] = b
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return bins
}

func TestSelfUpdateTwice(t *testing.T) {
	work := t.TempDir()
	start := time.Now()
	bins, r, keyFile, dir, app, run := selfUpdateSetup(t, work, start)
	if got := run("version"); got != "1.0.0" {
		t.Fatalf("installed version %q, want 1.0.0", got)
	}
	// Each update replaces the running executable, then re-executes it,
	// and the new image prints its version.
	if got := run("update", r.url(), "2.0.0", keyFile); got != "2.0.0" {
		t.Errorf("after the first update the process runs %q, want 2.0.0", got)
	}
	if got := run("update", r.url(), "3.0.0", keyFile); got != "3.0.0" {
		t.Errorf("after the second update the process runs %q, want 3.0.0", got)
	}
	if got := run("version"); got != "3.0.0" {
		t.Errorf("installed version %q, want 3.0.0", got)
	}
	wantFile(t, app, bins["3.0.0"])
	wantFile(t, app+".backup", bins["2.0.0"])
	if got := listDir(t, dir); len(got) != 2 {
		t.Errorf("stray files next to the binary: %v", sortedKeys(got))
	}
	// Updating to the running version does nothing, and says nothing.
	if got := run("update", r.url(), "3.0.0", keyFile); got != "3.0.0" {
		t.Errorf("re-applying 3.0.0: process runs %q", got)
	}
	if got := listDir(t, dir); len(got) != 2 {
		t.Errorf("stray files next to the binary: %v", sortedKeys(got))
	}
}

// TestSurvivesTwoUpdatesInOneProcess runs a program that updates itself
// twice without re-executing, as a daemon does. After the first swap the
// running image is the backup, and on Linux os.Executable (/proc/self/exe)
// now names the backup: a default target looked up again would make the
// second update replace the backup, leaving the target at the first new
// version and the oldest binary at TARGET.backup.backup.
func TestSurvivesTwoUpdatesInOneProcess(t *testing.T) {
	work := t.TempDir()
	bins, r, keyFile, dir, app, run := selfUpdateSetup(t, work, time.Now())
	// One process, still running 1.0.0, installs 2.0.0 and then 3.0.0.
	if got := run("daemon", r.url(), keyFile, "2.0.0", "3.0.0"); got != "2.0.0\n3.0.0" {
		t.Errorf("the daemon reported installing %q, want 2.0.0 then 3.0.0", got)
	}
	if got := run("version"); got != "3.0.0" {
		t.Errorf("after two updates in one process the target runs %q, want 3.0.0", got)
	}
	wantFile(t, app, bins["3.0.0"])
	wantFile(t, app+".backup", bins["2.0.0"])
	if _, err := os.Lstat(app + ".backup.backup"); err == nil {
		t.Errorf("the second update made %s.backup.backup: it replaced the backup, not the target", app)
	}
	if got := listDir(t, dir); len(got) != 2 {
		t.Errorf("stray files next to the binary: %v", sortedKeys(got))
	}
}

// selfUpdateSetup builds the self-updating program at 1.0.0, 2.0.0 and
// 3.0.0 in work, publishes 2.0.0 and 3.0.0, signed, on a repository
// server, and installs 1.0.0 as dir/app. run runs app with args and
// returns what it printed.
func selfUpdateSetup(t *testing.T, work string, start time.Time) (bins map[string][]byte, r *repo, keyFile, dir, app string, run func(args ...string) string) {
	t.Helper()
	bins = buildSelfUpdater(t, work, "1.0.0", "2.0.0", "3.0.0")
	t.Logf("built in %v", time.Since(start))
	key := newKey(t)
	keyFile = filepath.Join(work, "release.pub")
	if err := os.WriteFile(keyFile, key.pub, 0o644); err != nil {
		t.Fatal(err)
	}
	r = newRepo(t)
	r.publish(t, "2.0.0", runtime.GOOS, runtime.GOARCH, bins["2.0.0"], key)
	r.publish(t, "3.0.0", runtime.GOOS, runtime.GOARCH, bins["3.0.0"], key)
	t.Logf("published at %v", time.Since(start))

	dir = t.TempDir()
	app = filepath.Join(dir, "app")
	if err := os.WriteFile(app, bins["1.0.0"], 0o755); err != nil {
		t.Fatal(err)
	}
	run = func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(app, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("app %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		t.Logf("ran %v at %v", args, time.Since(start))
		return strings.TrimSpace(stdout.String())
	}
	return bins, r, keyFile, dir, app, run
}
