package apply

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// errNoExchange means the system or file system cannot exchange two names
// atomically, and the install falls back to link and rename.
var errNoExchange = errors.New("atomic exchange of two names not supported here")

// testHookSwap makes the install behave, for a test, as on a system
// without an atomic exchange (noExchange), or as on Windows, where a
// running executable cannot be replaced (aside: renames and removes go
// through these operations).
var testHookSwap struct {
	noExchange bool
	aside      *asideOps
}

// renameOver atomically replaces dst by src. Where dst cannot be replaced
// because it is in use (a running executable on Windows), it moves dst
// aside first (see replaceAside).
func renameOver(src, dst string) error {
	if ops := testHookSwap.aside; ops != nil {
		return replaceAside(src, dst, *ops)
	}
	return platformRenameOver(src, dst)
}

// removeFile removes a file, as renameOver's platform would.
func removeFile(path string) error {
	if ops := testHookSwap.aside; ops != nil {
		return ops.remove(path)
	}
	return os.Remove(path)
}

// asideOps are the file operations replaceAside uses, so that its logic can
// be tested on any system.
type asideOps struct {
	rename func(oldpath, newpath string) error
	remove func(path string) error
	busy   func(err error) bool // the rename failed because its target is in use
}

// replaceAside replaces dst by src. When dst cannot be replaced because it
// is in use, as a running executable is on Windows, dst is renamed to a
// new random name beside it (".BASE.safeupdate-old-XXX.tmp"; a running
// executable can be renamed), src is renamed to dst, and the old file is
// removed if it can be; if not, the next Apply or Rollback removes it
// (cleanLeftovers). If src cannot take dst's place, dst is moved back.
// Between the two renames dst does not exist, which is why this is only
// done when a plain rename was refused.
func replaceAside(src, dst string, ops asideOps) error {
	err := ops.rename(src, dst)
	if err == nil || !ops.busy(err) {
		return err
	}
	aside := tempName(dst, true)
	if err := ops.rename(dst, aside); err != nil {
		return fmt.Errorf("%s is in use and could not be moved aside: %w", dst, err)
	}
	if err := ops.rename(src, dst); err != nil {
		if rerr := ops.rename(aside, dst); rerr != nil {
			return fmt.Errorf("replacing %s: %w; and moving it back from %s failed: %w", dst, err, aside, rerr)
		}
		return err
	}
	_ = ops.remove(aside) // fails while it runs; cleanLeftovers retries
	return nil
}

// keepOld moves the previous binary, at a temporary name since the
// exchange, to the backup name; across file systems it copies it there.
func keepOld(old, backup string) error {
	oi, err := os.Lstat(old)
	if err != nil {
		return err
	}
	if bi, err := os.Lstat(backup); err == nil && os.SameFile(oi, bi) {
		// The backup already is the previous binary (after a Rollback, the
		// two are links to one file), and rename(2) between two links to
		// one file does nothing: drop the extra link.
		return os.Remove(old)
	}
	err = renameOver(old, backup)
	if err == nil {
		if filepath.Dir(old) == filepath.Dir(backup) {
			return nil // the caller fsyncs the target's directory
		}
		return syncDir(filepath.Dir(backup))
	}
	if !crossDevice(err) {
		return err
	}
	if err := placeCopy(old, backup); err != nil {
		return err
	}
	return os.Remove(old)
}
