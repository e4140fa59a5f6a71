package apply_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/release"
)

func TestDeltaUpdate(t *testing.T) {
	f := newDeltaFixture(t)
	f.wantInstalled(t, f.apply(t))
	f.wantPatchUsed(t)
	t.Logf("downloaded %d bytes of patch; the full payload is %d bytes", f.repo.bytesSent(f.entry.File), f.rel.CompressedSize)
	if f.entry.Size >= f.rel.CompressedSize {
		t.Errorf("the patch (%d bytes) is no smaller than the payload (%d bytes)", f.entry.Size, f.rel.CompressedSize)
	}
	if len(f.progress) == 0 || f.progress[len(f.progress)-1] != [2]int64{f.entry.Size, f.entry.Size} {
		t.Errorf("progress ends at %v, want the patch's bytes downloaded, [%d %d]", f.progress[len(f.progress)-1:], f.entry.Size, f.entry.Size)
	}
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		out, err := exec.Command(f.target).Output()
		if err != nil || !strings.HasPrefix(string(out), "2.0.0 ") {
			t.Errorf("the patched binary prints %q, %v; want 2.0.0", out, err)
		}
	}
}

func TestNoDeltaDownloadsThePayload(t *testing.T) {
	f := newDeltaFixture(t)
	// Also how a client from before patches updates from such a release:
	// the patches are signed, and not used.
	f.wantInstalled(t, f.apply(t, apply.NoDelta()))
	if n := f.repo.count(f.entry.File); n != 0 {
		t.Errorf("NoDelta: the patch was requested %d times", n)
	}
	if got := f.repo.bytesSent("app.bz2"); got != f.rel.CompressedSize {
		t.Errorf("%d bytes of the payload sent, want %d", got, f.rel.CompressedSize)
	}
}

func TestDeltaTakesTheSmallestPatch(t *testing.T) {
	f := newDeltaFixture(t)
	// A patch from nothing applies to any base, and is larger.
	big := makePatch(t, nil, f.bin)
	small := patchEntry(f.old, f.patch, "small.bsdiff")
	large := patchEntry(f.old, big, "large.bsdiff")
	f.publishPatched(t, big, large)
	f.repo.writeFile(t, "2.0.0/linux/amd64/small.bsdiff", f.patch)
	f.rel.Patches = []release.Patch{large, small}
	f.resign(t)
	f.entry = small
	f.wantInstalled(t, f.apply(t))
	f.wantPatchUsed(t)
	if n := f.repo.count("large.bsdiff"); n != 0 {
		t.Errorf("the larger patch was requested %d times", n)
	}
}

func TestRejectsTamperedPatch(t *testing.T) {
	f := newDeltaFixture(t)
	// A mirror serves other bytes, of the signed size, in place of the
	// signed patch.
	evil := bytes.Clone(f.patch)
	evil[len(evil)-10] ^= 0x20
	f.repo.writeFile(t, "2.0.0/linux/amd64/"+f.entry.File, evil)
	f.wantInstalled(t, f.apply(t))
	f.wantFellBack(t, "has sha256")
}

func TestRejectsPatchForOtherBase(t *testing.T) {
	f := newDeltaFixture(t)
	// The entry is signed for the installed binary, but the patch was made
	// from another one (a publisher's mistake, signed as it is): applied
	// to the installed binary it makes something else.
	other := bytes.Clone(f.old)
	for i := 0; i < len(other); i += 16 {
		other[i] ^= 1 // bsdiff matches it approximately, and diffs
	}
	wrong := makePatch(t, other, f.bin)
	f.entry = f.publishPatched(t, wrong, patchEntry(f.old, wrong, "app-from-1.0.0.bsdiff"))
	f.wantInstalled(t, f.apply(t))
	f.wantFellBack(t, "makes a binary")
}

func TestRejectsPatchBomb(t *testing.T) {
	f := newDeltaFixture(t)
	// A signed patch whose output passes the release's signed size.
	bomb := makePatch(t, f.old, bytes.Repeat(f.bin, 8))
	f.entry = f.publishPatched(t, bomb, patchEntry(f.old, bomb, "app-from-1.0.0.bsdiff"))
	f.wantInstalled(t, f.apply(t))
	f.wantFellBack(t, "would make a binary other than the signed")
}

