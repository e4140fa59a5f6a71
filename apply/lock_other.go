//go:build !windows && (!unix || aix)

package apply

import (
	"errors"
	"runtime"
)

// tryLock refuses: without a file lock two updates of one target could
// interleave, so Apply and Rollback are not offered here.
func tryLock(string) (*fileLock, error) {
	return nil, errors.New("no advisory file lock on " + runtime.GOOS + ": updates are not supported here")
}

func (l *fileLock) unlock() {}

func isReadOnlyFS(error) bool { return false }
