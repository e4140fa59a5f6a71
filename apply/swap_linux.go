package apply

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// exchange swaps the files at a and b in one atomic step, with
// renameat2(RENAME_EXCHANGE): afterwards b is the file a was, and a the
// file b was, and at no moment is either name missing. File systems that
// do not support it, and kernels before 3.15, give errNoExchange.
func exchange(a, b string) error {
	if testHookSwap.noExchange || testHookSwap.aside != nil {
		return errNoExchange
	}
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return errNoExchange
	}
	return &os.LinkError{Op: "renameat2 RENAME_EXCHANGE", Old: a, New: b, Err: err}
}
