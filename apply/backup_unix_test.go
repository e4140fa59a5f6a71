//go:build !windows

package apply_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
)

// sameDevice reports whether a and b are on one file system.
func sameDevice(t *testing.T, a, b string) bool {
	t.Helper()
	ai, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	bi, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	return ai.Sys().(*syscall.Stat_t).Dev == bi.Sys().(*syscall.Stat_t).Dev
}

func TestApplyBackupOnOtherFileSystem(t *testing.T) {
	f := newFixture(t)
	// /dev/shm is a tmpfs on Linux: a hard link to it fails, so the backup
	// is copied instead.
	other, err := os.MkdirTemp("/dev/shm", "apply-test-")
	if err != nil {
		t.Skipf("no second file system to test on: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(other) })
	if sameDevice(t, other, f.dir) {
		t.Skip("/dev/shm is on the same file system as the test's temporary directory")
	}
	backup := filepath.Join(other, "app.backup")
	if err := apply.Apply(t.Context(), f.opts(apply.BackupFile(backup))...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
	wantFile(t, backup, f.old)
	if fi, err := os.Stat(backup); err != nil || fi.Mode() != 0o755 {
		t.Errorf("backup mode %v (%v), want the target's -rwxr-xr-x", fi.Mode(), err)
	}
	if got := listDir(t, other); len(got) != 1 {
		t.Errorf("backup directory holds %v, want only the backup", sortedKeys(got))
	}
	// Restoring copies it back across file systems too.
	if err := apply.Rollback(apply.TargetFile(f.target), apply.BackupFile(backup)); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.old)
	if got := listDir(t, f.dir); len(got) != 1 {
		t.Errorf("target directory holds %v, want only app", sortedKeys(got))
	}
}
