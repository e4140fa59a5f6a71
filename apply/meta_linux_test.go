package apply_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/internal/testprog"
)

// The new binary gets the target's owner, mode (set-user-ID included),
// file capabilities, SELinux label and user.* attributes, where this
// process may set them; the link to a target is kept (see
// TestApplyKeepsSymlinkToTarget).
func TestApplyKeepsOwnerModeAndXattrs(t *testing.T) {
	f := newFixture(t)
	root := os.Geteuid() == 0
	if root {
		// Before the attributes: chown clears file capabilities.
		if err := os.Chown(f.target, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(f.target, 0o751|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	if err := unix.Setxattr(f.target, "user.origin", []byte("test"), 0); err == nil {
		want["user.origin"] = []byte("test")
	} else {
		t.Logf("no user.* attributes here: %v", err)
	}
	label := []byte("system_u:object_r:bin_t:s0\x00")
	if err := unix.Setxattr(f.target, "security.selinux", label, 0); err == nil {
		want["security.selinux"] = label
	} else {
		t.Logf("cannot set an SELinux label here: %v", err)
	}
	if !root {
		t.Log("not root: file capabilities not tested")
	} else if out, err := exec.Command(testprog.Path(t, "setcap"), "cap_net_bind_service+ep", f.target).CombinedOutput(); err != nil {
		t.Logf("setcap: %v: %s: file capabilities not tested", err, out)
	} else {
		want["security.capability"] = xattr(t, f.target, "security.capability")
	}
	before, err := os.Stat(f.target)
	if err != nil {
		t.Fatal(err)
	}

	if err := apply.Apply(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
	after, err := os.Stat(f.target)
	if err != nil {
		t.Fatal(err)
	}
	if after.Mode() != before.Mode() {
		t.Errorf("mode %v, want %v", after.Mode(), before.Mode())
	}
	bst, ast := before.Sys().(*syscall.Stat_t), after.Sys().(*syscall.Stat_t)
	if ast.Uid != bst.Uid || ast.Gid != bst.Gid {
		t.Errorf("owner %d:%d, want %d:%d", ast.Uid, ast.Gid, bst.Uid, bst.Gid)
	}
	for name, val := range want {
		if got := xattr(t, f.target, name); !bytes.Equal(got, val) {
			t.Errorf("%s = %q, want %q", name, got, val)
		}
	}
	if _, ok := want["security.capability"]; ok {
		out, err := exec.Command(testprog.Path(t, "getcap"), f.target).Output()
		if err != nil || !strings.Contains(string(out), "cap_net_bind_service=ep") {
			t.Errorf("getcap: %q, %v", out, err)
		}
	}
	t.Logf("kept: mode %v, owner %d:%d, %d attributes", after.Mode(), ast.Uid, ast.Gid, len(want))
}

func xattr(t *testing.T, path, name string) []byte {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(path, name, buf)
	if err != nil {
		t.Fatalf("%s of %s: %v", name, path, err)
	}
	return buf[:n]
}
