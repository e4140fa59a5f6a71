package repotool

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/localfile"
	"github.com/safeupdate/safeupdate/internal/platform"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// AddConfig configures Add.
type AddConfig struct {
	// Repo is the repository: a directory (created if missing) or a
	// file://, s3://, gs:// or azblob:// URL (see package blobrepo).
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
	// name. The payload is written as Name plus the compression's suffix.
	Name string
	// Compression is "" or "bzip2" (the payload is Name+".bz2"), or
	// "zstd" (Name+".zst"); see compress.go.
	Compression string
	// ZstdLevel is zstd's level: "" or ZstdBetter, or ZstdBest (smaller
	// payloads, in about three times the time); see compress.go. It is
	// refused with bzip2.
	ZstdLevel string
	// Keys sign the release, one signature each. None makes an unsigned
	// release, which clients refuse unless they opted into unsigned
	// repositories.
	Keys []crypto.Signer
	// Force replaces an existing release of the same version and platform.
	Force bool
	// DeltaFrom are earlier versions of the same platform: for each, a
	// patch from that release's binary to this one is written beside the
	// full payload (which is always written) and signed in release.json.
	// Each base release is read back from the repository by the client's
	// reader and verified first: against the release keys of the root
	// reached from Pin, or, without Pin, as signed by one of Keys.
	DeltaFrom []string
	// Pin is the publisher's pin directory, for DeltaFrom.
	Pin string
	// Progress, when not nil, receives the progress of a long upload.
	Progress io.Writer

	// betweenUploads, when not nil, runs after the payload is uploaded and
	// before release.json is: tests race other publishers there.
	betweenUploads func()
}

// AddResult describes what Add wrote.
type AddResult struct {
	Release *release.Release
	// Dir is where the release is: a local directory, or the URL of the
	// release's prefix in a bucket.
	Dir string
	// Undetected is why the binary's header did not tell its platform, or
	// nil when it did (and then matched Release.OS/Arch).
	Undetected error
}

// Add compresses cfg.Binary into Repo/Version/OS/Arch/Name.bz2 (or .zst) and writes
// release.json beside it, signed by each of cfg.Keys.
//
// The binary is read once, streaming, into a local temporary file: its
// hash and size, and the hash and size of the payload, describe exactly
// the bytes written, and the release is signed before anything is
// uploaded. The payload is written first and release.json last, each
// visible only once complete (see package blobrepo), so a client never sees
// a release whose payload is missing or truncated.
//
// Every write is conditional, which makes Add safe against other
// publishers on every store: an existing release is refused with ErrExists
// unless cfg.Force; of two publishers adding one release at once exactly
// one succeeds and the other gets ErrExists; with Force, each file is
// replaced only if it is still the version read at the start, else
// ErrConflict. If release.json cannot be written after a new payload was,
// the payload is removed again. With Force, a failure between the two
// writes leaves the new payload beside the old release.json, which then
// fails verification rather than verifying the wrong bytes.
//
// Add signs only what it built here from cfg.Binary: nothing it signs comes
// from the storage, so it needs no pin. All it reads there is whether the
// release exists and, with Force, the payload name of the release it
// replaces (so as to remove that file), neither of which is signed. It
// does not check that cfg.Keys are release keys of the repository's root.
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
	suffix, err := payloadSuffix(cfg.Compression)
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	if _, err := zstdLevel(cfg.Compression, cfg.ZstdLevel); err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	name, label := cfg.Name, "--name"
	if name == "" {
		name, label = filepath.Base(cfg.Binary), "binary name (give --name)"
	}
	payloadName := name + suffix
	for _, n := range []string{name, payloadName} {
		if err := release.ValidName(n); err != nil {
			return nil, fmt.Errorf("repotool: add: %s: %w", label, err)
		}
	}

	bin, fi, err := localfile.Open(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	defer bin.Close()
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
	s, err := openStore(ctx, cfg.Repo, true, true, nil)
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	defer s.Close()
	res.Dir = s.pathOf(relDir)
	a := &adder{s: s, cfg: cfg, relDir: relDir, metaPath: relDir + "/" + release.FileName, payloadPath: relDir + "/" + payloadName}
	if err := a.check(ctx); err != nil {
		return nil, err
	}

	r := &release.Release{Binary: payloadName, Version: cfg.Version, OS: goos, Arch: goarch, Signatures: []release.Signature{}}
	tmp, err := os.CreateTemp(s.dir, "."+payloadName+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	bar := newProgress(cfg.Progress, "compressing "+filepath.Base(cfg.Binary), fi.Size())
	err = compress(ctx, tmp, bar.Reader(bin), r, cfg.Compression, cfg.ZstdLevel)
	bar.Done(err)
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %s: %w", cfg.Binary, err)
	}
	patches, err := a.patches(ctx, r)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, np := range patches {
			np.close()
		}
	}()
	for _, k := range cfg.Keys {
		if err := signWith(r, k); err != nil {
			return nil, fmt.Errorf("repotool: add: %w", err)
		}
	}
	meta, err := r.Marshal()
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %s", trimPrefix(err))
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	if err := a.write(ctx, tmp, r, patches, meta); err != nil {
		return nil, err
	}
	res.Release = r
	return res, nil
}

