//go:build !(linux || darwin || freebsd || netbsd)

package repotool

import "io/fs"

// serveCacheSupported is false where stat results do not carry a change
// time and an inode number (Windows among others): there, small files are
// read from disk on every request, as large ones are everywhere.
const serveCacheSupported = false

func versionOf(fs.FileInfo) (fileVersion, bool) { return fileVersion{}, false }
