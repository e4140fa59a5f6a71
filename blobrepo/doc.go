// Package blobrepo stores a safeupdate repository in an object store bucket
// or a local directory, through one API: S3 (s3://), Google Cloud Storage
// (gs://), Azure Blob Storage (azblob://) and plain directories (file://).
//
// The cloud stores are reached through gocloud.dev/blob and its s3blob,
// gcsblob and azureblob drivers, with their usual credential environment
// variables. This package is heavy (three cloud SDKs): the embeddable client
// (package apply) must never import it.
//
// # Paths
//
// Every path is relative to the repository root (the URL's prefix), uses "/"
// as separator and is checked before any I/O: not empty, no leading or
// trailing "/", no empty, "." or ".." segment, no segment starting with "."
// (the file:// store keeps its temporary files under such names), no
// backslash, ":", "%", "?", "#", '"', control or format character, no
// invalid UTF-8 and no "__0x" (gocloud's escape marker, which would not
// round-trip). A path that fails is refused with an error wrapping
// ErrInvalidPath.
//
// # Atomicity, per store
//
// An upload is never visible under its final name until it is complete, and
// a Put whose reader fails or whose context is cancelled leaves nothing
// behind under that name:
//   - S3: an object appears when PutObject (or, above the part size,
//     CompleteMultipartUpload) succeeds; an aborted upload is never visible.
//   - GCS: an object appears when the last request of its upload succeeds.
//   - Azure: block blobs appear when the block list is committed; staged
//     blocks are invisible.
//   - file://: the data goes to a hidden temporary file in the target's
//     directory, is fsynced, then linked (CreateOnly) or renamed into place,
//     and the directory is fsynced. The promise holds on local POSIX file
//     systems; it does not on NFS, and CreateOnly needs hard links. Unlike
//     a bucket, a directory cannot hold both "a" and "a/b".
//
// # Conditional writes
//
// PutOptions.CreateOnly is atomic on every store: of two concurrent
// CreateOnly writes to one key, exactly one succeeds and the other fails
// with an error wrapping ErrExists. It is S3's "If-None-Match: *", GCS's
// DoesNotExist precondition (ifGenerationMatch=0), Azure's
// "If-None-Match: *" and, for file://, link(2), which fails if the name
// exists. gocloud's own fileblob is not used: its IfNotExist is a stat then
// rename under a mutex of the current process, so two publishers running as
// separate processes could both succeed.
//
// PutOptions.IfMatch replaces an object only if its current version token
// (Attrs.Token) is still the given one: S3 and Azure "If-Match" on the ETag,
// GCS ifGenerationMatch on the generation. For file:// the check and the
// rename happen under an exclusive flock(2) of the directory, so they are
// atomic against every writer that uses this package, not against other
// programs writing the directory; IfMatch on file:// is refused on Windows.
//
// # Threat model
//
// The store is where a publisher writes and where a client or a mirror
// reads; it is not trusted for integrity. Nothing read from it is verified
// here: release.json and its payload are checked against signatures by the
// caller. What this package guards is the publisher's own consistency
// (no lost update, no half-written object, no path that escapes the root)
// and bounds. A file:// store is opened as an os.Root: every read, write,
// mkdir, rename and remove stays inside the directory, and a symbolic link
// in it that leads outside (a version directory linked elsewhere) makes the
// operation fail with an error naming the link; links that stay inside are
// followed, and a link at the name being written is refused rather than
// replaced. Bounds: List stops with ErrTooMany after MaxList entries, and paths
// listed from a bucket are validated like paths given by the caller. It does
// not protect against a store that lies about its conditional writes: the
// emulator tests prove each condition against the emulators, not against
// every S3-compatible server.
//
// # Compatibility
//
// URLs are the gocloud.dev forms: s3://bucket/prefix?region=...&endpoint=...,
// gs://bucket/prefix, azblob://container/prefix, plus file:///abs/dir (the
// directory must exist). The prefix is a key prefix inside the bucket; the
// query is passed to the driver. Keys in a bucket equal the repository's
// relative paths, so a repository copied with any tool (aws s3 sync, gsutil,
// azcopy) reads back the same.
package blobrepo
