package apply_test

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// asNobody prepares to run children as an unprivileged user: it copies
// this test binary where that user can run it. It needs root.
func asNobody(t *testing.T) (exe string, cred *syscall.Credential) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running a child as another user needs root")
	}
	dir := t.TempDir()
	// The test's own temporary directories must let that user through.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for d := filepath.Dir(dir); d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode()&0o001 == 0 {
			t.Skipf("%s is not searchable by other users", d)
		}
	}
	exe = filepath.Join(dir, "apply.test")
	in, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(exe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return exe, &syscall.Credential{Uid: nobody, Gid: nobody}
}

// sharedDir makes a directory other users can reach, with mode.
func sharedDir(t *testing.T, mode fs.FileMode) string {
	t.Helper()
	parent := t.TempDir()
	for _, d := range []string{filepath.Dir(parent), parent} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(parent, "d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// An updater without root: what it cannot do is refused before the
// download with a clear error, or done without giving it privileges.
func TestSurvivesUnprivilegedUpdater(t *testing.T) {
	exe, cred := asNobody(t)
	f := newFixture(t)
	run := func(t *testing.T, target string) string {
		t.Helper()
		c := startChildAs(t, childSpec{Repo: f.repo.url(), Version: "2.0.0", Target: target, Key: f.key.pub}, exe, cred)
		result, _ := c.wait(t)
		return result
	}
	install := func(t *testing.T, dir string, mode fs.FileMode) string {
		t.Helper()
		target := filepath.Join(dir, "app")
		if err := os.WriteFile(target, f.old, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(target, mode); err != nil {
			t.Fatal(err)
		}
		return target
	}

	t.Run("directory without write permission", func(t *testing.T) {
		dir := sharedDir(t, 0o755)
		target := install(t, dir, 0o755)
		payloads := f.repo.count("app.bz2")
		if got := run(t, target); !strings.Contains(got, "cannot create files in "+dir+", which needs write permission") {
			t.Errorf("got %q, want an error saying %s needs write permission", got, dir)
		}
		if n := f.repo.count("app.bz2") - payloads; n != 0 {
			t.Errorf("payload requested %d times", n)
		}
		wantFile(t, target, f.old)
	})
	t.Run("another user's file in a sticky directory", func(t *testing.T) {
		dir := sharedDir(t, 0o777|fs.ModeSticky)
		target := install(t, dir, 0o755)
		payloads := f.repo.count("app.bz2")
		if got := run(t, target); !strings.Contains(got, "belongs to another user and its directory "+dir+" has the sticky bit") {
			t.Errorf("got %q, want a refusal naming the sticky directory", got)
		}
		if n := f.repo.count("app.bz2") - payloads; n != 0 {
			t.Errorf("payload requested %d times", n)
		}
		wantFile(t, target, f.old)
		if got := names(t, dir); len(got) != 1 {
			t.Errorf("the directory holds %v", got)
		}
	})
	t.Run("set-user-ID target of another user", func(t *testing.T) {
		dir := sharedDir(t, 0o777)
		target := install(t, dir, 0o755|fs.ModeSetuid)
		if got := run(t, target); got != "ok" {
			t.Fatalf("got %q", got)
		}
		wantFile(t, target, f.bin)
		fi, err := os.Stat(target)
		if err != nil {
			t.Fatal(err)
		}
		// The owner could not be kept, so the new binary must not run as
		// the updater for whoever starts it.
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || fi.Mode() != 0o755 {
			t.Errorf("the new binary is %v, owned by %d; want -rwxr-xr-x owned by %d, without set-user-ID", fi.Mode(), st.Uid, nobody)
		}
	})
}
