package trust

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The four roles a TUF root names. No others are accepted.
const (
	RoleRoot      = "root"      // signs the next root (rotation)
	RoleTargets   = "targets"   // signs releases
	RoleSnapshot  = "snapshot"  // required by TUF; holds the timestamp keys
	RoleTimestamp = "timestamp" // signs channel files
)

var roleNames = []string{RoleRoot, RoleTargets, RoleSnapshot, RoleTimestamp}

var (
	// ErrMalformedRoot is returned for a root that is not well formed, is
	// too large, or breaks a rule of the TUF format as this package reads it.
	ErrMalformedRoot = errors.New("trust: malformed root")
	// ErrExpired is returned by CheckExpiry for a root past its expiry (the
	// freeze attack: a mirror serving the last root it has forever).
	ErrExpired = errors.New("trust: root has expired")
	// ErrRootVersion is returned when a successor root is not exactly the
	// next version: an older one (rollback) or a later one (a skipped
	// rotation, whose keys were never vouched for).
	ErrRootVersion = errors.New("trust: root is not the next version")
)

// Root is a verified TUF root: the keys and threshold of each role, its
// version and its expiry. It is immutable and safe for concurrent use.
//
// Holding a *Root means its bytes were parsed strictly and signed by a
// threshold of its own root keys and, if it came from Update, by a
// threshold of its predecessor's root keys. It does NOT mean the root is
// unexpired: call CheckExpiry after the last Update. Nor does it remember
// anything: a client that does not persist the newest root (Bytes) and pin
// that next time goes back to trusting the keys a rotation removed.
type Root struct {
	raw         []byte // the exact bytes verified
	signed      []byte // canonical JSON of "signed": what signatures cover
	sigs        []Signature
	version     int64
	expires     time.Time
	roles       map[string]*Keys
	specVersion string
	consistent  bool
}

// NewRoot pins trusted, a root.json the caller got out of band (shipped
// with the program, or persisted after an earlier Update). It must be a
// well formed root signed by a threshold of its own root keys; its expiry is
// not checked, since a newer root may replace it (TUF section 5.3), so call
// CheckExpiry once updating is done. An error wraps ErrMalformedRoot or
// ErrThreshold.
func NewRoot(trusted []byte) (*Root, error) {
	r, err := parseRoot(trusted)
	if err != nil {
		return nil, err
	}
	if _, err := r.roles[RoleRoot].Verify(r.signed, r.sigs); err != nil {
		return nil, rewrap(err, "root version %d is not signed by a threshold of its own root keys", r.version)
	}
	return r, nil
}

// Update verifies next as the successor of r and returns it. next is
// accepted only when it is a well formed root with version exactly
// r.Version()+1, signed by a threshold of r's root keys AND by a threshold
// of its own root keys (TUF section 5.3.4 and 5.3.5). Expiry is not checked
// (an intermediate root may have expired long ago); check the last one
// with CheckExpiry. r itself is unchanged. An error wraps ErrMalformedRoot,
// ErrThreshold or ErrRootVersion. Update does one step; Walk and WalkTo
// walk N+1, N+2, ... with it.
func (r *Root) Update(next []byte) (*Root, error) {
	n, err := parseRoot(next)
	if err != nil {
		return nil, err
	}
	if _, err := r.roles[RoleRoot].Verify(n.signed, n.sigs); err != nil {
		return nil, rewrap(err, "root version %d is not signed by a threshold of the root keys of version %d", n.version, r.version)
	}
	if _, err := n.roles[RoleRoot].Verify(n.signed, n.sigs); err != nil {
		return nil, rewrap(err, "root version %d is not signed by a threshold of its own root keys", n.version)
	}
	if n.version != r.version+1 {
		return nil, fmt.Errorf("%w: got version %d after version %d", ErrRootVersion, n.version, r.version)
	}
	return n, nil
}

// CheckExpiry returns an error wrapping ErrExpired unless now is before the
// root's expiry.
func (r *Root) CheckExpiry(now time.Time) error {
	if !now.Before(r.expires) {
		return fmt.Errorf("%w: version %d expired at %s", ErrExpired, r.version, r.expires.Format(time.RFC3339))
	}
	return nil
}

// Version returns the root's version number.
func (r *Root) Version() int64 { return r.version }

// Expires returns when the root expires (UTC).
func (r *Root) Expires() time.Time { return r.expires }

// Bytes returns a copy of the exact bytes that were verified, to persist.
func (r *Root) Bytes() []byte { return bytes.Clone(r.raw) }

// SameSigned reports whether r and o say the same thing: the same
// canonical signed content, whatever their signatures. A publisher compares
// the root in storage with its pinned copy this way.
func (r *Root) SameSigned(o *Root) bool { return bytes.Equal(r.signed, o.signed) }

// RootKeys returns the keys that sign the next root.
func (r *Root) RootKeys() *Keys { return r.roles[RoleRoot] }

// Targets returns the keys and threshold that sign releases; pass it to
// release's Verify. It implements Verifier.
func (r *Root) Targets() *Keys { return r.roles[RoleTargets] }

// Snapshot returns the snapshot role's keys. This project uses none of its
// signatures; the role exists because TUF requires it.
func (r *Root) Snapshot() *Keys { return r.roles[RoleSnapshot] }

// Timestamp returns the keys and threshold that sign channel files. It
// implements Verifier.
func (r *Root) Timestamp() *Keys { return r.roles[RoleTimestamp] }

// RootFileName returns the name under which root version v is kept in a
// repository: "<v>.root.json".
func RootFileName(v int64) string { return fmt.Sprintf("%d.root.json", v) }

// rewrapped reads "trust: <context>: <err less its prefix>" and wraps err.
type rewrapped struct {
	msg string
	err error
}

func (e *rewrapped) Error() string { return e.msg }
func (e *rewrapped) Unwrap() error { return e.err }

func rewrap(err error, format string, args ...any) error {
	return &rewrapped{
		msg: "trust: " + fmt.Sprintf(format, args...) + ": " + strings.TrimPrefix(err.Error(), "trust: "),
		err: err,
	}
}
