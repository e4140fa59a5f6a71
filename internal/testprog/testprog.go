// Package testprog finds the external programs that tests run, so that a
// machine without one skips the tests that need it, naming the program and
// how to install it, instead of failing them.
//
// Every program a test runs is listed in programs below and in .ci/run,
// which installs each; .ci/testprograms checks that the tests run no other
// (it reads the literal names given to Path and to exec.Command,
// exec.CommandContext and exec.LookPath in test files, and the programs of
// the testscript files). Under CI (the CI variable is set) a missing
// program fails the test: CI must run every test.
package testprog

import (
	"os"
	"os/exec"
	"testing"
)

// programs maps each program the tests run to the Debian package that has it.
var programs = map[string]string{
	"bsdiff":  "bsdiff",
	"bspatch": "bsdiff",
	"bzip2":   "bzip2",
	"chattr":  "e2fsprogs",
	"getcap":  "libcap2-bin",
	"lbzip2":  "lbzip2",
	"mkfifo":  "coreutils",
	"mount":   "mount",
	"openssl": "openssl",
	"setcap":  "libcap2-bin",
	"sh":      "dash",
	"sleep":   "coreutils",
	"umount":  "mount",
	"zstd":    "zstd",
}

// Path returns the path of the program name, or skips the test (fails it
// under CI) when the machine does not have it.
func Path(t testing.TB, name string) string {
	t.Helper()
	pkg, ok := programs[name]
	if !ok {
		t.Fatalf("testprog: %s is not a program the tests may run: add it to internal/testprog and to .ci/run", name)
	}
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := name + " is not installed (apt-get install " + pkg + "); .ci/run installs it"
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: %v", msg, err)
	}
	t.Skip(msg)
	return ""
}
