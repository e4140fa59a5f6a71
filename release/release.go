// Package release defines release.json, the signed document that describes
// one binary of one version for one platform, and the layout of a
// repository. It does no I/O: Parse takes bytes, Verify takes a trust
// root, and the result says exactly what was checked.
//
// A repository holds, for each release:
//
//	<version>/<os>/<arch>/release.json
//	<version>/<os>/<arch>/<binary>      bzip2 of the executable
//
// # Threat model
//
// Parse is strict and bounded: at most limits.ReleaseJSON bytes, valid
// UTF-8, no duplicate keys, integers only, every known field type-checked,
// and binary a plain file name (no path, no URL). The signed bytes are the
// canonical JSON of the whole object without "signatures", so fields this
// version does not know are signed too and cannot be added by a mirror.
// Signed version, os and arch stop a release from being replayed under
// another path; sizes bound every later read of the payload.
//
// A release may sign patches (Patch): for each, the base version, the base
// binary's sha256 and size, the patch's plain file name (the rule of
// binary), its sha256 and size, and its format; at most limits.Patches,
// no file named twice. They are signed like every other member, so a
// mirror can neither add nor change one.
//
// Parse does not check signatures: call Verify with a trust.Verifier, then
// Expect with what was asked, before using any field.
//
// # Compatibility
//
// binary and hash keep choria-io/go-updater's meaning, so go-updater
// clients can read a signed release.json; ParseLegacyUnsafe reads
// go-updater's unsigned files.
package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/platform"
	"github.com/safeupdate/safeupdate/internal/strictjson"
)

var (
	// ErrMalformed is returned for a release.json that is not well formed,
	// or whose fields are missing, of the wrong type or out of range.
	ErrMalformed = errors.New("release: malformed release.json")
	// ErrTooLarge is returned for a release.json over limits.ReleaseJSON.
	ErrTooLarge = errors.New("release: release.json too large")
	// ErrMismatch is returned by Expect when the signed version, os or arch
	// is not what was asked for.
	ErrMismatch = errors.New("release: release does not match the request")
	// ErrUnsigned is returned by Verify for a release with no signatures.
	ErrUnsigned = errors.New("release: release is not signed")
)

// FileName is the name of the metadata file in each release directory.
const FileName = "release.json"

// Release is the content of a release.json.
type Release struct {
	Binary         string // payload file name, beside release.json
	Hash           string // hex sha256 of the binary before compression
	Size           int64  // size of the binary before compression
	Version        string
	OS             string
	Arch           string
	CompressedHash string // hex sha256 of the payload file
	CompressedSize int64  // size of the payload file
	// Patches are the signed patches to this binary from earlier
	// releases' binaries (see Patch); none is written as no member, so a
	// release without patches signs the bytes it always did.
	Patches    []Patch
	Signatures []Signature

	// extra holds members this version does not know. They are part of the
	// signed bytes and written back unchanged.
	extra map[string]json.RawMessage
}

// Signature is a detached signature: the TUF key id and the hex signature.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

var (
	hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)
	hexBytes  = regexp.MustCompile(`^([0-9a-f]{2})+$`)
)

// known lists the members with a meaning, in the order Marshal writes them.
var known = []string{"binary", "hash", "size", "version", "os", "arch", "compressed_hash", "compressed_size", "patches", "signatures"}

// Parse decodes and validates a signed-format release.json. Every field
// must be present and valid; signatures may be empty (Verify refuses that).
// The result has NOT been checked against any trust root.
func Parse(data []byte) (*Release, error) {
	r, err := parse(data)
	if err != nil {
		return nil, err
	}
	if err := r.validate(false); err != nil {
		return nil, err
	}
	return r, nil
}

// ParseLegacyUnsafe decodes a release.json of choria-io/go-updater's
// unsigned format, where only binary and hash are required. Sizes that are
// absent are 0, meaning unknown. It exists only for repositories that
// predate signing; nothing it returns is authenticated, so accepting its
// result re-enables arbitrary installation by anyone who controls the
// repository or the network path to it.
func ParseLegacyUnsafe(data []byte) (*Release, error) {
	r, err := parse(data)
	if err != nil {
		return nil, err
	}
	if err := r.validate(true); err != nil {
		return nil, err
	}
	return r, nil
}

func parse(data []byte) (*Release, error) {
	if len(data) > limits.ReleaseJSON {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), limits.ReleaseJSON)
	}
	if err := strictjson.CheckAllowNull(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, fmt.Errorf("%w: want a JSON object: %v", ErrMalformed, err)
	}
	if members == nil {
		return nil, fmt.Errorf("%w: want a JSON object, not null", ErrMalformed)
	}
	r := &Release{}
	fields := map[string]any{
		"binary": &r.Binary, "hash": &r.Hash, "size": &r.Size,
		"version": &r.Version, "os": &r.OS, "arch": &r.Arch,
		"compressed_hash": &r.CompressedHash, "compressed_size": &r.CompressedSize,
	}
	for name, raw := range members {
		if name == "signatures" {
			sigs, err := parseSignatures(raw)
			if err != nil {
				return nil, err
			}
			r.Signatures = sigs
			continue
		}
		if name == "patches" {
			patches, err := parsePatches(raw)
			if err != nil {
				return nil, err
			}
			r.Patches = patches
			continue
		}
		dst, ok := fields[name]
		if !ok {
			if r.extra == nil {
				r.extra = make(map[string]json.RawMessage)
			}
			r.extra[name] = raw
			continue
		}
		if err := decodeField(raw, dst); err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrMalformed, name, err)
		}
	}
	return r, nil
}