func TestSurvivesModifiedBase(t *testing.T) {
	t.Run("before the update", func(t *testing.T) {
		f := newDeltaFixture(t)
		// Changed in place (a local patch, a corrupted disk): no patch's
		// base, so the full payload is used.
		changed := bytes.Clone(f.old)
		changed[len(changed)/2] ^= 1
		if err := os.WriteFile(f.target, changed, 0o755); err != nil {
			t.Fatal(err)
		}
		f.old = changed
		f.wantInstalled(t, f.apply(t))
		f.wantFellBack(t, "no patch from the installed binary")
		if n := f.repo.count(f.entry.File); n != 0 {
			t.Errorf("the patch was requested %d times for a binary that is not its base", n)
		}
	})
	t.Run("while the patch applies", func(t *testing.T) {
		f := newDeltaFixture(t)
		// Changed in place after it was hashed: the patch's output is not
		// the signed binary, and the full payload is used.
		changed := bytes.Clone(f.old)
		for i := range len(changed) / 2 {
			changed[i] ^= 0x55
		}
		apply.SetBaseHashedHook(t, func() {
			fh, err := os.OpenFile(f.target, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer fh.Close()
			if _, err := fh.WriteAt(changed, 0); err != nil {
				t.Error(err)
			}
		})
		f.old = changed
		f.wantInstalled(t, f.apply(t))
		f.wantFellBack(t, "the patch failed")
	})
}

func TestRejectsPatchNameTraversal(t *testing.T) {
	for _, name := range []string{"../../../1.0.0/linux/amd64/app.bz2", "/etc/passwd", `..\app.bz2`, "sub/p.bsdiff", "https://evil.example/p", "..", ".hidden"} {
		t.Run(name, func(t *testing.T) {
			f := newDeltaFixture(t)
			rel := *f.rel
			rel.Signatures = nil
			rel.Patches = []release.Patch{patchEntry(f.old, f.patch, name)}
			obj := map[string]any{
				"binary": rel.Binary, "hash": rel.Hash, "size": rel.Size,
				"version": rel.Version, "os": rel.OS, "arch": rel.Arch,
				"compressed_hash": rel.CompressedHash, "compressed_size": rel.CompressedSize,
				"patches": rel.Patches,
			}
			f.writeSignedJSON(t, &rel, obj)
			before := listDir(t, f.dir)
			err := f.apply(t)
			wantRefused(t, f.fixture, before, err, apply.ErrMetadata)
			for _, p := range f.repo.requests {
				if !strings.HasSuffix(p, "/release.json") {
					t.Errorf("requested %s", p)
				}
			}
		})
	}
}

func TestRejectsUnsignedPatchEntry(t *testing.T) {
	f := newDeltaFixture(t)
	// A mirror adds a patch entry (and its patch) to a release signed
	// without one.
	plain := f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, f.key)
	plain.Patches = []release.Patch{f.entry}
	data, err := plain.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", data)
	before := listDir(t, f.dir)
	err = f.apply(t)
	wantRefused(t, f.fixture, before, err, apply.ErrSignature)
	if n := f.repo.count(f.entry.File) + f.repo.count("app.bz2"); n != 0 {
		t.Errorf("%d downloads of a release whose signature fails", n)
	}
}

func TestRejectsPatchLargerThanSigned(t *testing.T) {
	f := newDeltaFixture(t)
	// The patch as signed, with more after it.
	f.repo.writeFile(t, "2.0.0/linux/amd64/"+f.entry.File, append(bytes.Clone(f.patch), make([]byte, 1<<20)...))
	f.wantInstalled(t, f.apply(t))
	f.wantFellBack(t, "is longer than the signed")
}

func TestSurvivesPatchServerError(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusNotFound, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f := newDeltaFixture(t)
			f.repo.handle("/2.0.0/linux/amd64/"+f.entry.File, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "no", status)
			})
			f.wantInstalled(t, f.apply(t))
			f.wantFellBack(t, "the patch failed")
		})
	}
}

func TestDeltaCancelledDoesNotFallBack(t *testing.T) {
	f := newDeltaFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f.repo.handle("/2.0.0/linux/amd64/"+f.entry.File, func(w http.ResponseWriter, r *http.Request) {
		cancel()
		http.Error(w, "no", http.StatusInternalServerError)
	})
	before := listDir(t, f.dir)
	err := apply.Apply(ctx, f.opts(apply.CurrentVersion("1.0.0"))...)
	if err == nil {
		t.Error("Apply succeeded after the caller cancelled")
	}
	sameDir(t, f.dir, before)
	if n := f.repo.count("app.bz2"); n != 0 {
		t.Errorf("the payload was requested %d times after the caller cancelled", n)
	}
}
