package apply

import (
	"errors"
	"fmt"
	"strings"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/reader"
)

var (
	// ErrSignature means release.json is unsigned, or fewer than the
	// threshold of pinned keys signed it (an unknown key counts as none).
	ErrSignature = reader.ErrSignature
	// ErrChecksum means the payload's hash or size is not what was signed,
	// or the payload is not valid bzip2 (or zstd).
	ErrChecksum = reader.ErrChecksum
	// ErrMetadata means release.json is malformed, or its signed version,
	// os, arch or binary name is not what was asked for.
	ErrMetadata = reader.ErrMetadata
	// ErrDowngrade means the release is older than CurrentVersion.
	ErrDowngrade = errors.New("apply: release is older than the current version")
	// ErrTooLarge means metadata or a payload is larger than its limit or
	// its signed size.
	ErrTooLarge = reader.ErrTooLarge
	// ErrNotFound means the repository has no such file (HTTP 404).
	ErrNotFound = reader.ErrNotFound
	// ErrForbidden means the repository refused to serve a file (HTTP 403,
	// a bucket's permission denied). It is an error everywhere except when
	// probing for the next trust root, where S3 answers 403 for a missing
	// key to a reader without list permission.
	ErrForbidden = reader.ErrForbidden
	// ErrRangeUnsupported is returned by a Source asked to start at an
	// offset it cannot seek to.
	ErrRangeUnsupported = reader.ErrRangeUnsupported
)

// ErrNotInRollout means the channel offers its release to a share of
// clients that does not include this one yet (see RolloutID). Nothing of
// the release was read. The error is a *RolloutError.
var ErrNotInRollout = errors.New("apply: this client is not in the release's rollout")

// RolloutError reports a release that a channel offers to part of the
// fleet, not including this client: "update 2.1.0 is rolling out; not
// this machine yet". It wraps ErrNotInRollout.
type RolloutError struct {
	Channel string // the channel's name
	Version string // the release it offers
	Rollout int64  // the share of clients it offers it to, in parts per million (0: paused)
}

func (e *RolloutError) Error() string {
	if e.Rollout == 0 {
		return fmt.Sprintf("apply: the rollout of %s on channel %q is paused (offered to 0%% of clients)", e.Version, e.Channel)
	}
	return fmt.Sprintf("apply: %s is rolling out on channel %q to %s%% of clients, not to this one yet", e.Version, e.Channel, channel.FormatRollout(e.Rollout))
}

func (e *RolloutError) Unwrap() error { return ErrNotInRollout }

// InstallError reports a failed install after the target had been
// replaced. When Restore is nil the previous binary was put back; when it
// is non-nil the previous binary could not be put back either, and Backup
// says where it is.
type InstallError struct {
	Err     error  // why the install failed
	Restore error  // why restoring the backup failed, or nil
	Backup  string // path of the kept backup
}

func (e *InstallError) Error() string {
	var b strings.Builder
	b.WriteString("apply: ")
	b.WriteString(e.Err.Error())
	if e.Restore == nil {
		b.WriteString("; the previous binary was put back")
		return b.String()
	}
	fmt.Fprintf(&b, "; putting the previous binary back failed too (%v); the previous binary is kept at %s: copy it over the target by hand", e.Restore, e.Backup)
	return b.String()
}

func (e *InstallError) Unwrap() []error {
	if e.Restore == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Restore}
}

// RollbackError returns why the previous binary could not be put back after
// a failed install, or nil: nil means the target holds either the new binary
// (err is nil) or the previous one.
func RollbackError(err error) error {
	var ie *InstallError
	if errors.As(err, &ie) {
		return ie.Restore
	}
	return nil
}

// metadataError maps an error of package release or trust to one of the
// sentinels above (reader.MetadataError).
func metadataError(err error) error { return reader.MetadataError(err) }
