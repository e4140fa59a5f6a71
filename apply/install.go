package apply

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Steps of an install, in order, as reported to testHookStep. The crash
// tests kill a process at each one.
const (
	stepLocked      = "locked"          // the target's lock is held
	stepTempCreated = "temp created"    // the new binary's file exists, empty
	stepSynced      = "synced"          // the new binary is complete, with the target's metadata, fsynced
	stepChecked     = "checked"         // PreInstallCheck passed
	stepBackupKept  = "backup kept"     // the backup holds the previous binary
	stepSwapped     = "swapped"         // the target is the new binary
	stepDirSync     = "before dir sync" // about to fsync the target's directory
	stepUnlocking   = "unlocking"       // about to release the lock
)

// Test hooks, set only by tests, to inject failures at the points where a
// real disk or a real crash could fail an install.
var (
	testHookAfterBackup   func() error                     // after the backup is kept and, without an exchange, before the swap
	testHookAfterReplace  func() error                     // after the swap and the backup
	testHookBeforeRestore func() error                     // before putting the backup back
	testHookStep          func(step string)                // at each step above
	testHookTempFile      func(*os.File) (*os.File, error) // replaces the file the payload is written to
)

func step(name string) {
	if testHookStep != nil {
		testHookStep(name)
	}
}

// pending is an install in progress: the target's lock, and the new binary
// being written beside the target.
type pending struct {
	lock *fileLock
	f    *os.File // the payload is written here; nil once closed
	name string   // the new binary's temporary name; "" once it is no longer ours to remove
}

