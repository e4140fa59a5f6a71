//go:build unix && !aix

package apply

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// tryLock opens (creating it if needed, never following a symbolic link)
// and flocks the lock file at path without waiting. Because the holder
// removes the file before releasing it, a lock taken on a file no longer
// at path is dropped and taken again on the new one.
func tryLock(path string) (*fileLock, error) {
	for range 100 {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		f := os.NewFile(uintptr(fd), path)
		fi, err := f.Stat()
		if err == nil && !fi.Mode().IsRegular() {
			err = fmt.Errorf("lock file %s is not a regular file", path)
		}
		if err == nil {
			err = flock(fd)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		if cur, err := os.Lstat(path); err == nil && os.SameFile(fi, cur) {
			return &fileLock{f: f, path: path}, nil
		}
		f.Close()
	}
	return nil, errWouldBlock
}

func flock(fd int) error {
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return errWouldBlock
		}
		return fmt.Errorf("flock: %w", err)
	}
}

// unlock removes the lock file, then releases the lock: a process waiting
// on the removed file finds it gone and starts over with a new one.
func (l *fileLock) unlock() {
	os.Remove(l.path)
	l.f.Close()
}

func isReadOnlyFS(err error) bool { return errors.Is(err, syscall.EROFS) }
