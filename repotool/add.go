package repotool

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/platform"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// AddConfig configures Add.
type AddConfig struct {
	// Repo is the repository directory; it is created if missing.
	Repo string
	// Binary is the executable to publish.
	Binary string
	// Version is a semantic version, with or without a leading "v".
	Version string
	// OS and Arch name the platform. "" means the one the binary's header
	// names; a value that contradicts the header is refused (*PlatformError).
	// When the header cannot be read, both are required.
	OS, Arch string
	// Name is the binary's name in the release; "" means Binary's base
	// name. The payload is written as Name+".bz2".
	Name string
	// Keys sign the release, one signature each. None makes an unsigned
	// release, which clients refuse unless they opted into unsigned
	// repositories.
	Keys []crypto.Signer
	// Force replaces an existing release of the same version and platform.
	Force bool
}

// AddResult describes what Add wrote.
type AddResult struct {
	Release *release.Release
	Dir     string // directory of the release on disk
	// Undetected is why the binary's header did not tell its platform, or
	// nil when it did (and then matched Release.OS/Arch).
	Undetected error
}

// Add compresses cfg.Binary with bzip2 into Repo/Version/OS/Arch/Name.bz2
// and writes release.json beside it, signed by each of cfg.Keys.
//
// The binary is read once, streaming: its hash and size, and the hash and
// size of the payload, describe exactly the bytes written. The payload is
// written first and release.json last, each through a temporary file,
// fsync and rename, then the directory is synced; on any failure the
// temporary files are removed and an existing release is left as it was
// (with Force, a failure between the two renames leaves the new payload
// beside the old release.json, which then fails verification rather than
// verifying the wrong bytes). An existing release is refused with ErrExists
// unless cfg.Force.
//
// Add does not check that the binary is safe to run, only that it is what
// its header claims to be.
func Add(ctx context.Context, cfg AddConfig) (*AddResult, error) {
	if cfg.Repo == "" {
		return nil, errors.New("repotool: add: no repository directory given")
	}
	if err := release.ValidVersion(cfg.Version); err != nil {
		return nil, fmt.Errorf("repotool: add: %s", trimPrefix(err))
	}
	name, label := cfg.Name, "--name"
	if name == "" {
		name, label = filepath.Base(cfg.Binary), "binary name (give --name)"
	}
	payloadName := name + ".bz2"
	for _, n := range []string{name, payloadName} {
		if err := release.ValidName(n); err != nil {
			return nil, fmt.Errorf("repotool: add: %s: %w", label, err)
		}
	}

	bin, err := os.Open(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	defer bin.Close()
	fi, err := bin.Stat()
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("repotool: add: %s is not a regular file", cfg.Binary)
	}
	if fi.Size() == 0 || fi.Size() > limits.BinarySize {
		return nil, fmt.Errorf("repotool: add: %s is %d bytes; a binary must be 1 byte to %d bytes", cfg.Binary, fi.Size(), int64(limits.BinarySize))
	}
	res := &AddResult{}
	goos, goarch, undetected, err := resolvePlatform(bin, cfg)
	if err != nil {
		return nil, err
	}
	res.Undetected = undetected
	relDir, err := release.Dir(cfg.Version, goos, goarch)
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %s", trimPrefix(err))
	}
	dir := filepath.Join(cfg.Repo, filepath.FromSlash(relDir))
	res.Dir = dir
	metaPath := filepath.Join(dir, release.FileName)
	old, err := existingRelease(metaPath, relDir, cfg.Force)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}

	payload, err := newPending(dir, payloadName)
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	defer payload.Cleanup()
	r := &release.Release{Binary: payloadName, Version: cfg.Version, OS: goos, Arch: goarch, Signatures: []release.Signature{}}
	if err := compress(ctx, payload, bin, r, ""); err != nil {
		return nil, fmt.Errorf("repotool: add: %s: %w", cfg.Binary, err)
	}
	if err := payload.finish(0o644); err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	for _, k := range cfg.Keys {
		if err := signWith(r, k); err != nil {
			return nil, fmt.Errorf("repotool: add: %w", err)
		}
	}
	meta, err := r.Marshal()
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %s", trimPrefix(err))
	}
	metaFile, err := newPending(dir, release.FileName)
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	defer metaFile.Cleanup()
	if _, err := metaFile.Write(meta); err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	if err := metaFile.finish(0o644); err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	if err := payload.commit(filepath.Join(dir, payloadName)); err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	if err := metaFile.commit(metaPath); err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	if old != nil && old.Binary != payloadName {
		// The replaced release named another payload; nothing refers to
		// it any more.
		os.Remove(filepath.Join(dir, old.Binary))
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	res.Release = r
	return res, nil
}

// resolvePlatform returns the platform from the binary's header, checked
// against cfg; or, when the file's format does not tell (not an executable,
// or a universal Mach-O), cfg's platform and the reason.
func resolvePlatform(bin io.ReaderAt, cfg AddConfig) (goos, goarch string, undetected, err error) {
	dos, darch, derr := platform.Detect(bin)
	switch {
	case errors.Is(derr, platform.ErrUnknownFormat), errors.Is(derr, platform.ErrUniversalBinary):
		if cfg.OS == "" || cfg.Arch == "" {
			return "", "", nil, errorf(ErrUnknownPlatform, "repotool: add: cannot tell the platform of %s (%s); give --os and --arch", cfg.Binary, trimPrefix(derr))
		}
		return cfg.OS, cfg.Arch, derr, nil
	case errors.Is(derr, platform.ErrUnsupported):
		return "", "", nil, fmt.Errorf("repotool: add: %s is not a binary for a platform Go supports: %s", cfg.Binary, trimPrefix(derr))
	case derr != nil:
		return "", "", nil, fmt.Errorf("repotool: add: %s: %s", cfg.Binary, trimPrefix(derr))
	}
	want := func(given, detected string) string {
		if given == "" {
			return detected
		}
		return given
	}
	wos, warch := want(cfg.OS, dos), want(cfg.Arch, darch)
	if wos != dos || warch != darch {
		return "", "", nil, &PlatformError{Binary: cfg.Binary, OS: dos, Arch: darch, WantOS: wos, WantArch: warch}
	}
	return dos, darch, nil, nil
}

// existingRelease refuses an existing release unless force, and returns it
// (nil if absent or unreadable) so that a replaced payload can be removed.
func existingRelease(metaPath, relDir string, force bool) (*release.Release, error) {
	data, err := readFileLimit(metaPath, limits.ReleaseJSON)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if !force {
		return nil, errorf(ErrExists, "repotool: add: release %s already exists in the repository", relDir)
	}
	if err != nil {
		return nil, nil
	}
	old, err := release.ParseLegacyUnsafe(data)
	if err != nil {
		return nil, nil
	}
	return old, nil
}

// signWith adds a signature by k to r.
func signWith(r *release.Release, k crypto.Signer) error {
	s, err := keys.NewSigner(k)
	if err != nil {
		return errors.New(trimPrefix(err))
	}
	if _, err := r.Sign(s); err != nil {
		return errors.New(trimPrefix(err))
	}
	return nil
}
