//go:build !unix

package apply

import (
	"io/fs"
	"os"
)

// copyOwner does nothing: files get their owner and access control list
// from the directory they are created in.
func copyOwner(fs.FileInfo, *os.File) error { return nil }

// ownedByUs is true: files at our temporary names beside the target are
// taken to be ours (see cleanLeftovers).
func ownedByUs(fs.FileInfo) bool { return true }

// checkReplaceable has nothing to check before downloading: a read-only
// file is replaced by rename like any other.
func checkReplaceable(string, fs.FileInfo) error { return nil }