// prepare is the pre-flight check, done before anything is downloaded: the
// target is a regular file; its lock is taken (waiting until ctx is done),
// which is also the first file created in its directory, so a directory
// without write permission is reported here; leftovers of interrupted
// updates are removed; nothing (file flags, a sticky directory) will
// prevent replacing the target; and the backup's directory is writable.
// It returns the new binary's file, created empty beside the target.
func prepare(ctx context.Context, c *config) (_ *pending, err error) {
	fi, err := os.Lstat(c.target)
	if err != nil {
		return nil, fmt.Errorf("apply: target: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("apply: target %s is not a regular file", c.target)
	}
	if bi, err := os.Lstat(c.backup); err == nil && bi.IsDir() {
		return nil, fmt.Errorf("apply: backup path %s is a directory", c.backup)
	}
	lk, err := lockTarget(ctx, c.target)
	if err != nil {
		return nil, err
	}
	p := &pending{lock: lk}
	defer func() {
		if err != nil {
			p.cleanup()
		}
	}()
	step(stepLocked)
	cleanLeftovers(c.logger, c.target)
	cleanLeftovers(c.logger, c.backup)
	// Again, under the lock: a process that held it may have changed it.
	if fi, err = os.Lstat(c.target); err != nil {
		return nil, fmt.Errorf("apply: target: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("apply: target %s is not a regular file", c.target)
	}
	if err := checkReplaceable(c.target, fi); err != nil {
		return nil, err
	}
	dir := filepath.Dir(c.target)
	if bdir := filepath.Dir(c.backup); bdir != dir {
		probe, err := createTemp(c.backup)
		if err != nil {
			return nil, createError(bdir, err)
		}
		probe.Close()
		os.Remove(probe.Name())
	}
	f, err := createTemp(c.target)
	if err != nil {
		return nil, createError(dir, err)
	}
	p.f, p.name = f, f.Name()
	step(stepTempCreated)
	if testHookTempFile != nil {
		if p.f, err = testHookTempFile(f); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// cleanup closes and removes the new binary unless it was installed, then
// releases the lock.
func (p *pending) cleanup() {
	if p.f != nil {
		p.f.Close()
	}
	if p.name != "" {
		os.Remove(p.name)
	}
	if p.lock != nil {
		step(stepUnlocking)
		p.lock.unlock()
	}
}

// install makes the verified new binary the target. It gives the new
// binary the target's owner, mode and kept extended attributes, fsyncs and
// closes it, runs the pre-install check, then swaps it in: on Linux with
// one atomic exchange of the two names, after which the previous binary is
// renamed to the backup; elsewhere (or where the file system cannot
// exchange) by linking the backup first, then renaming the new binary over
// the target. If anything fails once the target was replaced, the previous
// binary is put back and the error is an *InstallError.
func install(ctx context.Context, c *config, p *pending) error {
	fi, err := os.Lstat(c.target)
	if err != nil {
		return fmt.Errorf("apply: target: %w", err)
	}
	warnings, err := copyMeta(c.target, fi, p.f)
	for _, w := range warnings {
		c.logger.Warn("apply: the new binary differs from the previous one", "target", c.target, "err", w)
	}
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if err := p.f.Sync(); err != nil {
		return fmt.Errorf("apply: syncing the new binary: %w", err)
	}
	err = p.f.Close()
	p.f = nil
	if err != nil {
		return fmt.Errorf("apply: closing the new binary: %w", err)
	}
	step(stepSynced)
	if c.preInstall != nil {
		if err := c.preInstall(ctx, p.name); err != nil {
			return fmt.Errorf("%w: %w", ErrPreInstallCheck, err)
		}
		step(stepChecked)
	}
	err = exchange(p.name, c.target)
	if errors.Is(err, errNoExchange) {
		c.logger.Debug("apply: no atomic exchange here, linking the backup then renaming", "target", c.target)
		return installByRename(c, p)
	}
	if err != nil {
		return fmt.Errorf("apply: installing %s: %w", c.target, err)
	}
	return afterExchange(c, p)
}

// afterExchange keeps the previous binary, which the exchange left at the
// new binary's temporary name, as the backup.
func afterExchange(c *config, p *pending) error {
	step(stepSwapped)
	if err := keepOld(p.name, c.backup); err != nil {
		ie := &InstallError{Err: fmt.Errorf("keeping the previous binary at %s: %w", c.backup, err), Backup: p.name}
		c.logger.Warn("apply: install failed, putting the previous binary back", "err", err)
		// The previous binary is still at the temporary name: swap back.
		if ie.Restore = exchange(p.name, c.target); ie.Restore != nil {
			p.name = "" // the only copy of the previous binary: keep it
		}
		return ie
	}
	p.name = ""
	step(stepBackupKept)
	var err error
	if testHookAfterBackup != nil {
		err = testHookAfterBackup()
	}
	return finishSwap(c, err)
}

// installByRename keeps the backup as a link to (or copy of) the target,
// then renames the new binary over the target.
func installByRename(c *config, p *pending) error {
	if err := placeCopy(c.target, c.backup); err != nil {
		return fmt.Errorf("apply: keeping a backup of %s at %s: %w", c.target, c.backup, err)
	}
	step(stepBackupKept)
	c.logger.Debug("apply: backup kept", "backup", c.backup)
	if testHookAfterBackup != nil {
		if err := testHookAfterBackup(); err != nil {
			return fmt.Errorf("apply: installing %s: %w", c.target, err)
		}
	}
	if err := renameOver(p.name, c.target); err != nil {
		return fmt.Errorf("apply: installing %s: %w", c.target, err)
	}
	p.name = ""
	step(stepSwapped)
	return finishSwap(c, nil)
}

// finishSwap makes the swap durable. If that, or err, fails the install,
// it puts the backup back.
func finishSwap(c *config, err error) error {
	if err == nil {
		step(stepDirSync)
		err = syncDir(filepath.Dir(c.target))
	}
	if err == nil && testHookAfterReplace != nil {
		err = testHookAfterReplace()
	}
	if err == nil {
		return nil
	}
	ie := &InstallError{Err: fmt.Errorf("installing %s: %w", c.target, err), Backup: c.backup}
	c.logger.Warn("apply: install failed, putting the previous binary back", "err", err, "backup", c.backup)
	ie.Restore = restore(c.backup, c.target)
	return ie
}

// restore puts the backup back over the target, atomically.
func restore(backup, target string) error {
	if testHookBeforeRestore != nil {
		if err := testHookBeforeRestore(); err != nil {
			return err
		}
	}
	fi, err := os.Lstat(backup)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("backup %s is not a regular file", backup)
	}
	return placeCopy(backup, target)
}

// Rollback puts the kept backup (BackupFile, default TARGET.backup) back
// over the target (TargetFile, default the running executable as the
// program was started, even after an Apply in this process), atomically,
// and keeps the backup. It refuses a backup that is not a regular file, such
// as a symbolic link. It checks nothing else: the backup is trusted as the
// binary that was installed before. Other options are ignored.
//
// Rollback takes the target's lock like Apply, but does not wait for it:
// while an Apply or Rollback of the same target runs, it fails with an
// error wrapping ErrBusy.
func Rollback(opts ...Option) error {
	c, err := newConfig(opts, needs{target: true})
	if err != nil {
		return err
	}
	if _, err := os.Lstat(c.backup); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("apply: no backup at %s to roll back to", c.backup)
	}
	lk, err := lockNow(c.target)
	if err != nil {
		return err
	}
	p := &pending{lock: lk}
	defer p.cleanup()
	step(stepLocked)
	cleanLeftovers(c.logger, c.target)
	if err := restore(c.backup, c.target); err != nil {
		return fmt.Errorf("apply: rolling %s back from %s: %w", c.target, c.backup, err)
	}
	c.logger.Info("apply: rolled back", "target", c.target, "backup", c.backup)
	return nil
}
