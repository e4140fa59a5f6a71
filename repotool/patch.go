package repotool

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/safeupdate/safeupdate/internal/bsdiff"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// Patches are made from a base release read back from the repository
// through the client's reader and verified against trust the publisher
// holds locally (deltaTrust), never from a file the storage could have
// swapped; the patch is checked, once written, with the client's own code
// (reader.Patched) before release.json names it.

// deltaTrust is what a base release must be signed by: the release keys
// of the root reached from the pin pinDir, when given; else the keys the
// publisher signs with (each counts, one suffices). Neither is
// ErrUnanchored.
func deltaTrust(ctx context.Context, s *repoStore, op, pinDir string, ks []crypto.Signer) (trust.Verifier, int64, error) {
	if pinDir != "" {
		p, err := loadPin(op, pinDir)
		if err != nil {
			return nil, 0, err
		}
		root, err := pinnedRoot(ctx, s, op, p)
		if err != nil {
			return nil, 0, err
		}
		return root.Targets(), root.Version(), nil
	}
	if len(ks) == 0 {
		return nil, 0, errorf(ErrUnanchored, "repotool: %s: nothing to check the base release against: give a pin directory (--pin DIR), or sign with the key that signed the base release (--key)", op)
	}
	var pubs []crypto.PublicKey
	for _, k := range ks {
		pubs = append(pubs, k.Public())
	}
	tk, err := trust.NewKeys(pubs, 1)
	if err != nil {
		return nil, 0, fmt.Errorf("repotool: %s: %s", op, trimPrefix(err))
	}
	return tk, 0, nil
}

// patchName is the file name of the patch to the release r from version
// from: NAME-from-VERSION.bsdiff, NAME being r's binary without its
// compression suffix.
func patchName(r *release.Release, from string) (string, error) {
	name := r.Binary
	for _, kind := range []string{kindBzip2, kindZstd} {
		suffix, _ := payloadSuffix(kind)
		name = strings.TrimSuffix(name, suffix)
	}
	n := name + "-from-" + from + ".bsdiff"
	if err := release.ValidName(n); err != nil {
		return "", fmt.Errorf("patch name: %s", trimPrefix(err))
	}
	return n, nil
}

// newPatch is a patch made and not yet named by a release.
type newPatch struct {
	entry release.Patch
	file  *os.File // the patch
	base  *os.File // the base binary, verified
}

func (np *newPatch) close() {
	for _, f := range []*os.File{np.file, np.base} {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
}

// makePatch makes the patch to r, whose binary is bin (sha256 and size
// those r signs), from the release from of r's platform in rd: that
// release is verified with tk (reader.Release) and its payload checked by
// the client's pipeline (reader.Payload) into a temporary file, the base.
// The caller must close the result.
func makePatch(ctx context.Context, rd repoReader, tk trust.Verifier, r *release.Release, bin []byte, from string) (*newPatch, error) {
	if cmp, err := release.CompareVersions(from, r.Version); err != nil || cmp == 0 {
		return nil, fmt.Errorf("a patch from %s to %s: want another valid version", from, r.Version)
	}
	name, err := patchName(r, from)
	if err != nil {
		return nil, err
	}
	base, _, err := reader.Release(ctx, params(), rd, tk, from, r.OS, r.Arch)
	if err != nil {
		return nil, fmt.Errorf("base release %s/%s/%s: %w", from, r.OS, r.Arch, err)
	}
	np := &newPatch{}
	if np.base, err = os.CreateTemp("", "safeupdate-base-*"); err != nil {
		return nil, err
	}
	if err := reader.Payload(ctx, params(), rd, base, np.base); err != nil {
		np.close()
		return nil, fmt.Errorf("base release %s/%s/%s: %w", from, r.OS, r.Arch, err)
	}
	old := make([]byte, base.Size)
	if _, err := np.base.ReadAt(old, 0); err != nil {
		np.close()
		return nil, fmt.Errorf("reading the base binary back: %w", err)
	}
	if np.file, err = os.CreateTemp("", "safeupdate-patch-*"); err != nil {
		np.close()
		return nil, err
	}
	h := sha256.New()
	cw := &countWriter{}
	if err := bsdiff.Diff(io.MultiWriter(np.file, h, cw), old, bin); err != nil {
		np.close()
		return nil, fmt.Errorf("making the patch from %s: %w", from, err)
	}
	np.entry = release.Patch{
		BaseVersion: from, BaseHash: base.Hash, BaseSize: base.Size,
		File: name, Hash: hex.EncodeToString(h.Sum(nil)), Size: cw.n, Format: release.PatchFormat,
	}
	return np, nil
}

// upload writes the patch into s beside r's release.json (create-only,
// or replacing the version tok), then checks it there as a client does:
// reader.Patched from the stored patch and the verified base must make
// exactly r's binary. A patch that fails is removed again.
func (np *newPatch) upload(ctx context.Context, s *repoStore, r *release.Release, tok string) error {
	p, err := r.PatchPath(np.entry)
	if err != nil {
		return errors.New(trimPrefix(err))
	}
	if _, err := np.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := s.put(ctx, p, np.file, ifUnchanged(tok)); err != nil {
		return err
	}
	check, err := os.CreateTemp("", "safeupdate-check-*")
	if err != nil {
		return err
	}
	defer os.Remove(check.Name())
	defer check.Close()
	if err := reader.Patched(ctx, params(), s.rd, r, np.entry, np.base, check, io.Discard); err != nil {
		s.remove(context.WithoutCancel(ctx), p)
		return fmt.Errorf("the patch from %s does not check as clients check it (removed): %w", np.entry.BaseVersion, err)
	}
	return nil
}

// checkPatches checks every patch of the verified release r in rd as a
// client whose binary is its base would (reader.CheckPatch): the base
// release verified with tk, its payload checked, the patch downloaded,
// checked and applied, and the result compared with r's signed binary.
func checkPatches(ctx context.Context, rd repoReader, tk trust.Verifier, r *release.Release) error {
	for _, pt := range r.Patches {
		if err := checkPatch(ctx, rd, tk, r, pt); err != nil {
			return fmt.Errorf("patch %s: %w", pt.File, err)
		}
	}
	return nil
}

func checkPatch(ctx context.Context, rd repoReader, tk trust.Verifier, r *release.Release, pt release.Patch) error {
	var tmps [2]*os.File
	for i := range tmps {
		f, err := os.CreateTemp("", "safeupdate-verify-*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		tmps[i] = f
	}
	return reader.CheckPatch(ctx, params(), rd, tk, r, pt, tmps[0], tmps[1])
}

// readBinary reads the binary at path whole, and checks that it is still
// the one r signs (it was hashed when r was made).
func readBinary(path string, r *release.Release) ([]byte, error) {
	b, err := readLocal(path, limits.BinarySize)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if int64(len(b)) != r.Size || hex.EncodeToString(sum[:]) != r.Hash {
		return nil, fmt.Errorf("%s changed while it was being added", path)
	}
	return b, nil
}
