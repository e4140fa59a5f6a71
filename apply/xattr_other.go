//go:build !linux

package apply

import "os"

// copyXattrs copies no extended attributes outside Linux.
func copyXattrs(string, *os.File) []error { return nil }

// checkFlags has no file flags to check outside Linux.
func checkFlags(string) error { return nil }
