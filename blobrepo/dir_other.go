//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package blobrepo

import (
	"fmt"
	"io/fs"
	"os"
)

// canLockDir is false: without flock(2) there is no lock shared with other
// processes, so IfMatch on file:// is refused here.
const canLockDir = false

func lockDir(*os.Root) (func(), error) { return func() {}, nil }

// syncDir does nothing: Windows cannot fsync a directory, and NTFS journals
// the rename itself.
func syncDir(*os.Root) error { return nil }

func fileToken(fi fs.FileInfo) string {
	return fmt.Sprintf("%x-%x", fi.ModTime().UnixNano(), fi.Size())
}
