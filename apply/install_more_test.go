//go:build unix

package apply_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
)

// nobody is the user that stands for an attacker, when the tests run as root.
const nobody = 65534

// plant makes a file or symbolic link as an attacker would in a shared
// directory: as root, it gives it to another user.
func plant(t *testing.T, path string, symlinkTo string) {
	t.Helper()
	var err error
	if symlinkTo != "" {
		err = os.Symlink(symlinkTo, path)
	} else {
		err = os.WriteFile(path, []byte("planted"), 0o644)
	}
	if err == nil && os.Geteuid() == 0 {
		err = os.Lchown(path, nobody, nobody)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// victim is a file an attacker would like the updater to overwrite.
type victim struct {
	path string
	fi   os.FileInfo
}

func newVictim(t *testing.T, dir, name string) victim {
	t.Helper()
	v := victim{path: filepath.Join(dir, name)}
	if err := os.WriteFile(v.path, []byte("precious "+name), 0o640); err != nil {
		t.Fatal(err)
	}
	var err error
	if v.fi, err = os.Stat(v.path); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v victim) check(t *testing.T) {
	t.Helper()
	wantFile(t, v.path, []byte("precious "+filepath.Base(v.path)))
	fi, err := os.Stat(v.path)
	if err != nil || fi.Mode() != v.fi.Mode() || !fi.ModTime().Equal(v.fi.ModTime()) || !os.SameFile(fi, v.fi) {
		t.Errorf("%s was touched: %v (%v)", v.path, fi, err)
	}
}

// Symbolic links planted at the predictable names beside a target in a
// world-writable directory with the sticky bit, like /tmp: none is
// followed.
func TestRejectsPlantedSymlinks(t *testing.T) {
	setup := func(t *testing.T) (*fixture, string, victim) {
		f := newFixture(t)
		shared := filepath.Join(t.TempDir(), "shared")
		if err := os.Mkdir(shared, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(shared, 0o1777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		f.dir, f.target = shared, filepath.Join(shared, "app")
		if err := os.WriteFile(f.target, f.old, 0o755); err != nil {
			t.Fatal(err)
		}
		return f, shared, newVictim(t, t.TempDir(), "victim")
	}
	t.Run("backup name", func(t *testing.T) {
		f, shared, v := setup(t)
		plant(t, filepath.Join(shared, "app.backup"), v.path)
		if err := apply.Apply(t.Context(), f.opts()...); err != nil {
			t.Fatal(err)
		}
		v.check(t)
		wantFile(t, f.target, f.bin)
		if fi, err := os.Lstat(f.target + ".backup"); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("backup: %v (%v), want a regular file", fi, err)
		}
		wantFile(t, f.target+".backup", f.old)
	})
	for _, dangling := range []bool{false, true} {
		name := "lock name"
		if dangling {
			name = "lock name, dangling"
		}
		t.Run(name, func(t *testing.T) {
			f, shared, v := setup(t)
			to := v.path
			if dangling {
				to = filepath.Join(filepath.Dir(v.path), "created")
			}
			plant(t, filepath.Join(shared, ".app.safeupdate.lock"), to)
			before := listDir(t, shared)
			err := apply.Apply(t.Context(), f.opts()...)
			if err == nil || !strings.Contains(err.Error(), ".app.safeupdate.lock is not a regular file") {
				t.Errorf("got %v, want a refusal of the planted lock", err)
			}
			if err := apply.Rollback(apply.TargetFile(f.target)); err == nil {
				t.Error("Rollback succeeded")
			}
			v.check(t)
			sameDir(t, shared, before)
			if n := f.repo.count("app.bz2"); n != 0 {
				t.Errorf("payload requested %d times", n)
			}
			if _, err := os.Lstat(to); dangling && err == nil {
				t.Errorf("the dangling link's target %s was created", to)
			}
		})
	}
	t.Run("temporary names", func(t *testing.T) {
		f, shared, v := setup(t)
		var planted []string
		for _, name := range []string{".app.safeupdate-AAAAAAAAAAAAAAAA.tmp", ".app.safeupdate-old-AAAAAAAAAAAAAAAA.tmp", ".app.backup.safeupdate-AAAAAAAAAAAAAAAA.tmp"} {
			plant(t, filepath.Join(shared, name), v.path)
			planted = append(planted, name)
		}
		if os.Geteuid() == 0 {
			// Another user's regular file at a leftover name stays too.
			plant(t, filepath.Join(shared, ".app.safeupdate-BBBBBBBBBBBBBBBB.tmp"), "")
			planted = append(planted, ".app.safeupdate-BBBBBBBBBBBBBBBB.tmp")
		}
		if err := apply.Apply(t.Context(), f.opts()...); err != nil {
			t.Fatal(err)
		}
		if err := apply.Rollback(apply.TargetFile(f.target)); err != nil {
			t.Fatal(err)
		}
		v.check(t)
		wantFile(t, f.target, f.old)
		got := slices.Sorted(func(yield func(string) bool) {
			for name := range listDir(t, shared) {
				if !yield(name) {
					return
				}
			}
		})
		want := append([]string{"app", "app.backup"}, planted...)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("the shared directory holds %v, want %v", got, want)
		}
	})
}

func TestApplyCleansLeftovers(t *testing.T) {
	f := newFixture(t)
	backupDir := t.TempDir()
	ours := []string{
		filepath.Join(f.dir, ".app.safeupdate-ABCDEFGHIJKLMNOP.tmp"),
		filepath.Join(f.dir, ".app.safeupdate-old-QRSTUVWXYZ234567.tmp"),
		filepath.Join(backupDir, ".kept.safeupdate-ABCDEFGHIJKLMNOP.tmp"),
	}
	notOurs := []string{
		filepath.Join(f.dir, ".app.safeupdate-abcdefghijklmnop.tmp"),   // not our alphabet
		filepath.Join(f.dir, ".app.safeupdate-ABCDEFGHIJKLMNO.tmp"),    // too short
		filepath.Join(f.dir, ".app.safeupdate-ABCDEFGHIJKLMNOP.tmp.1"), // other suffix
		filepath.Join(f.dir, "app.safeupdate-ABCDEFGHIJKLMNOP.tmp"),    // not hidden
		filepath.Join(f.dir, ".other.safeupdate-ABCDEFGHIJKLMNOP.tmp"), // another file's
		filepath.Join(f.dir, ".app.safeupdate-manual.tmp"),
	}
	for _, p := range append(slices.Clone(ours), notOurs...) {
		if err := os.WriteFile(p, []byte("leftover"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A stale lock of a killed process.
	if err := os.WriteFile(filepath.Join(f.dir, ".app.safeupdate.lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := apply.Apply(t.Context(), f.opts(apply.BackupFile(filepath.Join(backupDir, "kept")))...); err != nil {
		t.Fatal(err)
	}
	for _, p := range ours {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover %s not removed: %v", p, err)
		}
	}
	for _, p := range notOurs {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s, not a leftover of ours, was removed: %v", p, err)
		}
	}
	if got := listDir(t, f.dir); len(got) != 1+len(notOurs) {
		t.Errorf("the target's directory holds %v", sortedKeys(got))
	}
	if got := listDir(t, backupDir); len(got) != 1 {
		t.Errorf("the backup's directory holds %v", sortedKeys(got))
	}
}

// Both ways of swapping: renameat2(RENAME_EXCHANGE), then the previous
// binary renamed to the backup; or, where there is no exchange, the backup
// linked first and the new binary renamed over the target. Either way the
// backup is the very file that was the target.
func TestApplySwapPaths(t *testing.T) {
	for _, tt := range []struct {
		name     string
		fallback bool
		order    []string
	}{
		{"exchange", false, []string{"locked", "temp created", "synced", "swapped", "backup kept", "before dir sync", "unlocking"}},
		{"link and rename", true, []string{"locked", "temp created", "synced", "backup kept", "swapped", "before dir sync", "unlocking"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.fallback {
				apply.ForceRenameFallback(t)
			}
			var steps []string
			apply.SetStepHook(t, func(s string) { steps = append(steps, s) })
			old, err := os.Stat(f.target)
			if err != nil {
				t.Fatal(err)
			}
			if err := apply.Apply(t.Context(), f.opts()...); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(steps, tt.order) {
				t.Errorf("steps %q, want %q", steps, tt.order)
			}
			wantFile(t, f.target, f.bin)
			if backup, err := os.Stat(f.target + ".backup"); err != nil || !os.SameFile(old, backup) {
				t.Errorf("the backup is not the file that was the target (%v)", err)
			}
			if got := listDir(t, f.dir); len(got) != 2 {
				t.Errorf("target directory holds %v, want app and app.backup", sortedKeys(got))
			}
		})
	}
}

// On Windows a running executable cannot be replaced or removed, but can be
// renamed: the same logic runs here with those rules simulated.
func TestApplyMovesRunningTargetAside(t *testing.T) {
	f := newFixture(t)
	aside := func() []string {
		var names []string
		for name := range listDir(t, f.dir) {
			if strings.Contains(name, ".safeupdate-old-") && (apply.IsLeftover(name, "app") || apply.IsLeftover(name, "app.backup")) {
				names = append(names, name)
			}
		}
		return names
	}
	t.Run("while it runs", func(t *testing.T) {
		apply.SimulateRunningExecutable(t, f.target)
		if err := apply.Apply(t.Context(), f.opts()...); err != nil {
			t.Fatal(err)
		}
		wantFile(t, f.target, f.bin)
		wantFile(t, f.target+".backup", f.old)
		if got := aside(); len(got) != 1 {
			t.Errorf("moved aside: %v, want the running binary once", got)
		}
		// Again: now the backup is the running file, and is moved aside in
		// turn; the leftover cannot be removed yet.
		if err := apply.Apply(t.Context(), f.opts()...); err != nil {
			t.Fatal(err)
		}
		wantFile(t, f.target, f.bin)
		wantFile(t, f.target+".backup", f.bin)
		if got := aside(); len(got) != 2 {
			t.Errorf("moved aside: %v, want two names of the running binary", got)
		}
	})
	// The process has exited: the next update removes the leftovers.
	if err := apply.Apply(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, f.dir); len(got) != 2 {
		t.Errorf("target directory holds %v, want app and app.backup", sortedKeys(got))
	}
}

func TestPreInstallCheck(t *testing.T) {
	f := newFixture(t)
	if err := os.Chmod(f.target, 0o750); err != nil {
		t.Fatal(err)
	}
	broken := append([]byte("#!/bin/sh\necho 'error while loading shared libraries' >&2\nexit 127\n"), binary("3.0.0", 20000)...)
	f.repo.publish(t, "3.0.0", "linux", "amd64", broken, f.key)
	var checked []string
	check := func(ctx context.Context, path string) error {
		checked = append(checked, path)
		if fi, err := os.Stat(path); err != nil || fi.Mode() != 0o750 {
			t.Errorf("the checked binary has mode %v (%v), want the target's", fi.Mode(), err)
		}
		out, err := runRetrying(ctx, path, "--version")
		if err != nil {
			return err
		}
		if v := strings.TrimSpace(string(out)); v != "2.0.0" {
			return errors.New("reports version " + v)
		}
		return nil
	}

	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.opts(apply.Version("3.0.0"), apply.PreInstallCheck(check))...)
	if !errors.Is(err, apply.ErrPreInstallCheck) || !strings.Contains(err.Error(), "exit status 127") {
		t.Errorf("got %v, want ErrPreInstallCheck with the exit status", err)
	}
	sameDir(t, f.dir, before)
	if len(checked) != 1 || filepath.Dir(checked[0]) != f.dir || !apply.IsLeftover(filepath.Base(checked[0]), "app") {
		t.Errorf("checked %q, want one temporary file beside the target", checked)
	}

	if err := apply.Apply(t.Context(), f.opts(apply.PreInstallCheck(check))...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
	if len(checked) != 2 {
		t.Errorf("the check ran %d times, want 2", len(checked))
	}
}

// runRetrying runs a program just written, retrying while the kernel still
// reports it busy: another goroutine's fork may briefly hold a descriptor
// open for writing (go.dev/issue/22315).
func runRetrying(ctx context.Context, path string, args ...string) ([]byte, error) {
	for i := 0; ; i++ {
		var stderr strings.Builder
		cmd := exec.CommandContext(ctx, path, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if errors.Is(err, syscall.ETXTBSY) && i < 10 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			return nil, errors.New(err.Error() + ": " + strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
}
