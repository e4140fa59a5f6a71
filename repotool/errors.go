package repotool

import (
	"errors"
	"fmt"
	"strings"

	"github.com/safeupdate/safeupdate/internal/reader"
)

var (
	// ErrExists is returned when a file or release would be overwritten:
	// Keygen never overwrites, Add only with AddConfig.Force.
	ErrExists = errors.New("repotool: already exists")
	// ErrNoPassphrase is returned by Keygen when the key is to be encrypted
	// and no passphrase was given.
	ErrNoPassphrase = errors.New("repotool: no passphrase")
	// ErrUnknownPlatform is returned by Add when the binary's header does
	// not tell its platform and none was given.
	ErrUnknownPlatform = errors.New("repotool: cannot tell the binary's platform")
	// ErrPayloadMismatch is returned by Sign when the payload on disk does
	// not match the hashes and sizes in release.json.
	ErrPayloadMismatch = errors.New("repotool: payload does not match release.json")
	// ErrUnanchored is returned by Sign when nothing the publisher holds
	// locally ties the release in storage to them: no pin and no binary
	// given, a release that carries no valid signature by a release key of
	// the pinned root, or a local binary other than the release's.
	// Whoever can write to the storage could otherwise have the signer's
	// key endorse their own binary.
	ErrUnanchored = errors.New("repotool: the release is not anchored in local trust")
	// ErrNotFound is returned when a release or file is not in the
	// repository. It is the reader's, which clients use too.
	ErrNotFound = reader.ErrNotFound
	// ErrForbidden is returned when the repository refuses to serve a
	// file (HTTP 403, a bucket's permission denied). It is an error
	// everywhere except for the probe of the next root of a walk, where
	// S3 answers so for a missing key to a reader that may not list the
	// bucket. It is the reader's.
	ErrForbidden = reader.ErrForbidden
	// ErrNoRelease is returned by Verify when it found nothing to verify.
	ErrNoRelease = errors.New("repotool: no release found")
)

// PlatformError reports a binary whose header names another platform than
// the one asked for.
type PlatformError struct {
	Binary           string // path of the binary
	OS, Arch         string // what its header says
	WantOS, WantArch string // what was asked
}

func (e *PlatformError) Error() string {
	return fmt.Sprintf("repotool: add: binary is %s/%s, not %s/%s", e.OS, e.Arch, e.WantOS, e.WantArch)
}

// KeyError reports a key file that could not be loaded. Err wraps the
// keys package's error (keys.ErrWrongPassphrase, keys.ErrNoPassphrase...).
type KeyError struct {
	Path string
	Err  error
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("repotool: key %s: %s", e.Path, trimPrefix(e.Err))
}

func (e *KeyError) Unwrap() error { return e.Err }

// trimPrefix drops another package's "name: " prefix from a message that is
// about to be prefixed with ours.
func trimPrefix(err error) string {
	msg := err.Error()
	for {
		trimmed := msg
		for _, p := range []string{"keys: ", "release: ", "trust: ", "repotool: ", "platform: "} {
			trimmed = strings.TrimPrefix(trimmed, p)
		}
		if trimmed == msg || trimmed == "" {
			break
		}
		msg = trimmed
	}
	// The same prefixes inside, where a reason wraps another package's
	// error ("signature not trusted: release: trust: threshold not met").
	for _, p := range []string{"keys: ", "release: ", "trust: ", "channel: ", "platform: "} {
		msg = strings.ReplaceAll(msg, ": "+p, ": ")
	}
	return msg
}

// kindError carries its own message and matches a sentinel with errors.Is,
// so messages read "repotool: add: ..." rather than repeating the
// sentinel's text.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// trimmed is err with trimPrefix's message that still matches err's chain
// with errors.Is and errors.As: a signer's error (a KMS's sentinel) stays
// visible to the caller.
func trimmed(err error) error {
	return &kindError{kind: err, err: errors.New(trimPrefix(err))}
}

// errorf formats like fmt.Errorf (with %w) and adds kind for errors.Is.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}
