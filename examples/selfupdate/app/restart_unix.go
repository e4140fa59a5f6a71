//go:build unix

package main

import (
	"os"
	"syscall"
)

// restart replaces this process with the new binary at exe: same process
// id, same open terminal, so whoever started the program sees it carry on.
func restart(exe string, args []string) error {
	return syscall.Exec(exe, args, os.Environ())
}
