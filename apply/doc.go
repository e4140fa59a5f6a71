// Package apply is the client side of safeupdate: it updates a program's own
// binary (or any file) from a repository of signed releases.
//
// Apply fetches <version>/<os>/<arch>/release.json from the repository,
// verifies it, downloads the payload it names (bzip2, or zstd when its
// signed name ends in .zst) while checking it, resuming with range requests
// when the connection drops, and swaps the new binary in atomically,
// keeping a backup of the old one.
// Restarting the process afterwards is the caller's job (syscall.Exec is
// usually enough); a process that does not restart may call Apply again,
// and the default target stays the file it was started from (TargetFile).
// Check does only the metadata half; Rollback puts the backup back on
// demand.
//
// # What is verified, and when
//
//  1. release.json is read with a hard size limit (limits.ReleaseJSON) and a
//     time limit (limits.RequestTimeout), then parsed strictly.
//  2. Its signatures are verified against the pinned public keys (PublicKey,
//     Threshold: distinct keys are counted), or the targets keys of the
//     trust root (TrustRoot), before any field is acted on.
//  3. The signed version, os and arch must be those asked for, binary must be
//     a plain file name, and the version must not be older than
//     CurrentVersion unless AllowDowngradeUnsafe is given.
//  4. Only then is the payload requested. It is streamed, never held in
//     memory: limited to the signed compressed_size, hashed, decompressed,
//     limited to the signed size, hashed, and written to a new temporary file
//     created exclusively (random name, O_EXCL) in the target's directory,
//     with the target's mode. Sizes and both hashes must match the signed
//     values; the file is then fsynced.
//  5. Holding an advisory lock beside the target (.NAME.safeupdate.lock),
//     the new file takes the target's place and the old one becomes the
//     backup (default TARGET.backup): on Linux in one renameat2 exchange
//     followed by a rename to the backup name, elsewhere by linking the
//     target to the backup and renaming the new file over the target. The
//     directory is then fsynced. The target path never disappears.
//  6. If anything fails after the target was replaced, the backup is put
//     back; if that fails too, the error is an *InstallError and
//     RollbackError returns why. Temporary files are removed on every path.
//
// Step 4 has a shortcut. When the verified release signs a patch whose
// base is the target's own binary (its sha256 and size, hashed from the
// target opened read-only under the lock), Apply downloads the smallest
// such patch instead of the payload, into a temporary file beside the
// target, bounded by the patch's signed size and hashed as it streams, and
// applies it to the target with bounded memory (bsdiff) into the same new
// file; the result must be exactly the signed size and sha256, as a
// payload's. If any of that fails, or no patch has this binary as its
// base, the payload is downloaded into the same file instead, in the same
// call, after a log line that says why: nothing unverified is installed,
// and the patch only ever saves bytes. NoDelta turns it off.
//
// Steps 1 to 4, and the walk of roots and the channel below, are the code
// of internal/reader, the one reader of repositories: repotool's verify,
// sign, mirror and promote read through it too, so what a publisher's
// tools approve is what this package accepts, check for check.
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
// # Trust roots and channels
//
// Instead of pinning keys, a program can pin a TUF root (TrustRoot) and
// name a directory where the client keeps what it learns (TrustStore).
// Before step 1, the client then walks the repository's N+1.root.json,
// N+2.root.json, ... from the newest root it knows (trust.Walk, at most
// limits.Rotations steps of limits.RootJSON bytes), accepting each only
// when it is the next version and is signed by a threshold of the previous
// root's root keys and of its own. The walk ends at the first root that is
// missing, or that the repository refuses to serve (HTTP 403: S3 answers
// so for a missing key to a reader without list permission); any other
// 403 is an error wrapping ErrForbidden. It keeps the newest root in the
// store, so it never trusts a retired key again, and refuses it if it has
// expired (ErrExpired). Releases are then verified with its targets keys.
//
// With Channel instead of Version, the client reads channels/NAME.json,
// accepts it only when a threshold of the root's timestamp keys signed it
// for that name, it has not expired (ErrExpired: the freeze attack), it is
// not older than the last one seen (ErrReplay) and it lists this platform,
// then proceeds with the release it names, never one older than
// CurrentVersion. A channel may offer its release to a signed share of
// clients only (a staged rollout, repotool promote --rollout): a client
// the share leaves out (channel.InRollout of its RolloutID, or of a random
// id kept in the TrustStore) gets ErrNotInRollout and reads nothing of the
// release.
//
// # Errors
//
// Every error starts with "apply: ". Errors from Apply and Check wrap one of
// ErrSignature, ErrChecksum, ErrMetadata, ErrDowngrade, ErrTooLarge,
// ErrNotFound, ErrForbidden, ErrExpired, ErrReplay or ErrNotInRollout where one applies (a
// refused root rotation is ErrSignature, too many rotations ErrTooLarge);
// network and file system errors wrap the underlying error instead. A
// payload larger than signed is ErrTooLarge; a payload shorter than
// signed, with a wrong hash, or that fails to decompress is ErrChecksum.
// Configuration errors (no trust, conflicting options) are returned before
// any network access and wrap none of them.
//
// # Threat model
//
// The repository, any mirror and the network path to them may be hostile.
// Against them Apply resists: arbitrary installation (signatures, threshold
// of distinct keys), mix-and-match and replay under another path (signed
// version/os/arch), downgrade (CurrentVersion), endless data and
// decompression bombs (every read limited by a signed size), oversized
// metadata (fixed limit, read no further), tampered, oversized or
// misapplied patches (signed entries, signed sizes and hashes, the output
// checked like a payload, and the payload as the fallback), slow retrieval (stall timeout,
// metadata deadline), path traversal through binary (plain names only),
// HTTPS-to-HTTP downgrade by redirect (refused), partial writes (verified
// temporary file, atomic rename) and predictable temporary names (random,
// exclusive creation; no symlink at the backup name is followed). With
// TrustRoot: key compromise (revocation by rotation, thresholds, root
// rollback refused, a bounded walk); with Channel: freeze (expiry) and
// replay of an older channel (version kept in the TrustStore), including
// one with a smaller rollout; a rollout share edited by a mirror breaks the
// channel's signature.
//
// Not protected: the compromise of as many signing keys as the threshold;
// freshness without a Channel (a mirror may withhold a newer release or
// root, it can only serve a signed one; with a Channel, for no longer than
// the channel's expiry); a hostile local user who can write to the
// target's directory or the TrustStore; bugs in the new binary itself.
// AllowUnsignedUnsafe and AllowDowngradeUnsafe give up the defences their
// names say.
//
// Apply and Rollback of one target take an advisory lock beside it
// (.NAME.safeupdate.lock), so concurrent updaters, in one process or
// several, never interleave: Apply waits until ctx is done and then returns
// ErrBusy; Rollback does not wait. Leftovers of an updater killed midway
// (temporary files with safeupdate's exact name pattern, owned by the same
// user) are removed by the next Apply while it holds the lock. Calls for
// different targets are independent.
//
// # Compatibility
//
// The repository layout and release.json are a superset of
// choria-io/go-updater's: a signed repository can still be read by
// go-updater clients, and AllowUnsignedUnsafe reads go-updater's unsigned
// repositories. A release's "patches" are ignored by older safeupdate
// clients (a signed member they do not know) and by go-updater. The atomic
// rename relies on POSIX rename semantics in one
// directory; on network file systems (NFS) rename and fsync may not be
// atomic or durable. On Windows a running executable cannot be replaced, so
// it is first moved aside to .NAME.safeupdate-old-*.tmp, and a later run
// removes it.
package apply
