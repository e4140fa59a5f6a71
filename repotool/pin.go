package repotool

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/safeupdate/safeupdate/blobrepo"
	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/localfile"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

// The publisher's pinned trust.
//
// Whoever can write to a repository's storage can write any root.json and
// any channel file there. A publisher command that took those as its
// starting point would sign what the attacker chose: a forged root that
// lists the publisher's root key beside the attacker's would be endorsed
// by the next routine rotation, and a channel rolled back in storage would
// be numbered below what clients have seen (they refuse it: a silent
// freeze); a release swapped in storage would get the next signer's key on
// the attacker's binary. So Rotate, SignRoot, Promote and Sign start from
// trust the publisher holds locally, a pin directory:
//
//	PIN/root.json       the newest root this publisher has verified, byte
//	                    for byte as in the repository; the same file a
//	                    client pins
//	PIN/channels.json   {"stable": 7, ...}: the highest version of each
//	                    channel written or verified from here
//
// Init writes it; Rotate and SignRoot replace root.json once a new root is
// complete; Promote records each channel it writes; Sign only reads it.
// Every read of the repository's roots walks from PIN/root.json, exactly
// as a client does, and refuses a repository that disagrees with it.

// ErrPin is returned when the repository disagrees with the publisher's
// pinned trust, or when there is no usable pin.
var ErrPin = errors.New("repotool: the repository disagrees with the pinned trust")

const (
	pinRootFile     = "root.json"
	pinChannelsFile = "channels.json"
)

// pin is a loaded pin directory.
type pin struct {
	dir      string
	root     *trust.Root      // nil before the first root is complete
	channels map[string]int64 // channel name -> highest version
}

// loadPin reads the pin directory dir, which may not exist yet (then it
// holds no root: pinnedRoot refuses it, only Init and the signing of root
// version 1 start from nothing).
func loadPin(op, dir string) (*pin, error) {
	if dir == "" {
		return nil, errorf(ErrPin, "repotool: %s: no pin directory given: the publisher's local copy of the trust root (written by init) is what every root and channel in the repository is checked against", op)
	}
	p := &pin{dir: dir, channels: map[string]int64{}}
	data, err := readLocal(filepath.Join(dir, pinRootFile), limits.RootJSON)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("repotool: %s: pin: %w", op, err)
	default:
		if p.root, err = trust.NewRoot(data); err != nil {
			return nil, fmt.Errorf("repotool: %s: pinned root %s: %s", op, filepath.Join(dir, pinRootFile), trimPrefix(err))
		}
	}
	data, err = readLocal(filepath.Join(dir, pinChannelsFile), limits.ChannelJSON)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("repotool: %s: pin: %w", op, err)
	default:
		if err := json.Unmarshal(data, &p.channels); err != nil {
			return nil, fmt.Errorf("repotool: %s: pin %s: %v", op, filepath.Join(dir, pinChannelsFile), err)
		}
		for name, seq := range p.channels {
			if _, err := channel.Path(name); err != nil || seq < 1 {
				return nil, fmt.Errorf("repotool: %s: pin %s: bad entry %q: %d", op, filepath.Join(dir, pinChannelsFile), name, seq)
			}
		}
	}
	return p, nil
}

// readLocal reads a local regular file of at most limit bytes.
func readLocal(path string, limit int64) ([]byte, error) { return localfile.Read(path, limit) }

