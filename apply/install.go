package apply

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Test hooks, set only by tests, to inject failures at the points where a
// real disk or a real crash could fail an install.
var (
	testHookAfterBackup   func() error // after the backup is kept, before the rename
	testHookAfterReplace  func() error // after the rename over the target
	testHookBeforeRestore func() error // before putting the backup back
)

// pending is the new binary being written beside the target.
type pending struct {
	f         *os.File
	installed bool // renamed over the target: nothing to remove
}

// tempPattern names every temporary file of an update of target: hidden,
// recognisable (so leftovers of a killed process can be found), random.
func tempPattern(target string) string {
	return "." + filepath.Base(target) + ".safeupdate-*.tmp"
}

// prepare is the pre-flight check: the target is a regular file, and the
// new binary can be created beside it (and the backup beside its own name).
// It creates the new binary's file, empty, with the target's mode.
func prepare(c *config) (*pending, error) {
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
	dir := filepath.Dir(c.target)
	f, err := os.CreateTemp(dir, tempPattern(c.target))
	if err != nil {
		return nil, writableError(dir, err)
	}
	p := &pending{f: f}
	if err := f.Chmod(fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)); err != nil {
		p.cleanup()
		return nil, fmt.Errorf("apply: setting the mode of the new binary: %w", err)
	}
	if bdir := filepath.Dir(c.backup); bdir != dir {
		probe, err := os.CreateTemp(bdir, tempPattern(c.backup))
		if err != nil {
			p.cleanup()
			return nil, writableError(bdir, err)
		}
		probe.Close()
		os.Remove(probe.Name())
	}
	return p, nil
}

func writableError(dir string, err error) error {
	return fmt.Errorf("apply: cannot create files in %s, which needs write permission for the update (the binary is replaced by renaming a new file over it): %w", dir, err)
}

// cleanup closes the new binary's file and removes it unless installed.
func (p *pending) cleanup() {
	p.f.Close()
	if !p.installed {
		os.Remove(p.f.Name())
	}
}

// install makes the verified, fsynced new binary the target: it keeps a
// backup of the target, renames the new file over it, and fsyncs the
// directory. If anything fails once the target was replaced, it puts the
// backup back and returns an *InstallError.
func install(c *config, p *pending) error {
	if err := p.f.Sync(); err != nil {
		return fmt.Errorf("apply: syncing the new binary: %w", err)
	}
	if err := p.f.Close(); err != nil {
		return fmt.Errorf("apply: closing the new binary: %w", err)
	}
	if err := placeCopy(c.target, c.backup); err != nil {
		return fmt.Errorf("apply: keeping a backup of %s at %s: %w", c.target, c.backup, err)
	}
	c.logger.Debug("apply: backup kept", "backup", c.backup)
	if testHookAfterBackup != nil {
		if err := testHookAfterBackup(); err != nil {
			return fmt.Errorf("apply: installing %s: %w", c.target, err)
		}
	}
	if err := os.Rename(p.f.Name(), c.target); err != nil {
		return fmt.Errorf("apply: installing %s: %w", c.target, err)
	}
	p.installed = true
	err := syncDir(filepath.Dir(c.target))
	if testHookAfterReplace != nil && err == nil {
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
// over the target (TargetFile, default the running executable), atomically,
// and keeps the backup. It refuses a backup that is not a regular file, such
// as a symbolic link. It checks nothing else: the backup is trusted as the
// binary that was installed before. Other options are ignored.
func Rollback(opts ...Option) error {
	c, err := newConfig(opts, needs{target: true})
	if err != nil {
		return err
	}
	if _, err := os.Lstat(c.backup); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("apply: no backup at %s to roll back to", c.backup)
	}
	if err := restore(c.backup, c.target); err != nil {
		return fmt.Errorf("apply: rolling %s back from %s: %w", c.target, c.backup, err)
	}
	c.logger.Info("apply: rolled back", "target", c.target, "backup", c.backup)
	return nil
}
