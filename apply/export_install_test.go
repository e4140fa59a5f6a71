package apply

import (
	"errors"
	"os"
	"testing"
)

// SetStepHook calls fn at each named step of an install (see the step
// constants in install.go) for the duration of a test. Tests that use it
// must not run in parallel with other installing tests of this package.
func SetStepHook(t testing.TB, fn func(step string)) {
	t.Helper()
	testHookStep = fn
	t.Cleanup(func() { testHookStep = nil })
}

// SetTempFileHook replaces the file the payload is written to, after it
// was created, by what fn returns, for the duration of a test.
func SetTempFileHook(t testing.TB, fn func(*os.File) (*os.File, error)) {
	t.Helper()
	testHookTempFile = fn
	t.Cleanup(func() { testHookTempFile = nil })
}

// ForceRenameFallback makes installs link the backup and rename, as where
// renameat2(RENAME_EXCHANGE) is missing, for the duration of a test.
func ForceRenameFallback(t testing.TB) {
	t.Helper()
	testHookSwap.noExchange = true
	t.Cleanup(func() { testHookSwap.noExchange = false })
}

// ErrSimulatedBusy is what SimulateRunningExecutable's file operations
// return for the running file.
var ErrSimulatedBusy = errors.New("simulated: the file is a running executable")

// SimulateRunningExecutable makes installs treat the file now at path as
// Windows treats a running executable, for the duration of a test: no name
// of it can be replaced by a rename or removed, but it can be renamed.
// Installs then also go without an atomic exchange, as on Windows.
func SimulateRunningExecutable(t testing.TB, path string) {
	t.Helper()
	running, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	isRunning := func(p string) bool {
		fi, err := os.Lstat(p)
		return err == nil && os.SameFile(fi, running)
	}
	testHookSwap.aside = &asideOps{
		rename: func(oldpath, newpath string) error {
			if isRunning(newpath) {
				return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: ErrSimulatedBusy}
			}
			return os.Rename(oldpath, newpath)
		},
		remove: func(p string) error {
			if isRunning(p) {
				return &os.PathError{Op: "remove", Path: p, Err: ErrSimulatedBusy}
			}
			return os.Remove(p)
		},
		busy: func(err error) bool { return errors.Is(err, ErrSimulatedBusy) },
	}
	t.Cleanup(func() { testHookSwap.aside = nil })
}

// IsLeftover exposes the recognition of leftover temporary names.
func IsLeftover(name, base string) bool { return isLeftover(name, base) }
