package apply

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/platform"
	"github.com/safeupdate/safeupdate/trust"
)

// TrustRoot pins a TUF root (root.json, as `repotool init` writes it)
// instead of keys. It must be well formed and signed by a threshold of its
// own root keys, or TrustRoot fails before any network access. It needs
// TrustStore, and conflicts with PublicKey, Threshold and
// AllowUnsignedUnsafe.
//
// Before a release is verified, the client walks the repository's
// N+1.root.json, N+2.root.json, ... from the newest root it knows (the
// pinned one, or a newer one in the TrustStore), for at most
// limits.Rotations steps of at most limits.RootJSON bytes each, until one
// is missing or refused (HTTP 403, see the package documentation). Each
// root is accepted only when it is exactly the next version and is signed
// by a threshold of the previous root's root keys AND of its own; the
// newest one is written to the TrustStore, then must not have expired
// (ErrExpired).
// Releases are then verified with its targets keys and threshold, and
// channels with its timestamp keys.
//
// Not protected: a repository may withhold a new root (it cannot forge
// one), so a client keeps trusting the keys of the last root it saw until
// that root expires; choose root expiry with that in mind.
func TrustRoot(rootJSON []byte) Option {
	return func(c *config) error {
		if c.root != nil {
			return errors.New("apply: TrustRoot given twice: pin one root")
		}
		r, err := trust.NewRoot(rootJSON)
		if err != nil {
			return fmt.Errorf("apply: TrustRoot: %w", err)
		}
		c.root = r
		return nil
	}
}

// TrustStore sets the directory where the client keeps what it has learnt
// from the repository, so that it never goes back: root.json, the newest
// verified trust root, and channels.json, the highest version seen of each
// channel (forgotten when a rotation changes the timestamp keys, TUF
// section 5.3.11); and, when it is first needed, rollout-id (see
// RolloutID). All are replaced atomically (temporary file, fsync,
// rename); the directory is created with mode 0700 if it is missing.
//
// On each call, a root.json in the store is used instead of the pinned
// root when it verifies on its own and its version is higher; otherwise
// the pinned root is used and replaces it. The store is trusted as much as
// the pinned root: it must be writable only by the user that runs the
// update, and it belongs to one repository. Calls sharing a store must not
// run concurrently.
func TrustStore(dir string) Option {
	return func(c *config) error {
		if dir == "" {
			return errors.New("apply: TrustStore: empty path")
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("apply: TrustStore: %w", err)
		}
		c.store = abs
		return nil
	}
}

// Channel makes Apply and Check read channels/NAME.json instead of being
// given a Version, and install or check the release it points to. It
// requires TrustRoot and conflicts with Version.
//
// The channel file is read with a limit of limits.ChannelJSON bytes and is
// accepted only when a threshold of the trust root's timestamp keys signed
// it, its signed name is name, it has not expired (ErrExpired: the freeze
// attack), its version is not below the highest one recorded in the
// TrustStore (ErrReplay), and it lists this OS/Arch. Its version is then
// recorded, and the release it names is verified exactly as with Version:
// a release older than CurrentVersion is ErrDowngrade (unless
// AllowDowngradeUnsafe), and the same version is a no-op for Apply.
// A channel that offers its release to part of the fleet only is acted on
// by the clients in its rollout (see RolloutID); the others get
// ErrNotInRollout.
//
// Not protected: until a channel expires, a repository may keep serving it
// instead of a newer one, and a client that has never seen a newer one
// cannot tell.
func Channel(name string) Option {
	return func(c *config) error {
		if err := channel.ValidName(name); err != nil {
			return fmt.Errorf("apply: Channel: %w", err)
		}
		c.channel = name
		return nil
	}
}

// maxRolloutID bounds a RolloutID: a machine id or host name fits.
const maxRolloutID = 256

// RolloutID sets the identity this client is placed by in staged
// rollouts: a stable name of the machine, such as its machine id or host
// name, so that a reinstalled program keeps its place. It needs Channel.
// Without it, the client draws a random 128-bit id the first time a
// channel offers a release to part of the fleet, and keeps it in the
// TrustStore (rollout-id, mode 0600) for every later call.
//
// A channel that offers its release to a share of clients (repotool
// promote --rollout) is acted on only by the clients the rollout
// includes: channel.InRollout of this id, the channel's name and the
// release, against the signed share. The same id always decides the same
// way for the same release, and stays in as the share grows. Others get
// an error wrapping ErrNotInRollout, before anything of the release is
// read.
//
// Not protected: the id is the client's own claim. A client that wants a
// release early can claim an id that is in; the rollout limits how many
// honest machines a bad release reaches, it is no access control.
func RolloutID(id string) Option {
	return func(c *config) error {
		switch {
		case id == "":
			return errors.New("apply: RolloutID: empty id")
		case len(id) > maxRolloutID:
			return fmt.Errorf("apply: RolloutID: %d bytes, the limit is %d", len(id), maxRolloutID)
		case strings.ContainsRune(id, 0) || !utf8.ValidString(id):
			return errors.New("apply: RolloutID: want valid UTF-8 without NUL")
		}
		c.rolloutID = id
		return nil
	}
}

// checkRootTrust checks the options of trust-root mode; checkRepo calls it
// when TrustRoot, TrustStore, Channel or RolloutID was given.
func (c *config) checkRootTrust() error {
	switch {
	case c.rolloutID != "" && c.channel == "":
		return errors.New("apply: RolloutID has no use without Channel: only a channel carries a rollout")
	case c.root == nil && c.channel != "":
		return errors.New("apply: Channel needs TrustRoot: a channel is signed by the root's timestamp keys, which pinned keys do not name")
	case c.root == nil:
		return errors.New("apply: TrustStore has no use without TrustRoot")
	case len(c.pubs) > 0:
		return errors.New("apply: TrustRoot and PublicKey given together: pin a root, or keys, not both")
	case c.threshold != 0:
		return errors.New("apply: Threshold given with TrustRoot: the root sets each role's threshold")
	case c.allowUnsigned:
		return errors.New("apply: TrustRoot and AllowUnsignedUnsafe given together: pin a root, or accept unsigned releases, not both")
	case c.store == "":
		return errors.New("apply: TrustRoot needs TrustStore: without it a client forgets every rotation and channel it has seen, and a repository could take it back to revoked keys")
	case c.channel != "" && c.version != "":
		return errors.New("apply: Version and Channel given together: name the version, or the channel that names it")
	case !platform.Known(c.goos, c.goarch):
		return fmt.Errorf("apply: %s/%s is not a platform Go knows (see go tool dist list)", c.goos, c.goarch)
	}
	return nil
}
