//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package blobrepo

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// canLockDir tells that lockDir excludes other processes, which IfMatch
// on file:// needs.
const canLockDir = true

// lockDir takes an exclusive flock(2) of dir, held until unlock. Every
// rename and remove this package does in dir happens under it, so an
// IfMatch check and its rename are one step for all of this package's
// writers, in any process.
func lockDir(dir *os.Root) (unlock func(), err error) {
	f, err := dir.Open(".")
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir.Name(), err)
	}
	return func() { f.Close() }, nil // closing the descriptor drops the lock
}

func syncDir(dir *os.Root) error {
	f, err := dir.Open(".")
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// fileToken names one version of a file: a replaced file is a new inode
// (every write renames or links a new one in), and the modification time
// and size tell apart a reused inode number.
func fileToken(fi fs.FileInfo) string {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = uint64(st.Ino)
	}
	return fmt.Sprintf("%x-%x-%x", ino, fi.ModTime().UnixNano(), fi.Size())
}
