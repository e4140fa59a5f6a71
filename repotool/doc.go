// Package repotool holds the operations of a safeupdate publisher: making
// keys (Keygen), adding a binary to a repository as a signed release (Add),
// adding signatures to an existing release (Sign), auditing a repository
// (Verify) and serving one read-only (Serve, Handler). The repotool command
// is a thin layer of flag parsing over these functions.
//
// A repository is a directory tree, or the same tree served over HTTP(S):
//
//	<repo>/<version>/<os>/<arch>/release.json   signed metadata (package release)
//	<repo>/<version>/<os>/<arch>/<name>.bz2     bzip2 of the binary
//
// # Threat model
//
// The publisher's machine and its keys are trusted; the repository, once
// published, is not. Everything this package writes into a repository is
// written atomically (a temporary file in the target directory, fsync,
// rename, fsync of the directory), payload first and release.json last, so
// that an interrupted Add or Sign leaves either the old release or the new
// one in place, never a truncated file. This holds on local file systems
// that implement rename atomically; it does not on some network file
// systems (NFS without close-to-open consistency, SMB).
//
// Add refuses a binary whose own header (ELF, Mach-O, PE) names another
// platform than the one asked (wrong software installation), a version or
// file name that could act as a path (traversal), and an existing release
// unless forced. Sign refuses to sign a release whose payload no longer
// matches its hashes, so a tampered payload is never endorsed.
//
// Verify treats the repository as hostile: every read is bounded
// (limits.ReleaseJSON for metadata, the signed sizes for payloads), signatures
// are checked against the given keys before any other field is used, and the
// signed version/os/arch must equal the path the release was found at, so a
// release copied to another directory fails. Verify checks what a client
// checks, except downgrade and freshness, which depend on the client's state.
//
// Private keys are encrypted at rest with age unless the caller asks
// otherwise; a key in memory is not protected. Serve publishes whatever is in
// the directory, unverified (see Handler).
//
// # Compatibility
//
// Releases written by Add without keys are unsigned and readable by
// choria-io/go-updater clients, which read only binary and hash. Signed
// releases keep those members with the same meaning. Payloads are standard
// bzip2 streams readable by `bzip2 -d`.
package repotool
