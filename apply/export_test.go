package apply

import "testing"

// SetTestHooks injects failures into the install steps for the duration of
// a test. A nil hook does nothing. Tests that use it must not run in
// parallel with other tests of this package that install.
func SetTestHooks(t testing.TB, afterBackup, afterReplace, beforeRestore func() error) {
	t.Helper()
	testHookAfterBackup, testHookAfterReplace, testHookBeforeRestore = afterBackup, afterReplace, beforeRestore
	t.Cleanup(func() {
		testHookAfterBackup, testHookAfterReplace, testHookBeforeRestore = nil, nil, nil
	})
}

// StoredRolloutID is the rollout id the TrustStore dir holds, drawn and
// kept there if it holds none.
func StoredRolloutID(dir string) (string, error) { return store{dir: dir}.rolloutID() }

// SetBaseHashedHook runs fn once Apply has hashed the target to choose a
// patch, and before the patch is applied to it, for the duration of a test.
func SetBaseHashedHook(t testing.TB, fn func()) {
	t.Helper()
	testHookBaseHashed = fn
	t.Cleanup(func() { testHookBaseHashed = nil })
}
