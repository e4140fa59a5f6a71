package repotool

import (
	"bytes"
	"compress/bzip2"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

func TestAddWritesRelease(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	writeELF(t, bin, elf.EM_X86_64, 50000)
	repo := filepath.Join(dir, "repo")
	k := newSigner(t, keys.ECDSAP256)
	res, err := Add(context.Background(), AddConfig{Repo: repo, Binary: bin, Version: "v1.2.3", Keys: []crypto.Signer{k}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Undetected != nil {
		t.Errorf("Undetected = %v for an ELF binary", res.Undetected)
	}
	relDir := filepath.Join(repo, "v1.2.3", "linux", "amd64")
	data, err := os.ReadFile(filepath.Join(relDir, "release.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := release.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(bin)
	z, err := os.ReadFile(filepath.Join(relDir, "app.bz2"))
	if err != nil {
		t.Fatal(err)
	}
	unz, err := io.ReadAll(bzip2.NewReader(bytes.NewReader(z)))
	if err != nil {
		t.Fatalf("payload does not decompress: %v", err)
	}
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	for _, c := range []struct{ name, got, want string }{
		{"binary", r.Binary, "app.bz2"},
		{"version", r.Version, "v1.2.3"},
		{"os/arch", r.OS + "/" + r.Arch, "linux/amd64"},
		{"hash", r.Hash, sum(raw)},
		{"compressed_hash", r.CompressedHash, sum(z)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if r.Size != int64(len(raw)) || r.CompressedSize != int64(len(z)) {
		t.Errorf("sizes %d/%d, want %d/%d", r.Size, r.CompressedSize, len(raw), len(z))
	}
	if !bytes.Equal(unz, raw) {
		t.Error("payload does not decompress to the binary")
	}
	if len(r.Signatures) != 1 {
		t.Fatalf("%d signatures, want 1", len(r.Signatures))
	}
	for _, name := range []string{"release.json", "app.bz2"} {
		fi, err := os.Stat(filepath.Join(relDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", name, fi.Mode().Perm())
		}
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
}

func TestAddRefusesExistingRelease(t *testing.T) {
	repo := releaseRepo(t, "1.0.0")
	bin := filepath.Join(t.TempDir(), "other")
	writeELF(t, bin, elf.EM_X86_64, 1000)
	before, _ := os.ReadFile(filepath.Join(repo, "1.0.0/linux/amd64/release.json"))
	_, err := Add(context.Background(), AddConfig{Repo: repo, Binary: bin, Version: "1.0.0"})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	after, _ := os.ReadFile(filepath.Join(repo, "1.0.0/linux/amd64/release.json"))
	if !bytes.Equal(before, after) {
		t.Error("release.json changed")
	}
	if _, err := os.Stat(filepath.Join(repo, "1.0.0/linux/amd64/other.bz2")); err == nil {
		t.Error("payload written for a refused release")
	}
}

func TestAddForceReplacesRelease(t *testing.T) {
	repo := releaseRepo(t, "1.0.0")
	bin := filepath.Join(t.TempDir(), "other")
	writeELF(t, bin, elf.EM_X86_64, 1000)
	res, err := Add(context.Background(), AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repo, "1.0.0/linux/amd64")
	data, _ := os.ReadFile(filepath.Join(dir, "release.json"))
	r, err := release.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.Binary != "other.bz2" || r.Hash != res.Release.Hash {
		t.Errorf("release.json names %s %s, want the new binary", r.Binary, r.Hash)
	}
	if _, err := os.Stat(filepath.Join(dir, "app.bz2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the replaced payload app.bz2 was kept (err %v)", err)
	}
}

func TestAddPlatform(t *testing.T) {
	dir := t.TempDir()
	arm := filepath.Join(dir, "arm")
	writeELF(t, arm, elf.EM_AARCH64, 100)
	sparc := filepath.Join(dir, "sparc")
	writeELF(t, sparc, elf.EM_SPARCV9, 100)
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755)
	tests := []struct {
		name, bin, os, arch string
		want                string // os/arch of the release
		wantErr             string
		undetected          bool
	}{
		{name: "from header", bin: arm, want: "linux/arm64"},
		{name: "explicit matching", bin: arm, os: "linux", arch: "arm64", want: "linux/arm64"},
		{name: "contradicting arch", bin: arm, os: "linux", arch: "amd64", wantErr: "binary is linux/arm64, not linux/amd64"},
		{name: "contradicting os", bin: arm, os: "darwin", wantErr: "binary is linux/arm64, not darwin/arm64"},
		{name: "not executable, no platform", bin: script, wantErr: "cannot tell the platform"},
		{name: "not executable, only os", bin: script, os: "linux", wantErr: "cannot tell the platform"},
		{name: "not executable, given", bin: script, os: "linux", arch: "riscv64", want: "linux/riscv64", undetected: true},
		{name: "executable for no Go platform", bin: sparc, os: "linux", arch: "amd64", wantErr: "not a binary for a platform Go supports"},
		{name: "unknown pair", bin: script, os: "linux", arch: "sparc", wantErr: "not a platform Go knows"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := filepath.Join(dir, "repo", string(rune('a'+i)))
			res, err := Add(context.Background(), AddConfig{Repo: repo, Binary: tt.bin, Version: "1.0.0", OS: tt.os, Arch: tt.arch})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if _, err := os.Stat(repo); err == nil {
					t.Errorf("repository created for a refused binary")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Release.OS + "/" + res.Release.Arch; got != tt.want {
				t.Errorf("platform %s, want %s", got, tt.want)
			}
			if (res.Undetected != nil) != tt.undetected {
				t.Errorf("Undetected = %v, want set: %v", res.Undetected, tt.undetected)
			}
		})
	}
	var pe *PlatformError
	_, err := Add(context.Background(), AddConfig{Repo: filepath.Join(dir, "r"), Binary: arm, Version: "1.0.0", Arch: "amd64"})
	if !errors.As(err, &pe) || pe.OS != "linux" || pe.Arch != "arm64" || pe.WantArch != "amd64" {
		t.Errorf("err = %#v, want a *PlatformError", err)
	}
}

func TestRejectsPathsInAdd(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	writeELF(t, bin, elf.EM_X86_64, 100)
	repo := filepath.Join(dir, "repo")
	tests := []struct{ name, version, binName string }{
		{"version with dot-dot", "../1.0.0", ""},
		{"version with slash", "1.0.0/x", ""},
		{"version with backslash", `1.0.0\x`, ""},
		{"version with space", "1.0.0 ", ""},
		{"version with control", "1.0.0\n", ""},
		{"name with slash", "1.0.0", "a/b"},
		{"name with backslash", "1.0.0", `a\b`},
		{"name dot-dot", "1.0.0", ".."},
		{"name URL", "1.0.0", "http:x"},
		{"name reserved", "1.0.0", "release.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Add(context.Background(), AddConfig{Repo: repo, Binary: bin, Version: tt.version, Name: tt.binName})
			if err == nil {
				t.Fatal("accepted")
			}
			if _, err := os.Stat(repo); err == nil {
				t.Error("repository written")
			}
		})
	}
}

// failingSigner has a real public key but cannot sign, as a hardware key
// that is unplugged mid-operation.
type failingSigner struct{ pub ed25519.PublicKey }

func (f failingSigner) Public() crypto.PublicKey { return f.pub }
func (f failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("signer unplugged")
}

func TestSurvivesFailedAdd(t *testing.T) {
	good := newSigner(t, keys.Ed25519)
	bad := failingSigner{pub: newSigner(t, keys.Ed25519).Public().(ed25519.PublicKey)}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		keys []crypto.Signer
	}{
		{"cancelled while compressing", cancelled, nil},
		{"signer fails before anything is uploaded", context.Background(), []crypto.Signer{good, bad}},
	}
	for _, tt := range tests {
		for _, existing := range []bool{false, true} {
			name := tt.name
			if existing {
				name += ", replacing a release"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				bin := filepath.Join(dir, "app")
				writeELF(t, bin, elf.EM_X86_64, 30000)
				repo := filepath.Join(dir, "repo")
				relDir := filepath.Join(repo, "1.0.0/linux/amd64")
				if existing {
					if _, err := Add(context.Background(), AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{good}}); err != nil {
						t.Fatal(err)
					}
				}
				before := snapshot(t, relDir)
				writeELF(t, bin, elf.EM_X86_64, 40000)
				_, err := Add(tt.ctx, AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Keys: tt.keys, Force: true})
				if err == nil {
					t.Fatal("Add succeeded")
				}
				if l := leftovers(t, dir); len(l) > 0 {
					t.Errorf("temporary files left: %v", l)
				}
				if after := snapshot(t, relDir); after != before {
					t.Errorf("release directory changed:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}
}

// snapshot describes the files of dir and their hashes.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var b strings.Builder
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		h := sha256.Sum256(data)
		b.WriteString(e.Name() + ":" + hex.EncodeToString(h[:4]) + " ")
	}
	return b.String()
}

func TestSurvivesRenameFailure(t *testing.T) {
	// release.json is a directory, so the last rename fails after the
	// payload was renamed into place.
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	writeELF(t, bin, elf.EM_X86_64, 1000)
	repo := filepath.Join(dir, "repo")
	blocker := filepath.Join(repo, "1.0.0/linux/amd64/release.json")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Add(context.Background(), AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Force: true}); err == nil {
		t.Fatal("Add succeeded")
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
	// The new payload, which no release.json refers to, is gone too.
	if _, err := os.Stat(filepath.Join(repo, "1.0.0/linux/amd64/app.bz2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("payload left behind: %v", err)
	}
}

// A version directory that is a symbolic link out of a local repository
// must not make add write the release outside it: the add fails, naming
// the link, and the directory the link points at stays empty.
func TestRejectsAddThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	writeELF(t, bin, elf.EM_X86_64, 1000)
	repo, outside := filepath.Join(dir, "repo"), filepath.Join(dir, "outside")
	for _, d := range []string{repo, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(repo, "3.0.0")); err != nil {
		t.Fatal(err)
	}
	for _, force := range []bool{false, true} {
		_, err := Add(context.Background(), AddConfig{Repo: repo, Binary: bin, Version: "3.0.0", Keys: []crypto.Signer{newSigner(t, keys.Ed25519)}, Force: force})
		if err == nil || !strings.Contains(err.Error(), "3.0.0 is a symbolic link leading out of the repository") {
			t.Errorf("Add (force %v) error = %v, want one naming the link 3.0.0", force, err)
		}
		if entries, _ := os.ReadDir(outside); len(entries) != 0 {
			t.Fatalf("Add (force %v) wrote outside the repository: %v", force, entries)
		}
	}
}
