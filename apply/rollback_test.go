package apply_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
)

var (
	errDiskGone    = errors.New("injected: disk went away")
	errRestoreGone = errors.New("injected: restore failed")
)

func TestSurvivesFailureBeforeReplace(t *testing.T) {
	f := newFixture(t)
	apply.SetTestHooks(t, func() error { return errDiskGone }, nil, nil)
	err := apply.Apply(t.Context(), f.opts()...)
	if !errors.Is(err, errDiskGone) || apply.RollbackError(err) != nil {
		t.Errorf("got %v (rollback error %v), want the injected failure alone", err, apply.RollbackError(err))
	}
	wantFile(t, f.target, f.old)
	if got := listDir(t, f.dir); len(got) != 2 {
		t.Errorf("target directory holds %v, want app and app.backup", sortedKeys(got))
	}
}

func TestSurvivesFailureAfterReplace(t *testing.T) {
	f := newFixture(t)
	var replaced []byte
	apply.SetTestHooks(t, nil, func() error {
		replaced, _ = os.ReadFile(f.target)
		return errDiskGone
	}, nil)
	err := apply.Apply(t.Context(), f.opts()...)
	if string(replaced) != string(f.bin) {
		t.Fatal("the hook did not run after the target was replaced")
	}
	var ie *apply.InstallError
	if !errors.As(err, &ie) || !errors.Is(err, errDiskGone) || ie.Restore != nil {
		t.Fatalf("got %v, want an *InstallError for the injected failure, restored", err)
	}
	if apply.RollbackError(err) != nil {
		t.Errorf("RollbackError = %v, want nil after a successful restore", apply.RollbackError(err))
	}
	if !strings.Contains(err.Error(), "previous binary was put back") {
		t.Errorf("error %q does not say the previous binary is back", err)
	}
	wantFile(t, f.target, f.old)
	wantFile(t, f.target+".backup", f.old)
	if got := listDir(t, f.dir); len(got) != 2 {
		t.Errorf("target directory holds %v, want app and app.backup", sortedKeys(got))
	}
}

func TestSurvivesFailedRestore(t *testing.T) {
	f := newFixture(t)
	apply.SetTestHooks(t, nil, func() error { return errDiskGone }, func() error { return errRestoreGone })
	err := apply.Apply(t.Context(), f.opts()...)
	rerr := apply.RollbackError(err)
	if !errors.Is(rerr, errRestoreGone) {
		t.Fatalf("RollbackError(%v) = %v, want the injected restore failure", err, rerr)
	}
	backup := f.target + ".backup"
	if !strings.Contains(err.Error(), backup) || !strings.HasPrefix(err.Error(), "apply: ") {
		t.Errorf("error %q does not say where the backup is", err)
	}
	var ie *apply.InstallError
	if !errors.As(err, &ie) || ie.Backup != backup || !errors.Is(err, errDiskGone) {
		t.Errorf("got %#v, want an *InstallError naming %s", err, backup)
	}
	wantFile(t, backup, f.old)
	if got := listDir(t, f.dir); len(got) != 2 {
		t.Errorf("target directory holds %v, want app and app.backup", sortedKeys(got))
	}

	// The user can then do what the message says, or call Rollback.
	apply.SetTestHooks(t, nil, nil, nil)
	if err := apply.Rollback(apply.TargetFile(f.target)); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.old)
}

func TestRollbackRestoresBackup(t *testing.T) {
	f := newFixture(t)
	if err := apply.Apply(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
	if err := apply.Rollback(apply.TargetFile(f.target)); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.old)
	wantFile(t, f.target+".backup", f.old)
	fi, err := os.Stat(f.target)
	if err != nil || fi.Mode() != 0o755 {
		t.Errorf("target mode %v (%v), want -rwxr-xr-x", fi.Mode(), err)
	}
	if got := listDir(t, f.dir); len(got) != 2 {
		t.Errorf("target directory holds %v, want app and app.backup", sortedKeys(got))
	}

	// Target and backup are now one file; updating again still leaves
	// nothing else behind.
	if err := apply.Apply(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
	wantFile(t, f.target+".backup", f.old)
	if got := listDir(t, f.dir); len(got) != 2 {
		t.Errorf("target directory holds %v, want app and app.backup", sortedKeys(got))
	}
}

func TestRollbackWithoutBackup(t *testing.T) {
	f := newFixture(t)
	before := listDir(t, f.dir)
	err := apply.Rollback(apply.TargetFile(f.target))
	if err == nil || !strings.Contains(err.Error(), "no backup at "+f.target+".backup") {
		t.Errorf("got %v, want an error naming the missing backup", err)
	}
	sameDir(t, f.dir, before)
}

func TestRejectsSymlinkAtBackupName(t *testing.T) {
	f := newFixture(t)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	backup := f.target + ".backup"
	if err := os.Symlink(victim, backup); err != nil {
		t.Fatal(err)
	}
	// Rollback refuses to install what a planted link points to.
	if err := apply.Rollback(apply.TargetFile(f.target)); err == nil {
		t.Error("Rollback followed a symbolic link at the backup name")
	}
	wantFile(t, f.target, f.old)
	// Apply replaces the link by the backup; the file it pointed to is untouched.
	if err := apply.Apply(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, victim, []byte("precious"))
	if fi, err := os.Lstat(backup); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("backup is %v (%v), want a regular file", fi.Mode(), err)
	}
	wantFile(t, backup, f.old)
}

func TestInstallNeverRemovesTarget(t *testing.T) {
	f := newFixture(t)
	var missing, checks atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := os.Lstat(f.target); err != nil {
				missing.Add(1)
			}
			checks.Add(1)
		}
	}()
	for range 5 {
		if err := apply.Apply(t.Context(), f.opts(apply.AllowDowngradeUnsafe())...); err != nil {
			t.Fatal(err)
		}
		if err := apply.Rollback(apply.TargetFile(f.target)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond)
	close(stop)
	<-done
	if missing.Load() != 0 {
		t.Errorf("the target was missing %d times in %d checks", missing.Load(), checks.Load())
	}
	if checks.Load() < 100 {
		t.Errorf("only %d checks ran", checks.Load())
	}
}
