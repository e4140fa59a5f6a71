// Package apply is the client side of safeupdate: it updates a program's own
// binary (or any file) from a repository of signed releases.
//
// Apply fetches <version>/<os>/<arch>/release.json from the repository,
// verifies it, downloads the bzip2 payload it names while checking it, and
// swaps the new binary in atomically, keeping a backup of the old one.
// Restarting the process afterwards is the caller's job (syscall.Exec is
// usually enough). Check does only the metadata half; Rollback puts the
// backup back on demand.
//
// # What is verified, and when
//
//  1. release.json is read with a hard size limit (limits.ReleaseJSON) and a
//     time limit (limits.RequestTimeout), then parsed strictly.
//  2. Its signatures are verified against the pinned public keys (PublicKey,
//     Threshold: distinct keys are counted) before any field is acted on.
//  3. The signed version, os and arch must be those asked for, binary must be
//     a plain file name, and the version must not be older than
//     CurrentVersion unless AllowDowngradeUnsafe is given.
//  4. Only then is the payload requested. It is streamed, never held in
//     memory: limited to the signed compressed_size, hashed, decompressed,
//     limited to the signed size, hashed, and written to a new temporary file
//     created exclusively (random name, O_EXCL) in the target's directory,
//     with the target's mode. Sizes and both hashes must match the signed
//     values; the file is then fsynced.
//  5. The current target is linked or copied to the backup (default
//     TARGET.backup, itself replaced atomically), the temporary file is
//     renamed over the target, and the directory is fsynced. The target path
//     never disappears.
//  6. If anything fails after the target was replaced, the backup is put
//     back; if that fails too, the error is an *InstallError and
//     RollbackError returns why. Temporary files are removed on every path.
//
// When Apply returns nil, the target holds exactly the bytes whose hash and
// size a threshold of pinned keys signed for the requested version and
// platform, with the old target's permission bits, and the backup holds the
// previous binary. When it returns an error that RollbackError maps to nil,
// the target holds the previous binary.
//
// A download that makes no progress for StallTimeout (default
// limits.StallTimeout) fails even when ctx has no deadline, so a caller
// without one is still protected from a server that trickles or stalls.
//
// # Errors
//
// Every error starts with "apply: ". Errors from Apply and Check wrap one of
// ErrSignature, ErrChecksum, ErrMetadata, ErrDowngrade, ErrTooLarge or
// ErrNotFound where one applies; network and file system errors wrap the
// underlying error instead. A payload larger than signed is ErrTooLarge; a
// payload shorter than signed, with a wrong hash, or that fails to
// decompress is ErrChecksum. Configuration errors (no trust, conflicting
// options) are returned before any network access and wrap none of them.
//
// # Threat model
//
// The repository, any mirror and the network path to them may be hostile.
// Against them Apply resists: arbitrary installation (signatures, threshold
// of distinct keys), mix-and-match and replay under another path (signed
// version/os/arch), downgrade (CurrentVersion), endless data and
// decompression bombs (every read limited by a signed size), oversized
// metadata (fixed limit, read no further), slow retrieval (stall timeout,
// metadata deadline), path traversal through binary (plain names only),
// HTTPS-to-HTTP downgrade by redirect (refused), partial writes (verified
// temporary file, atomic rename) and predictable temporary names (random,
// exclusive creation; no symlink at the backup name is followed).
//
// Not protected: the compromise of as many signing keys as the threshold;
// freshness (a mirror may withhold a newer release, it
// can only serve a signed one); a hostile local user who can write to the
// target's directory; bugs in the new binary itself. AllowUnsignedUnsafe
// and AllowDowngradeUnsafe give up the defences their names say.
//
// Concurrent calls to Apply for the same target are NOT safe yet: two
// processes may interleave their backup and rename steps. Serialize them
// (issue 4 adds an advisory lock next to the target). Calls for different
// targets are independent.
//
// # Compatibility
//
// The repository layout and release.json are a superset of
// choria-io/go-updater's: a signed repository can still be read by
// go-updater clients, and AllowUnsignedUnsafe reads go-updater's unsigned
// repositories. The atomic rename relies on POSIX rename semantics in one
// directory; on network file systems (NFS) rename and fsync may not be
// atomic or durable. Windows cannot replace a running executable by rename;
// that support is issue 4.
package apply