// adder holds what Add learnt of the existing release.
type adder struct {
	s                     *repoStore
	cfg                   AddConfig
	relDir                string
	metaPath, payloadPath string
	metaTok, payloadTok   string           // tokens at the start, "" if absent
	old                   *release.Release // the release replaced, if readable
}

// check refuses an existing release unless Force, and remembers the
// tokens the writes are conditional on.
func (a *adder) check(ctx context.Context) error {
	var err error
	if a.metaTok, err = a.s.token(ctx, a.metaPath); err != nil {
		return fmt.Errorf("repotool: add: %w", err)
	}
	if a.metaTok != "" && !a.cfg.Force {
		return a.exists()
	}
	if a.payloadTok, err = a.s.token(ctx, a.payloadPath); err != nil {
		return fmt.Errorf("repotool: add: %w", err)
	}
	if a.payloadTok != "" && !a.cfg.Force {
		return a.orphan()
	}
	if a.metaTok != "" {
		if data, err := readRepoFile(ctx, a.s.rd, a.metaPath, limits.ReleaseJSON); err == nil {
			a.old, _ = release.ParseLegacyUnsafe(data)
		}
	}
	return nil
}

func (a *adder) exists() error {
	return errorf(ErrExists, "repotool: add: release %s already exists in %s", a.relDir, a.s.where())
}

func (a *adder) orphan() error {
	return errorf(ErrExists, "repotool: add: %s already exists in %s without a release.json: another add of %s is running, or one was interrupted", path.Base(a.payloadPath), a.s.where(), a.relDir)
}

// patches makes the patches of cfg.DeltaFrom to r, and lists them in r.
func (a *adder) patches(ctx context.Context, r *release.Release) (_ []*newPatch, err error) {
	if len(a.cfg.DeltaFrom) == 0 {
		return nil, nil
	}
	if len(a.cfg.DeltaFrom) > limits.Patches {
		return nil, fmt.Errorf("repotool: add: %d patches, a release may sign at most %d", len(a.cfg.DeltaFrom), limits.Patches)
	}
	tk, _, err := deltaTrust(ctx, a.s, "add", a.cfg.Pin, a.cfg.Keys)
	if err != nil {
		return nil, err
	}
	bin, err := readBinary(a.cfg.Binary, r)
	if err != nil {
		return nil, fmt.Errorf("repotool: add: %w", err)
	}
	var out []*newPatch
	defer func() {
		if err != nil {
			for _, np := range out {
				np.close()
			}
		}
	}()
	seen := map[string]bool{}
	for _, from := range a.cfg.DeltaFrom {
		if seen[from] {
			return nil, fmt.Errorf("repotool: add: --delta-from %s given twice", from)
		}
		seen[from] = true
		if a.cfg.Progress != nil {
			fmt.Fprintf(a.cfg.Progress, "making the patch from %s\n", from)
		}
		np, err := makePatch(ctx, a.s.rd, tk, r, bin, from)
		if err != nil {
			return nil, fmt.Errorf("repotool: add: %w", err)
		}
		out = append(out, np)
		r.Patches = append(r.Patches, np.entry)
	}
	return out, nil
}

