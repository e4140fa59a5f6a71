//go:build !unix

package main

import (
	"errors"
	"os"
	"os/exec"
)

// restart runs the new binary at exe as a child with the same standard
// streams, then exits with its status. Windows has no exec(2).
func restart(exe string, args []string) error {
	cmd := exec.Command(exe, args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	}
	if err != nil {
		return err
	}
	os.Exit(0)
	return nil
}