func decodeField(raw json.RawMessage, dst any) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return errors.New("is null")
	}
	switch dst.(type) {
	case *string:
		if raw[0] != '"' {
			return errors.New("want a string")
		}
	case *int64:
		if raw[0] == '"' {
			return errors.New("want an integer")
		}
	}
	return json.Unmarshal(raw, dst)
}

func parseSignatures(raw json.RawMessage) ([]Signature, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var sigs []Signature
	if err := dec.Decode(&sigs); err != nil {
		return nil, fmt.Errorf("%w: \"signatures\": %v", ErrMalformed, err)
	}
	if sigs == nil {
		return nil, fmt.Errorf("%w: \"signatures\": want an array", ErrMalformed)
	}
	// encoding/json matches struct fields case-insensitively, so "KeyID"
	// (or "sig" next to "SIG", a duplicate strictjson.Check cannot see) would
	// pass DisallowUnknownFields: require the exact member names.
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("%w: \"signatures\": %v", ErrMalformed, err)
	}
	for i, e := range entries {
		for name := range e {
			if name != "keyid" && name != "sig" {
				return nil, fmt.Errorf("%w: signature %d: unknown member %q", ErrMalformed, i, name)
			}
		}
	}
	if len(sigs) > limits.Signatures {
		return nil, fmt.Errorf("%w: %d signatures, the limit is %d", ErrMalformed, len(sigs), limits.Signatures)
	}
	for i, s := range sigs {
		if !hexSHA256.MatchString(s.KeyID) {
			return nil, fmt.Errorf("%w: signature %d: keyid is not a hex sha256", ErrMalformed, i)
		}
		if !hexBytes.MatchString(s.Sig) || len(s.Sig) > 1024 {
			return nil, fmt.Errorf("%w: signature %d: sig is not lower-case hex", ErrMalformed, i)
		}
	}
	return sigs, nil
}

func (r *Release) validate(legacy bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	if err := ValidName(r.Binary); err != nil {
		return bad("binary: %v", err)
	}
	if !hexSHA256.MatchString(r.Hash) {
		return bad("hash: want 64 lower-case hex digits")
	}
	if r.Size < 0 || r.Size > limits.BinarySize || r.CompressedSize < 0 || r.CompressedSize > limits.BinarySize {
		return bad("size out of range (0 to %d)", int64(limits.BinarySize))
	}
	if r.CompressedHash != "" && !hexSHA256.MatchString(r.CompressedHash) {
		return bad("compressed_hash: want 64 lower-case hex digits")
	}
	if err := r.validatePatches(); err != nil {
		return err
	}
	if legacy && r.Version == "" && r.OS == "" && r.Arch == "" {
		return nil
	}
	if err := ValidVersion(r.Version); err != nil {
		return bad("version: %v", err)
	}
	if !platform.Known(r.OS, r.Arch) {
		return bad("os/arch %q/%q is not a Go platform", r.OS, r.Arch)
	}
	if legacy {
		return nil
	}
	if r.Size == 0 || r.CompressedSize == 0 || r.CompressedHash == "" {
		return bad("size, compressed_size and compressed_hash are required")
	}
	return nil
}

// ValidName reports whether name is usable as the payload file name: a
// plain name in the release directory, not a path, URL or special name.
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("empty file name")
	case len(name) > limits.NameLength:
		return fmt.Errorf("file name longer than %d bytes", limits.NameLength)
	case name == "." || name == ".." || strings.HasPrefix(name, "."):
		return fmt.Errorf("file name %q starts with a dot", name)
	case name == FileName:
		return fmt.Errorf("file name %q is reserved", name)
	case strings.ContainsAny(name, `/\:`):
		return fmt.Errorf("%q is a path or URL, not a plain file name", name)
	}
	for _, c := range name {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == utf8.RuneError || c == '%' || c == '?' || c == '#' {
			return fmt.Errorf("file name %q has a control or URL character", name)
		}
	}
	return nil
}

// Dir returns the directory of a release, relative to the repository root,
// with forward slashes: "<version>/<os>/<arch>".
func Dir(version, goos, goarch string) (string, error) {
	if err := ValidVersion(version); err != nil {
		return "", err
	}
	if !platform.Known(goos, goarch) {
		return "", fmt.Errorf("release: %s/%s is not a platform Go knows (see go tool dist list)", goos, goarch)
	}
	return version + "/" + goos + "/" + goarch, nil
}

// Path returns where release.json of a release lives, relative to the
// repository root: "<version>/<os>/<arch>/release.json".
func Path(version, goos, goarch string) (string, error) {
	dir, err := Dir(version, goos, goarch)
	if err != nil {
		return "", err
	}
	return dir + "/" + FileName, nil
}

// PayloadPath returns where the payload of r lives, relative to the
// repository root. r must come from Parse or have a valid Binary.
func (r *Release) PayloadPath() (string, error) {
	dir, err := Dir(r.Version, r.OS, r.Arch)
	if err != nil {
		return "", err
	}
	if err := ValidName(r.Binary); err != nil {
		return "", fmt.Errorf("release: binary: %w", err)
	}
	return dir + "/" + r.Binary, nil
}

// Expect checks that the signed version, os and arch are those asked for,
// so that a validly signed release cannot be served under another path.
func (r *Release) Expect(version, goos, goarch string) error {
	var diffs []string
	if r.Version != version {
		diffs = append(diffs, fmt.Sprintf("version %q, not %q", r.Version, version))
	}
	if r.OS != goos || r.Arch != goarch {
		diffs = append(diffs, fmt.Sprintf("platform %s/%s, not %s/%s", r.OS, r.Arch, goos, goarch))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: release is for %s", ErrMismatch, strings.Join(diffs, " and "))
	}
	return nil
}
