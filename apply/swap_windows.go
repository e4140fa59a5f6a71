package apply

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// windowsOps are the real file operations of replaceAside on Windows,
// where a running executable cannot be replaced or removed (access denied,
// sharing violation) but can be renamed.
var windowsOps = asideOps{
	rename: os.Rename, // MoveFileEx with MOVEFILE_REPLACE_EXISTING
	remove: os.Remove,
	busy: func(err error) bool {
		return errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_SHARING_VIOLATION)
	},
}

// platformRenameOver replaces dst with src, moving dst aside when it is a
// running executable.
func platformRenameOver(src, dst string) error { return replaceAside(src, dst, windowsOps) }

// crossDevice reports whether err is a rename across volumes.
func crossDevice(err error) bool { return errors.Is(err, windows.ERROR_NOT_SAME_DEVICE) }
