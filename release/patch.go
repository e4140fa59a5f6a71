package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/safeupdate/safeupdate/internal/limits"
)

// PatchFormat is the only patch format a release may name: Colin
// Percival's bsdiff 4.0 (BSDIFF40), as bspatch reads it.
const PatchFormat = "bsdiff40"

// Patch is one signed patch of a release: applied to the binary of the
// release BaseVersion for the same platform, whose sha256 and size are
// BaseHash and BaseSize, the patch in File (sha256 Hash, Size bytes, in
// Format) yields the release's binary (its Hash and Size). A client uses it
// only when its own binary is that base, and checks the result against
// the release's hash and size like any payload. A patch is an
// optimisation: the release's payload is always there too.
type Patch struct {
	BaseVersion string `json:"base_version"`
	BaseHash    string `json:"base_hash"` // hex sha256 of the base binary
	BaseSize    int64  `json:"base_size"`
	File        string `json:"file"` // plain file name, beside release.json
	Hash        string `json:"hash"` // hex sha256 of the patch file
	Size        int64  `json:"size"`
	Format      string `json:"format"` // PatchFormat
}

// patchMembers are the members of a patch entry, all required.
var patchMembers = []string{"base_version", "base_hash", "base_size", "file", "hash", "size", "format"}

// parsePatches decodes the "patches" member strictly: an array of at most
// limits.Patches objects with exactly the members above, each type-checked.
// Values are checked by validatePatches.
func parsePatches(raw json.RawMessage) ([]Patch, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: \"patches\": %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil || entries == nil {
		return nil, bad("want an array of objects")
	}
	if len(entries) > limits.Patches {
		return nil, bad("%d patches, the limit is %d", len(entries), limits.Patches)
	}
	out := make([]Patch, len(entries))
	for i, e := range entries {
		if e == nil {
			return nil, bad("patch %d: want an object", i)
		}
		p := &out[i]
		fields := map[string]any{
			"base_version": &p.BaseVersion, "base_hash": &p.BaseHash, "base_size": &p.BaseSize,
			"file": &p.File, "hash": &p.Hash, "size": &p.Size, "format": &p.Format,
		}
		for name, v := range e {
			dst, ok := fields[name]
			if !ok {
				return nil, bad("patch %d: unknown member %q", i, name)
			}
			if err := decodeField(v, dst); err != nil {
				return nil, bad("patch %d: %q: %v", i, name, err)
			}
		}
		if len(e) != len(patchMembers) {
			return nil, bad("patch %d: want the members %v", i, patchMembers)
		}
	}
	return out, nil
}

// validatePatches checks the values of r.Patches: each a valid base
// version other than r's own, hashes of 64 lower-case hex digits, sizes in
// range, the known format, and a plain file name (ValidName, the rule of
// binary) that is neither binary nor another patch's. Several patches may
// share a base (PatchFrom takes the smallest).
func (r *Release) validatePatches() error {
	bad := func(i int, format string, args ...any) error {
		return fmt.Errorf("%w: patch %d: %s", ErrMalformed, i, fmt.Sprintf(format, args...))
	}
	files := map[string]bool{r.Binary: true, FileName: true}
	for i, p := range r.Patches {
		if err := ValidVersion(p.BaseVersion); err != nil {
			return bad(i, "base_version: %v", err)
		}
		if p.BaseVersion == r.Version {
			return bad(i, "base_version %s is the release's own version", p.BaseVersion)
		}
		if !hexSHA256.MatchString(p.BaseHash) || !hexSHA256.MatchString(p.Hash) {
			return bad(i, "base_hash and hash: want 64 lower-case hex digits")
		}
		if p.BaseSize < 1 || p.BaseSize > limits.BinarySize || p.Size < 1 || p.Size > limits.BinarySize {
			return bad(i, "size out of range (1 to %d)", int64(limits.BinarySize))
		}
		if p.Format != PatchFormat {
			return bad(i, "format %q: want %q", p.Format, PatchFormat)
		}
		if err := ValidName(p.File); err != nil {
			return bad(i, "file: %v", err)
		}
		if files[p.File] {
			return bad(i, "file %q is named twice in the release", p.File)
		}
		files[p.File] = true
	}
	return nil
}

// PatchPath returns where the patch p of r lives, relative to the
// repository root: "<version>/<os>/<arch>/<file>".
func (r *Release) PatchPath(p Patch) (string, error) {
	dir, err := Dir(r.Version, r.OS, r.Arch)
	if err != nil {
		return "", err
	}
	if err := ValidName(p.File); err != nil {
		return "", fmt.Errorf("release: patch file: %w", err)
	}
	return dir + "/" + p.File, nil
}

// PatchFrom returns the smallest patch of r whose base binary has the
// sha256 sum and size given, and false when there is none.
func (r *Release) PatchFrom(sum string, size int64) (Patch, bool) {
	var best Patch
	found := false
	for _, p := range r.Patches {
		if p.BaseHash == sum && p.BaseSize == size && (!found || p.Size < best.Size) {
			best, found = p, true
		}
	}
	return best, found
}

// patchesObject is r.Patches as a generic JSON value for object.
func (r *Release) patchesObject() ([]any, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(r.Patches); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	var v []any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errors.New("no patches")
	}
	return v, nil
}
