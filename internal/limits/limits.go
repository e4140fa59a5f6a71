// Package limits holds every bound that safeupdate puts on untrusted input,
// so that a reviewer can see them in one place.
//
// A repository, a mirror or a network path may be hostile. Each value here
// caps how much of it is read, how many times a loop over it runs, or how
// long the client waits for it, before any signature has been checked.
package limits

import "time"

const (
	// ReleaseJSON is the largest release.json the client or the tool reads.
	// Real ones are well under 4 KiB; the slack allows many signatures and
	// a few unknown (but signed) members.
	ReleaseJSON = 64 << 10

	// Signatures is the most signature entries a release.json may carry.
	Signatures = 64

	// Patches is the most patch entries a release.json may carry (one per
	// earlier release a client may be updating from). A client considers
	// only those whose base is its own binary, and downloads one.
	Patches = 16

	// JSONDepth is the deepest nesting accepted in any metadata document.
	JSONDepth = 16

	// KeyFile is the largest key file (PEM or age-armored) that is read.
	KeyFile = 64 << 10

	// RootJSON is the largest trust root (N.root.json) that is read.
	RootJSON = 512 << 10

	// Rotations is the most root versions the client walks in one update.
	Rotations = 32

	// ChannelJSON is the largest channels/NAME.json that is read.
	ChannelJSON = 64 << 10

	// BinarySize is the largest binary (uncompressed) a release may declare,
	// and the bound on an unsigned legacy release that declares no size.
	BinarySize = 4 << 30

	// VersionLength is the longest version string accepted.
	VersionLength = 128

	// NameLength is the longest payload file name accepted.
	NameLength = 255

	// StallTimeout is how long a download may make no progress at all
	// before the client gives up (the slow-retrieval attack).
	StallTimeout = 30 * time.Second

	// RequestTimeout bounds a whole metadata request (release.json, a root,
	// a channel), which is small and must never take long.
	RequestTimeout = 60 * time.Second

	// KMSRequest bounds one call of the publisher's tool to a key management
	// service (read a public key, sign one digest, create a key), the SDK's
	// retries included: a KMS that stops answering must not hang a CI job.
	KMSRequest = 2 * time.Minute

	// ZstdWindow is the largest zstd window (history) a payload may need,
	// and the one publishers write: what zstd levels up to 19 use without
	// --long. A decoder's memory is about twice this whatever the payload's
	// size; never raise it for publishers before clients accept it.
	ZstdWindow = 8 << 20

	// Resumes is how many times in a row a payload download may be resumed
	// with a range request without receiving a byte in between, and
	// TotalResumes how many times in all, so that a link that drops every
	// few kilobytes cannot keep a download going forever.
	Resumes      = 5
	TotalResumes = 64

	// ResumeBackoff is the wait before the first resumption in a row; it
	// doubles before each next one (50 ms, 100 ms, ... 800 ms).
	ResumeBackoff = 50 * time.Millisecond
)
