package apply_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/internal/testprog"
)

// mountTmpfs mounts a new tmpfs with options at a new directory until the
// test ends. It needs root, which CI has.
func mountTmpfs(t *testing.T, options string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mount, umount := testprog.Path(t, "mount"), testprog.Path(t, "umount")
	dir := t.TempDir()
	if out, err := exec.Command(mount, "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(umount, dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// moveTarget puts the fixture's target, still the old binary, in dir.
func (f *fixture) moveTarget(t *testing.T, dir string) {
	t.Helper()
	f.dir, f.target = dir, filepath.Join(dir, "app")
	if err := os.WriteFile(f.target, f.old, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestSurvivesDiskFull(t *testing.T) {
	check := func(t *testing.T, f *fixture, version string) {
		t.Helper()
		before := listDir(t, f.dir)
		err := apply.Apply(t.Context(), f.opts(apply.Version(version))...)
		if !errors.Is(err, syscall.ENOSPC) || !strings.HasPrefix(err.Error(), "apply: writing the new binary") {
			t.Errorf("got %v, want a write error for a full disk", err)
		}
		sameDir(t, f.dir, before)
	}
	t.Run("tmpfs", func(t *testing.T) {
		f := newFixture(t)
		f.moveTarget(t, mountTmpfs(t, "size=2m"))
		f.repo.publish(t, "3.0.0", "linux", "amd64", bigBinary("3.0.0", 3<<20), f.key)
		check(t, f, "3.0.0")
		// The failed update left nothing that takes space: one that fits
		// in what is free goes through.
		if err := apply.Apply(t.Context(), f.opts()...); err != nil {
			t.Fatal(err)
		}
		wantFile(t, f.target, f.bin)
	})
	t.Run("injected", func(t *testing.T) {
		f := newFixture(t)
		// Writes to /dev/full fail with ENOSPC.
		apply.SetTempFileHook(t, func(tmp *os.File) (*os.File, error) {
			tmp.Close()
			return os.OpenFile("/dev/full", os.O_WRONLY, 0)
		})
		check(t, f, "2.0.0")
	})
}

// wantWritePermissionError fails unless err says that dir needs write
// permission, and nothing was downloaded or changed.
func wantWritePermissionError(t *testing.T, f *fixture, before map[string]string, err error, dir string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "cannot create files in "+dir+", which needs write permission") {
		t.Errorf("got %v, want an error saying %s needs write permission", err, dir)
	}
	if n := f.repo.count("app.bz2"); n != 0 {
		t.Errorf("payload requested %d times before the directory was checked", n)
	}
	sameDir(t, f.dir, before)
}

func TestSurvivesReadOnlyTargetDir(t *testing.T) {
	f := newFixture(t)
	if os.Geteuid() == 0 {
		// Root writes whatever the mode bits say: use a read-only mount.
		f.moveTarget(t, mountTmpfs(t, "size=1m"))
		if out, err := exec.Command(testprog.Path(t, "mount"), "-o", "remount,ro", f.dir).CombinedOutput(); err != nil {
			t.Fatalf("remount read-only: %v: %s", err, out)
		}
	} else {
		if err := os.Chmod(f.dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(f.dir, 0o755) })
	}
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.opts()...)
	wantWritePermissionError(t, f, before, err, f.dir)

	// A writable target directory with a backup in a read-only one.
	g := newFixture(t)
	before = listDir(t, g.dir)
	err = apply.Apply(t.Context(), g.opts(apply.BackupFile(filepath.Join(f.dir, "app.backup")))...)
	wantWritePermissionError(t, g, before, err, f.dir)
	if err := apply.Rollback(apply.TargetFile(f.target)); err == nil {
		t.Error("Rollback in a read-only directory succeeded")
	}
}

// An immutable file cannot be replaced even by root: say so before
// downloading.
func TestSurvivesImmutableTarget(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chattr +i needs root")
	}
	chattr := testprog.Path(t, "chattr")
	f := newFixture(t)
	if out, err := exec.Command(chattr, "+i", f.target).CombinedOutput(); err != nil {
		t.Skipf("chattr +i: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command(chattr, "-i", f.target).Run() })
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.opts()...)
	if err == nil || !strings.Contains(err.Error(), f.target+" is immutable") || !strings.Contains(err.Error(), "chattr -i") {
		t.Errorf("got %v, want an error naming the immutable target and the fix", err)
	}
	if n := f.repo.count("app.bz2"); n != 0 {
		t.Errorf("payload requested %d times", n)
	}
	sameDir(t, f.dir, before)
}

// A target without write permission is replaced by rename all the same,
// and keeps its mode.
func TestSurvivesUnwritableTargetFile(t *testing.T) {
	f := newFixture(t)
	if err := os.Chmod(f.target, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := apply.Apply(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
	if fi, err := os.Stat(f.target); err != nil || fi.Mode() != 0o555 {
		t.Errorf("mode %v (%v), want -r-xr-xr-x", fi.Mode(), err)
	}
}

// The target is a running executable, which Linux will not open for
// writing (ETXTBSY): it is never written in place, so the update works
// and the running process is unaffected. TestSelfUpdateTwice shows a
// process replacing its own executable.
func TestSurvivesBusyTarget(t *testing.T) {
	f := newFixture(t)
	sleep := testprog.Path(t, "sleep")
	old, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	f.old = old
	if err := os.WriteFile(f.target, old, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(f.target, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if w, err := os.OpenFile(f.target, os.O_WRONLY, 0); errors.Is(err, syscall.ETXTBSY) {
		t.Log("the running target cannot be opened for writing: ETXTBSY")
	} else if err == nil {
		w.Close()
		t.Log("this kernel lets a running executable be opened for writing")
	}
	if err := apply.Apply(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
	wantFile(t, f.target+".backup", old)
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the running process is gone: %v", err)
	}
}