// write replaces one file of the pin atomically, through the same
// directory store that writes repositories.
func (p *pin) write(ctx context.Context, name string, data []byte) error {
	abs, err := filepath.Abs(p.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	s, err := blobrepo.Open(ctx, (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String())
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	defer s.Close()
	if err := s.Put(ctx, name, bytes.NewReader(data), blobrepo.PutOptions{}); err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	return nil
}

// saveRoot records r as the newest verified root.
func (p *pin) saveRoot(ctx context.Context, r *trust.Root) error {
	if err := p.write(ctx, pinRootFile, r.Bytes()); err != nil {
		return err
	}
	p.root = r
	return nil
}

// saveChannel records that version seq of channel name was written.
func (p *pin) saveChannel(ctx context.Context, name string, seq int64) error {
	if seq <= p.channels[name] {
		return nil
	}
	next := maps.Clone(p.channels)
	next[name] = seq
	data, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	if err := p.write(ctx, pinChannelsFile, append(data, '\n')); err != nil {
		return err
	}
	p.channels = next
	return nil
}

// pinnedRoot returns the repository's current root, reached from the
// pinned root as a client reaches it: the repository must hold the pinned
// version as N.root.json with the same signed content, each newer
// N.root.json must verify as the successor of the one before (trust.Walk;
// a next root the repository refuses to serve ends the chain, as a missing
// one does), and a root.json at or above the pinned version must be one of
// the roots of that chain. Anything else is refused with ErrPin, naming
// what differs. More than limits.Rotations newer roots is an error
// wrapping trust.ErrTooManyRotations. Expiry is not checked.
func pinnedRoot(ctx context.Context, s *repoStore, op string, p *pin) (*trust.Root, error) {
	fail := func(format string, args ...any) (*trust.Root, error) {
		return nil, errorf(ErrPin, "repotool: %s: "+format, append([]any{op}, args...)...)
	}
	if p.root == nil {
		if tok, err := s.token(ctx, rootFile); err != nil {
			return nil, fmt.Errorf("repotool: %s: %w", op, err)
		} else if tok == "" {
			return nil, errorf(ErrNoRoot, "repotool: %s: no %s in %s", op, rootFile, s.name)
		}
		return fail("no pinned root in %s to check %s against: copy in a root.json you have verified (init writes it), or give --pin", p.dir, s.name)
	}
	name := trust.RootFileName(p.root.Version())
	data, err := readRepoFile(ctx, s.rd, name, limits.RootJSON)
	if errors.Is(err, ErrNotFound) {
		return fail("%s has no %s, the version of the pinned root (%s): the storage was rolled back, or is another repository", s.name, name, p.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("repotool: %s: %s: %w", op, name, err)
	}
	if err := sameRoot(p.root, data); err != nil {
		return fail("%s in %s differs from the pinned root: %v", name, s.name, err)
	}
	chain := map[int64]*trust.Root{p.root.Version(): p.root}
	r, err := trust.Walk(ctx, p.root, rootFetch(s.rd), func(nr *trust.Root, _ []byte) { chain[nr.Version()] = nr })
	var re *trust.RotationError
	switch {
	case errors.As(err, &re):
		return fail("%s in %s does not follow from root version %d: %s", trust.RootFileName(re.Version), s.name, r.Version(), trimPrefix(re.Err))
	case errors.Is(err, trust.ErrTooManyRotations):
		pinned := filepath.Join(p.dir, pinRootFile)
		return nil, errorf(err, "repotool: %s: %s holds more than %d roots after the pinned root version %d, more than one walk verifies: check them with verify --root %s, and copy the newest root it verifies to %s",
			op, s.name, limits.Rotations, p.root.Version(), pinned, pinned)
	case err != nil:
		return nil, fmt.Errorf("repotool: %s: %s: %w", op, trust.RootFileName(r.Version()+1), err)
	}
	data, err = readRepoFile(ctx, s.rd, rootFile, limits.RootJSON)
	if errors.Is(err, ErrNotFound) {
		return fail("%s has no %s", s.name, rootFile)
	}
	if err != nil {
		return nil, fmt.Errorf("repotool: %s: %s: %w", op, rootFile, err)
	}
	cur, err := trust.NewRoot(data)
	if err != nil {
		return fail("%s in %s: %s", rootFile, s.name, trimPrefix(err))
	}
	// root.json may lag behind (an interrupted rotation writes it last);
	// one older than the pin cannot be checked from it and is passed over,
	// as a client pinning a newer root passes it over. One at or above the
	// pinned version must be a root of the verified chain.
	if cur.Version() >= p.root.Version() {
		want, ok := chain[cur.Version()]
		if !ok {
			return fail("%s in %s is root version %d, but the roots reached from the pinned root version %d end at version %d", rootFile, s.name, cur.Version(), p.root.Version(), r.Version())
		}
		if err := sameRoot(want, data); err != nil {
			return fail("%s in %s differs from %s: %v", rootFile, s.name, trust.RootFileName(cur.Version()), err)
		}
	}
	return r, nil
}

// sameRoot reports how data, a root, differs from r in what it signs,
// naming the differences in keys, thresholds and expiry where there are
// any. Signatures may differ (one more signature does not change a root).
func sameRoot(r *trust.Root, data []byte) error {
	other, err := trust.NewRoot(data)
	if err != nil {
		return errors.New(trimPrefix(err))
	}
	switch {
	case other.Version() != r.Version():
		return fmt.Errorf("version %d, want %d", other.Version(), r.Version())
	case r.SameSigned(other):
		return nil
	}
	if ch := rootChanges(r, draftOf(other)); len(ch) > 0 {
		return errors.New(strings.Join(ch, "; "))
	}
	return errors.New("its signed content differs (beyond keys, thresholds and expiry)")
}

// draftOf is r's content as a draft, to compare with rootChanges.
func draftOf(r *trust.Root) *trust.RootDraft {
	d := trust.NextRoot(r)
	d.Version = r.Version()
	return d
}

// rootChanges describes, one line each, how the draft next differs from
// prev: keys removed and added per role (root, release, channel), the
// roles' thresholds and the expiry. It is what a signer is shown before
// signing, and what Rotate reports.
func rootChanges(prev *trust.Root, next *trust.RootDraft) []string {
	var out []string
	for _, role := range []struct {
		what string
		old  *trust.Keys
		new  trust.RoleKeys
	}{
		{"root", prev.RootKeys(), next.Root},
		{"release", prev.Targets(), next.Targets},
		{"channel", prev.Timestamp(), next.Timestamp},
	} {
		oldIDs := role.old.IDs()
		var newIDs []string
		for _, pub := range role.new.Keys {
			newIDs = append(newIDs, keyID(pub))
		}
		for _, id := range oldIDs {
			if !slices.Contains(newIDs, id) {
				out = append(out, fmt.Sprintf("removed %s key %s", role.what, id))
			}
		}
		for _, id := range newIDs {
			if !slices.Contains(oldIDs, id) {
				out = append(out, fmt.Sprintf("added %s key %s", role.what, id))
			}
		}
		if role.new.Threshold != role.old.Threshold() {
			out = append(out, fmt.Sprintf("%s threshold %d (was %d)", role.what, role.new.Threshold, role.old.Threshold()))
		}
	}
	oldExp, newExp := prev.Expires().UTC().Truncate(time.Second), next.Expires.UTC().Truncate(time.Second)
	if !newExp.Equal(oldExp) {
		out = append(out, fmt.Sprintf("expires %s (was %s)", newExp.Format(time.RFC3339), oldExp.Format(time.RFC3339)))
	}
	return out
}

func keyID(pub crypto.PublicKey) string {
	id, err := keys.ID(pub)
	if err != nil {
		return "(bad key: " + trimPrefix(err) + ")"
	}
	return id
}

// DefaultPin returns the pin directory repotool uses for the repository
// repo when none is given: UserConfigDir/safeupdate/pins/NAME, where NAME
// is the repository's last path element and a hash of its absolute path or
// URL (without the query), so that each repository has its own.
func DefaultPin(repo string) (string, error) {
	if repo == "" {
		return "", errors.New("repotool: no repository given")
	}
	where := repo
	if u, err := url.Parse(repo); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		u.RawQuery, u.Fragment = "", ""
		where = u.String()
	} else if abs, err := filepath.Abs(repo); err == nil {
		where = abs
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("repotool: no directory for the pin (give one): %w", err)
	}
	sum := sha256.Sum256([]byte(where))
	name := pinNameChars.ReplaceAllString(path.Base(filepath.ToSlash(strings.TrimRight(where, `/\`))), "_")
	return filepath.Join(base, "safeupdate", "pins", name+"-"+hex.EncodeToString(sum[:6])), nil
}

var pinNameChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