// write uploads the payload from f, then the patches, then release.json.
func (a *adder) write(ctx context.Context, f io.Reader, r *release.Release, patches []*newPatch, meta []byte) error {
	size := r.CompressedSize
	bar := newProgress(a.cfg.Progress, "uploading "+a.payloadPath, size)
	err := a.s.put(ctx, a.payloadPath, bar.Reader(f), ifUnchanged(a.payloadTok))
	bar.Done(err)
	if errors.Is(err, ErrExists) {
		// Lost the race: say what the winner left.
		if tok, terr := a.s.token(ctx, a.metaPath); terr == nil && tok != "" {
			return a.exists()
		}
		return a.orphan()
	}
	if errors.Is(err, ErrConflict) {
		return errorf(ErrConflict, "repotool: add: release %s in %s changed while this add replaced it (another publisher?); run again", a.relDir, a.s.where())
	}
	if err != nil {
		return fmt.Errorf("repotool: add: %w", err)
	}
	var uploaded []string
	undo := func() {
		if a.payloadTok == "" && !a.named(context.WithoutCancel(ctx)) {
			// Nothing refers to the new payload: remove it, so that a
			// retry does not find it in the way.
			a.s.remove(context.WithoutCancel(ctx), a.payloadPath)
		}
		for _, p := range uploaded {
			a.s.remove(context.WithoutCancel(ctx), p)
		}
	}
	for _, np := range patches {
		if err := a.uploadPatch(ctx, r, np); err != nil {
			undo()
			return fmt.Errorf("repotool: add: %w", err)
		}
		uploaded = append(uploaded, a.relDir+"/"+np.entry.File)
	}
	if a.cfg.betweenUploads != nil {
		a.cfg.betweenUploads()
	}
	err = ctx.Err()
	if err == nil {
		err = a.s.put(ctx, a.metaPath, bytes.NewReader(meta), ifUnchanged(a.metaTok))
	}
	if err != nil {
		undo()
		switch {
		case errors.Is(err, ErrExists):
			return a.exists()
		case errors.Is(err, ErrConflict):
			return errorf(ErrConflict, "repotool: add: release %s in %s changed while this add replaced it (another publisher?); run again", a.relDir, a.s.where())
		}
		return fmt.Errorf("repotool: add: %w", err)
	}
	if a.old != nil && a.old.Binary != path.Base(a.payloadPath) && release.ValidName(a.old.Binary) == nil {
		// The replaced release named another payload; nothing refers to
		// it any more.
		a.s.remove(ctx, a.relDir+"/"+a.old.Binary)
	}
	return nil
}

// uploadPatch writes np beside the release and checks it there; an
// existing file of its name is replaced only with Force.
func (a *adder) uploadPatch(ctx context.Context, r *release.Release, np *newPatch) error {
	name := a.relDir + "/" + np.entry.File
	tok, err := a.s.token(ctx, name)
	if err != nil {
		return err
	}
	if tok != "" && !a.cfg.Force {
		return errorf(ErrExists, "%s already exists in %s", name, a.s.where())
	}
	bar := newProgress(a.cfg.Progress, "uploading "+name, np.entry.Size)
	err = np.upload(ctx, a.s, r, tok)
	bar.Done(err)
	return err
}

// named reports whether the release.json now in the repository names the
// payload: when another publisher wrote it first with --force, it replaced
// the payload this add uploaded with its own, and deleting that would
// leave its release without one. A payload of this add left behind is
// reported by the next add ("interrupted"), and --force replaces it.
func (a *adder) named(ctx context.Context) bool {
	data, err := readRepoFile(ctx, a.s.rd, a.metaPath, limits.ReleaseJSON)
	if err != nil {
		return false
	}
	r, err := release.ParseLegacyUnsafe(data)
	return err == nil && r.Binary == path.Base(a.payloadPath)
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

// signWith adds a signature by k to r.
func signWith(r *release.Release, k crypto.Signer) error {
	s, err := keys.NewSigner(k)
	if err != nil {
		return trimmed(err)
	}
	if _, err := r.Sign(s); err != nil {
		return trimmed(err)
	}
	return nil
}
