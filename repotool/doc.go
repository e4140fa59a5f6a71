// Package repotool holds the operations of a safeupdate publisher: making
// keys (Keygen), adding a binary to a repository as a signed release (Add),
// adding signatures to an existing release (Sign), auditing a repository
// (Verify), copying one to another store with every file verified first
// (Mirror), managing its trust root and channels (Init, Rotate, SignRoot,
// Promote) and serving one read-only (Serve, Handler). The repotool command
// is a thin layer of flag parsing over these functions.
//
// A repository is a tree of files:
//
//	<repo>/<version>/<os>/<arch>/release.json   signed metadata (package release)
//	<repo>/<version>/<os>/<arch>/<name>.bz2     bzip2 of the binary (or .zst)
//
// kept in a local directory (a plain path or file:///abs/dir), in a bucket
// (s3://bucket/prefix?..., gs://bucket/prefix, azblob://container/prefix,
// with the cloud SDKs' usual credential environment variables; see package
// blobrepo), or served over HTTP(S), which is read-only (Verify, and the
// source of Mirror).
//
// # Threat model
//
// The publisher's machine and its keys are trusted; the repository, once
// published, is not. Every file this package writes becomes visible only
// once complete (a temporary file, fsync, link or rename, fsync of the
// directory on a local file system; a committed upload in a bucket), payload
// first and release.json last, so that an interrupted Add or Sign leaves
// either the old release or the new one in place, never a truncated file
// nor a release whose payload is missing. On a local file system this holds
// where rename and link are atomic; it does not on some network file
// systems (NFS without close-to-open consistency, SMB).
//
// Every write is conditional (create-only, or if-match on the version
// read), on directories and buckets alike, so that publishers working at
// once never undo each other silently: of two Adds of one release one
// fails with ErrExists; of two Signs one may fail with ErrConflict and is
// run again, and no signature is lost; of two Rotates one fails. On a
// local directory the if-match check relies on flock(2) and holds against
// writers that use this package (see blobrepo). Where there is no flock(2)
// (Windows), if-match on a local directory is refused rather than done
// unsafely: there Sign, Promote of an existing channel, Rotate, SignRoot
// and Add with Force fail with an error wrapping blobrepo.ErrUnsupported
// on a local directory (Add without Force, Init and Keygen work); use a
// bucket, or a Unix machine, for those.
//
// Add refuses a binary whose own header (ELF, Mach-O, PE) names another
// platform than the one asked (wrong software installation), a version or
// file name that could act as a path (traversal), and an existing release
// unless forced. Sign refuses to sign a release whose payload no longer
// matches its hashes, so a tampered payload is never endorsed, and one it
// cannot tie to the signer's local trust (ErrUnanchored): a valid
// signature by a release key of the root reached from the pin, or the
// signer's own copy of the binary. Add signs only what it built locally.
//
// Mirror treats its source as hostile: every release is verified against
// pinned keys or a pinned root before it is written, its payload streamed
// through a check of the signed size and hash that makes the destination
// discard it on a mismatch, and roots and channels are verified as a chain
// and against the newest root. A source cannot make the mirror publish
// anything its pinned trust would refuse, except with UnverifiedUnsafe.
//
// Every read of a repository here goes through internal/reader, the
// reader clients (package apply) use: the same sources (HTTP with the
// client's policy, directories through os.Root, buckets as
// apply/blobsource reads them), the same bounds and stall watchdog, the
// same checks of a release (reader.VerifyRelease), of a channel
// (reader.VerifyChannel) and of a payload (reader.Payload: the client's
// pipeline and decoder). A release Verify approves is one every client
// installs, and the reasons it gives are the client's
// (TestVerifyRejectsWhatClientsReject compares them).
//
// Verify treats the repository as hostile: every read is bounded
// (limits.ReleaseJSON for metadata, the signed sizes for payloads), signatures
// are checked against the given keys before any other field is used, and the
// signed version/os/arch must equal the path the release was found at, so a
// release copied to another directory fails. Verify checks what a client
// checks, except downgrade and freshness, which depend on the client's state.
//
// Every walk of a chain of roots here (Verify and Mirror with a root, and
// the pinned root that Rotate, SignRoot and Promote start from) is
// trust.Walk, the walk clients make, so that a publisher reaches the root a
// client reaches. A next root that the repository refuses to serve
// (ErrForbidden: HTTP 403, or a bucket's permission denied, which is how S3
// answers for a missing key to a reader that may not list) ends the walk as
// a missing one does; refusing any other file is an error.
//
// Private keys are encrypted at rest with age unless the caller asks
// otherwise; a key in memory is not protected. A key in a KMS (LoadSigner
// with a KMS key URI, KeygenKMS) never leaves the service, but whoever holds
// the credentials that may use it can sign with it; its signatures are
// checked against its public key before anything is written. Serve publishes whatever is in
// the directory, unverified (see Handler).
//
// # Compatibility
//
// Releases written by Add without keys are unsigned and readable by
// choria-io/go-updater clients, which read only binary and hash. Signed
// releases keep those members with the same meaning. Payloads are standard
// bzip2 streams readable by `bzip2 -d`.
package repotool
