package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrBusy means another Apply or Rollback of the same target, in this or
// another process, holds the target's lock: Apply waited for it until its
// ctx was done, Rollback does not wait.
var ErrBusy = errors.New("apply: another update of this target is in progress")

// errWouldBlock is what tryLock returns while another holds the lock.
var errWouldBlock = errors.New("lock held by another")

// lockWaitMax bounds the pause between two attempts to take a lock.
const lockWaitMax = 250 * time.Millisecond

// fileLock is an advisory lock on a target: an exclusive flock(2) (on
// Windows, LockFileEx) on ".BASE.safeupdate.lock" beside it. The lock is
// released by the system when its process dies, so a killed update never
// blocks the next one.
type fileLock struct {
	f    *os.File
	path string
}

// lockPath names the lock file of target.
func lockPath(target string) string {
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".safeupdate.lock")
}

// lockTarget takes the lock of target. While another holds it, it tries
// again, with pauses growing to lockWaitMax, until ctx is done, and then
// gives up with an error wrapping ErrBusy and ctx's error.
func lockTarget(ctx context.Context, target string) (*fileLock, error) {
	path := lockPath(target)
	pause := 5 * time.Millisecond
	for {
		l, err := tryLock(path)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, errWouldBlock) {
			return nil, lockError(path, err)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %s is still locked: %w", ErrBusy, path, context.Cause(ctx))
		case <-t.C:
		}
		pause = min(2*pause, lockWaitMax)
	}
}

// lockNow takes the lock of target, or fails with an error wrapping
// ErrBusy if another holds it.
func lockNow(target string) (*fileLock, error) {
	path := lockPath(target)
	l, err := tryLock(path)
	if errors.Is(err, errWouldBlock) {
		return nil, fmt.Errorf("%w: %s is locked", ErrBusy, path)
	}
	if err != nil {
		return nil, lockError(path, err)
	}
	return l, nil
}

// lockError explains why the lock file could not be opened. The lock is
// the first file made in the target's directory, so this is where a
// directory without write permission shows up, before anything is
// downloaded.
func lockError(path string, err error) error {
	if fi, lerr := os.Lstat(path); lerr == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("apply: lock file %s is not a regular file (%v); it was not made by safeupdate: remove it", path, fi.Mode())
	}
	return createError(filepath.Dir(path), err)
}

// createError explains why a file could not be created in dir.
func createError(dir string, err error) error {
	if errors.Is(err, os.ErrPermission) || isReadOnlyFS(err) {
		return fmt.Errorf("apply: cannot create files in %s, which needs write permission for the update (the binary is replaced by renaming a new file over it): %w", dir, err)
	}
	return fmt.Errorf("apply: cannot create files in %s: %w", dir, err)
}
