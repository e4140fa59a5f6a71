//go:build !windows

package apply

import (
	"errors"
	"os"
	"syscall"
)

// platformRenameOver is rename(2), which replaces dst atomically, whether
// or not dst is a running executable.
func platformRenameOver(src, dst string) error { return os.Rename(src, dst) }

// crossDevice reports whether err is a rename across file systems.
func crossDevice(err error) bool { return errors.Is(err, syscall.EXDEV) }
