package blobsource_test

import (
	"bytes"
	"crypto"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/blobrepo"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/repotool"
)

// buildApp builds testdata/app for this platform with the given version
// compiled in, and returns the executable's path: a real Go binary, small
// enough (stripped) for the tests to publish quickly.
func buildApp(t *testing.T, version string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the end-to-end tests build a Go program and need the go command: %v", err)
	}
	exe := filepath.Join(t.TempDir(), "app")
	if runtime.GOOS == "windows" {
		exe += ".exe"
	}
	cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w -X main.version="+version, "-o", exe, "./testdata/app")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build testdata/app: %v\n%s", err, out)
	}
	return exe
}

// runApp runs an executable built by buildApp and returns what it printed.
func runApp(t *testing.T, exe string) string {
	t.Helper()
	out, err := exec.Command(exe).CombinedOutput()
	if err != nil {
		t.Fatalf("running %s: %v\n%s", exe, err, out)
	}
	return strings.TrimSpace(string(out))
}

// releaseKey makes a signing key pair with repotool.Keygen, as
// `repotool keygen --unencrypted` does, and returns the signer and the
// public key's PEM, which the client pins.
func releaseKey(t *testing.T) (crypto.Signer, []byte) {
	t.Helper()
	res, err := repotool.Keygen(repotool.KeygenConfig{Out: filepath.Join(t.TempDir(), "release"), Unencrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := repotool.LoadPrivateKey(res.KeyPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(res.PublicPath)
	if err != nil {
		t.Fatal(err)
	}
	return signer, pub
}

// localRelease adds bin as version of "app" for this platform to a new
// local repository with repotool.Add, signed by key, and returns the
// repository's directory and the release.
func localRelease(t *testing.T, bin, version string, key crypto.Signer) (string, *release.Release) {
	t.Helper()
	local := t.TempDir()
	res, err := repotool.Add(t.Context(), repotool.AddConfig{
		Repo: local, Binary: bin, Version: version, Name: "app", Keys: []crypto.Signer{key},
	})
	if err != nil {
		t.Fatalf("repotool.Add: %v", err)
	}
	if res.Release.OS != runtime.GOOS || res.Release.Arch != runtime.GOARCH {
		t.Fatalf("published %s/%s, want this platform %s/%s", res.Release.OS, res.Release.Arch, runtime.GOOS, runtime.GOARCH)
	}
	return local, res.Release
}

// upload copies the local repository into the one at repoURL, object by
// object with blobrepo.Put: the keys are the repository's relative paths,
// as with any sync tool.
func upload(t *testing.T, local, repoURL string) {
	t.Helper()
	st := openStore(t, repoURL)
	err := filepath.WalkDir(local, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(local, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return st.Put(t.Context(), filepath.ToSlash(rel), bytes.NewReader(data), blobrepo.PutOptions{CreateOnly: true})
	})
	if err != nil {
		t.Fatalf("uploading the repository to %s: %v", repoURL, err)
	}
}

// publish adds bin as version of "app" for this platform to the repository
// at repoURL with repotool.Add, as `repotool add --repo URL` does, signed
// by key.
func publish(t *testing.T, repoURL, bin, version string, key crypto.Signer) {
	t.Helper()
	res, err := repotool.Add(t.Context(), repotool.AddConfig{
		Repo: repoURL, Binary: bin, Version: version, Name: "app", Keys: []crypto.Signer{key},
	})
	if err != nil {
		t.Fatalf("repotool.Add to %s: %v", repoURL, err)
	}
	if res.Release.OS != runtime.GOOS || res.Release.Arch != runtime.GOARCH {
		t.Fatalf("published %s/%s, want this platform %s/%s", res.Release.OS, res.Release.Arch, runtime.GOOS, runtime.GOARCH)
	}
}

func releaseDir(t *testing.T, version string) string {
	t.Helper()
	dir, err := release.Dir(version, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// installed writes content as the installed binary, in a new directory,
// and returns its path.
func installed(t *testing.T, content []byte) string {
	t.Helper()
	target := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(target, content, 0o755); err != nil {
		t.Fatal(err)
	}
	return target
}

// checkUntouched checks that a refused update left target as it was: same
// bytes, no backup, no temporary file beside it (the lock file may stay).
func checkUntouched(t *testing.T, target string, old []byte) {
	t.Helper()
	got, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, old) {
		t.Errorf("%s changed although the update was refused", target)
	}
	entries, err := os.ReadDir(filepath.Dir(target))
	if err != nil {
		t.Fatal(err)
	}
	lock := "." + filepath.Base(target) + ".safeupdate.lock"
	for _, e := range entries {
		if e.Name() != filepath.Base(target) && e.Name() != lock {
			t.Errorf("refused update left %s beside the target", e.Name())
		}
	}
}
