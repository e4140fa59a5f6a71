package repotool

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/safeupdate/safeupdate/blobrepo"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/release"
)

// DeltaConfig configures Delta.
type DeltaConfig struct {
	// Repo is the repository: a directory, or a file://, s3://, gs:// or
	// azblob:// URL.
	Repo              string
	Version, OS, Arch string // the release to add a patch to
	From              string // the version to patch from
	// Keys re-sign the release. Required.
	Keys []crypto.Signer
	// Pin is the publisher's pin directory: both releases must verify
	// against the release keys of the root reached from it. Without it,
	// each must carry a valid signature by one of Keys.
	Pin string
	// DryRun checks both releases and makes the patch, and reports what
	// would be signed, writing nothing.
	DryRun bool
}

// DeltaResult says what Delta checked, added and signed.
type DeltaResult struct {
	Release *release.Release // as written (as it would be, for a dry run)
	Dir     string           // "<version>/<os>/<arch>"
	Patch   release.Patch    // the patch added ("" File for a dry run)
	// Root is the version of the root, reached from DeltaConfig.Pin, the
	// releases were verified against; 0 without a pin.
	Root int64
	// Dropped are the ids of the keys whose signatures were removed: they
	// signed the release without the patch, so they no longer verify, and
	// those signers must sign again (Sign) for a threshold above one.
	Dropped []string
	Signed  []string // ids of the keys that signed the new release.json
	DryRun  bool
}

// Delta adds to the existing release Version/OS/Arch a patch from the
// release From of the same platform, and re-signs release.json with Keys.
//
// Both releases are read back through the client's reader and verified
// against local trust (see DeltaConfig.Pin) before anything is made: the
// release's payload and the base's are each checked by the client's
// pipeline, the patch is made from the base's binary to the release's,
// written beside them, and checked there as a client checks it
// (reader.Patched) before release.json names it. The release's other
// members are kept; its signatures are replaced by those of Keys (the
// signed content changed). release.json is replaced only if it is still
// the version read (if-match), else ErrConflict; a patch file of the same
// name is refused (ErrExists).
func Delta(ctx context.Context, cfg DeltaConfig) (*DeltaResult, error) {
	const op = "delta"
	if cfg.Repo == "" {
		return nil, errors.New("repotool: delta: no repository directory given")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("repotool: delta: no key given")
	}
	relPath, err := release.Path(cfg.Version, cfg.OS, cfg.Arch)
	if err != nil {
		return nil, fmt.Errorf("repotool: delta: %s", trimPrefix(err))
	}
	if err := release.ValidVersion(cfg.From); err != nil {
		return nil, fmt.Errorf("repotool: delta: --from: %s", trimPrefix(err))
	}
	relDir := path.Dir(relPath)
	s, err := openStore(ctx, cfg.Repo, true, false, nil)
	if err != nil {
		return nil, fmt.Errorf("repotool: delta: %w", err)
	}
	defer s.Close()
	tk, rootVersion, err := deltaTrust(ctx, s, op, cfg.Pin, cfg.Keys)
	if err != nil {
		return nil, err
	}
	data, tok, err := s.readTokened(ctx, relPath, limits.ReleaseJSON)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, errorf(ErrNotFound, "repotool: delta: no release %s in %s", relDir, s.name)
		}
		return nil, fmt.Errorf("repotool: delta: %w", err)
	}
	r, _, err := reader.VerifyRelease(data, tk, cfg.Version, cfg.OS, cfg.Arch)
	if err != nil {
		return nil, errorf(ErrUnanchored, "repotool: delta: release %s in %s does not verify against local trust: %v; nothing was signed", relDir, s.name, err)
	}
	name, err := patchName(r, cfg.From)
	if err != nil {
		return nil, fmt.Errorf("repotool: delta: %w", err)
	}
	for _, p := range r.Patches {
		if p.File == name || p.BaseVersion == cfg.From {
			return nil, errorf(ErrExists, "repotool: delta: release %s already has a patch from %s (%s)", relDir, p.BaseVersion, p.File)
		}
	}
	res := &DeltaResult{Dir: relDir, Root: rootVersion, DryRun: cfg.DryRun}
	bin, err := releaseBinary(ctx, s, r)
	if err != nil {
		return nil, err
	}
	np, err := makePatch(ctx, s.rd, tk, r, bin, cfg.From)
	if err != nil {
		return nil, fmt.Errorf("repotool: delta: %w", err)
	}
	defer np.close()
	for _, sig := range r.Signatures {
		res.Dropped = append(res.Dropped, sig.KeyID)
	}
	r.Patches = append(r.Patches, np.entry)
	r.Signatures = []release.Signature{}
	res.Release, res.Patch = r, np.entry
	for _, k := range cfg.Keys {
		if err := signWith(r, k); err != nil {
			return nil, fmt.Errorf("repotool: delta: %w", err)
		}
		res.Signed = append(res.Signed, keyID(k.Public()))
	}
	res.Dropped = notIn(res.Dropped, res.Signed)
	out, err := r.Marshal()
	if err != nil {
		return nil, fmt.Errorf("repotool: delta: %s", trimPrefix(err))
	}
	if cfg.DryRun {
		return res, nil
	}
	if err := np.upload(ctx, s, r, ""); err != nil {
		return nil, fmt.Errorf("repotool: delta: %w", err)
	}
	if err := s.put(ctx, relPath, bytes.NewReader(out), blobrepo.PutOptions{IfMatch: tok}); err != nil {
		s.remove(context.WithoutCancel(ctx), relDir+"/"+np.entry.File)
		if errors.Is(err, ErrConflict) {
			return nil, errorf(ErrConflict, "repotool: delta: release %s in %s changed meanwhile (another signer?); nothing was written, run delta again", relDir, s.name)
		}
		return nil, fmt.Errorf("repotool: delta: %w", err)
	}
	return res, nil
}

// releaseBinary returns the binary of the verified release r, checked by
// the client's pipeline on the way.
func releaseBinary(ctx context.Context, s *repoStore, r *release.Release) ([]byte, error) {
	f, err := os.CreateTemp("", "safeupdate-new-*")
	if err != nil {
		return nil, fmt.Errorf("repotool: delta: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := reader.Payload(ctx, params(), s.rd, r, f); err != nil {
		return nil, fmt.Errorf("repotool: delta: release %s/%s/%s: %w", r.Version, r.OS, r.Arch, err)
	}
	bin := make([]byte, r.Size)
	if _, err := f.ReadAt(bin, 0); err != nil {
		return nil, fmt.Errorf("repotool: delta: %w", err)
	}
	return bin, nil
}

// notIn returns the ids of a that are not in b, once each.
func notIn(a, b []string) []string {
	skip := map[string]bool{}
	for _, id := range b {
		skip[id] = true
	}
	var out []string
	for _, id := range a {
		if !skip[id] {
			skip[id] = true
			out = append(out, id)
		}
	}
	return out
}
