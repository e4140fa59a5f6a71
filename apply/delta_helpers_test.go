package apply_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/internal/bsdiff"
	"github.com/safeupdate/safeupdate/release"
)

// deltaBuilds holds the builds of internal/testdata/deltaapp, made once
// per test process (building costs seconds, and every delta test needs
// the same versions) and kept on disk, not in memory, where they would
// count in the memory tests' heap; TestMain removes them.
var deltaBuilds struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if deltaBuilds.dir != "" {
		os.RemoveAll(deltaBuilds.dir)
	}
	os.Exit(code)
}

// deltaVersions are the versions of deltaapp the delta tests build.
var deltaVersions = []string{"1.0.0", "2.0.0"}

// deltaBins returns real executables of deltaapp for each of
// deltaVersions, built for this platform: two builds of one program that
// differ as releases do (here, in the version compiled in).
func deltaBins(t testing.TB) map[string][]byte {
	t.Helper()
	deltaBuilds.once.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if deltaBuilds.dir, err = os.MkdirTemp("", "deltaapp-"); err != nil {
			deltaBuilds.err = err
			return
		}
		for _, v := range deltaVersions {
			out := filepath.Join(deltaBuilds.dir, v)
			cmd := exec.Command(gobin, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -X main.version="+v, "-o", out, "./internal/testdata/deltaapp")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if msg, err := cmd.CombinedOutput(); err != nil {
				deltaBuilds.err = &buildError{v, err, msg}
				return
			}
		}
	})
	if deltaBuilds.err != nil {
		t.Fatal(deltaBuilds.err)
	}
	bins := map[string][]byte{}
	for _, v := range deltaVersions {
		b, err := os.ReadFile(filepath.Join(deltaBuilds.dir, v))
		if err != nil {
			t.Fatal(err)
		}
		bins[v] = b
	}
	return bins
}

type buildError struct {
	version string
	err     error
	out     []byte
}

func (e *buildError) Error() string {
	return "go build deltaapp " + e.version + ": " + e.err.Error() + "\n" + string(e.out)
}

// deltaFixture is a repository on 127.0.0.1 with release 2.0.0 of
// deltaapp, signed with a patch from 1.0.0, and 1.0.0 installed at target.
type deltaFixture struct {
	*fixture
	patch    []byte        // the patch file as published
	entry    release.Patch // its signed entry
	log      *bytes.Buffer // what Apply logged
	progress [][2]int64
}

func newDeltaFixture(t *testing.T) *deltaFixture {
	t.Helper()
	bins := deltaBins(t)
	f := &deltaFixture{fixture: &fixture{repo: newRepo(t), key: newKey(t), dir: t.TempDir()}, log: &bytes.Buffer{}}
	f.old, f.bin = bins["1.0.0"], bins["2.0.0"]
	f.target = filepath.Join(f.dir, "app")
	if err := os.WriteFile(f.target, f.old, 0o755); err != nil {
		t.Fatal(err)
	}
	f.rel = f.repo.publish(t, "1.0.0", "linux", "amd64", f.old, f.key)
	f.patch = makePatch(t, f.old, f.bin)
	f.entry = f.publishPatched(t, f.patch, patchEntry(f.old, f.patch, "app-from-1.0.0.bsdiff"))
	return f
}

// makePatch returns a bsdiff patch from old to new.
func makePatch(t testing.TB, old, new []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := bsdiff.Diff(&b, old, new); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// patchEntry is the signed entry of patch, from the base binary base.
func patchEntry(base, patch []byte, file string) release.Patch {
	return release.Patch{
		BaseVersion: "1.0.0", BaseHash: hexSHA256(base), BaseSize: int64(len(base)),
		File: file, Hash: hexSHA256(patch), Size: int64(len(patch)), Format: release.PatchFormat,
	}
}

// publishPatched publishes 2.0.0 (f.bin) with the patch files and entries
// given (patch is written at each entry's file name), signed by f.key.
func (f *deltaFixture) publishPatched(t testing.TB, patch []byte, entries ...release.Patch) release.Patch {
	t.Helper()
	f.rel = f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin)
	f.rel.Patches = entries
	f.resign(t)
	for _, e := range entries {
		f.repo.writeFile(t, "2.0.0/linux/amd64/"+e.File, patch)
	}
	return entries[0]
}

// writeSignedJSON signs obj (a release.json as a generic object, which
// release.Marshal might refuse to write) with f.key and publishes it as
// 2.0.0's release.json.
func (f *deltaFixture) writeSignedJSON(t testing.TB, rel *release.Release, obj map[string]any) {
	t.Helper()
	if err := signRelease(rel, f.key); err != nil {
		t.Fatal(err)
	}
	obj["signatures"] = rel.Signatures
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", b)
}

// apply updates the target to 2.0.0, logging into f.log and recording
// progress.
func (f *deltaFixture) apply(t *testing.T, more ...apply.Option) error {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := f.opts(append([]apply.Option{
		apply.Logger(logger),
		apply.CurrentVersion("1.0.0"),
		apply.Progress(func(done, total int64) { f.progress = append(f.progress, [2]int64{done, total}) }),
		apply.StallTimeout(10 * time.Second),
	}, more...)...)
	return apply.Apply(t.Context(), opts...)
}

// wantInstalled fails unless the target is the new binary and the backup
// the old one.
func (f *deltaFixture) wantInstalled(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("Apply: %v\n%s", err, f.log)
	}
	wantFile(t, f.target, f.bin)
	wantFile(t, f.target+".backup", f.old)
	if got := listDir(t, f.dir); len(got) != 2 {
		t.Errorf("stray files beside the target: %v", sortedKeys(got))
	}
}

// wantPatchUsed fails unless the patch, and not the payload, was
// downloaded.
func (f *deltaFixture) wantPatchUsed(t *testing.T) {
	t.Helper()
	if n := f.repo.count("/2.0.0/linux/amd64/app.bz2"); n != 0 {
		t.Errorf("the full payload was requested %d times; log:\n%s", n, f.log)
	}
	if got := f.repo.bytesSent("/" + f.entry.File); got != f.entry.Size {
		t.Errorf("%d bytes of the patch sent, want %d", got, f.entry.Size)
	}
}

// wantFellBack fails unless the full payload was downloaded after the
// patch was given up for the reason given, which the log must say.
func (f *deltaFixture) wantFellBack(t *testing.T, reason string) {
	t.Helper()
	if got := f.repo.bytesSent("/2.0.0/linux/amd64/app.bz2"); got != f.rel.CompressedSize {
		t.Errorf("%d bytes of the payload sent, want %d", got, f.rel.CompressedSize)
	}
	if !strings.Contains(f.log.String(), reason) {
		t.Errorf("the log does not say %q:\n%s", reason, f.log)
	}
}

// resign signs f.rel afresh with f.key and writes its release.json.
func (f *deltaFixture) resign(t testing.TB) {
	t.Helper()
	f.rel.Signatures = nil
	if err := signRelease(f.rel, f.key); err != nil {
		t.Fatal(err)
	}
	data, err := f.rel.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", data)
}
