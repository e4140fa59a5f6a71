//go:build unix

package apply

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// copyOwner gives dst the user and group of the file whose Lstat is fi,
// when they differ and this process may: only root can give a file away,
// while any user can set a group it belongs to.
func copyOwner(fi fs.FileInfo, dst *os.File) error {
	want, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	cur, err := dst.Stat()
	if err != nil {
		return err
	}
	have, ok := cur.Sys().(*syscall.Stat_t)
	if !ok || (have.Uid == want.Uid && have.Gid == want.Gid) {
		return nil
	}
	err = dst.Chown(int(want.Uid), int(want.Gid))
	if err != nil && have.Gid != want.Gid {
		if gerr := dst.Chown(-1, int(want.Gid)); gerr == nil {
			return fmt.Errorf("owner %d not preserved (group %d is): %w", want.Uid, want.Gid, err)
		}
	}
	if err != nil {
		return fmt.Errorf("owner %d:%d not preserved: %w", want.Uid, want.Gid, err)
	}
	return nil
}

// ownedByUs reports whether the file whose Lstat is fi belongs to this
// process's effective user.
func ownedByUs(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// checkReplaceable says, before anything is downloaded, why target (whose
// Lstat is fi) could not be replaced by a rename in its directory even
// though files can be created there: an immutable or append-only file, or
// a directory with the sticky bit (like /tmp) where the file and the
// directory belong to another user.
func checkReplaceable(target string, fi fs.FileInfo) error {
	if err := checkFlags(target); err != nil {
		return err
	}
	dir := filepath.Dir(target)
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	euid := os.Geteuid()
	if di.Mode()&fs.ModeSticky == 0 || euid == 0 || ownedByUs(fi) || ownedByUs(di) {
		return nil
	}
	return fmt.Errorf("apply: %s belongs to another user and its directory %s has the sticky bit: only that user, the directory's owner or root can replace it", target, dir)
}
