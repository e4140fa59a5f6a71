//go:build linux || darwin || freebsd || netbsd

package repotool

import (
	"io/fs"
	"syscall"
)

// serveCacheSupported reports whether this platform gives stat(2) results
// that can tell two versions of a file apart (see fileVersion).
const serveCacheSupported = true

// versionOf returns the version of the file fi describes, or false.
func versionOf(fi fs.FileInfo) (fileVersion, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileVersion{}, false
	}
	return versionOfStat(st), true
}
