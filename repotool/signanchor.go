package repotool

import (
	"context"
	"crypto"
	"fmt"
	"slices"
	"strings"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/localfile"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// anchor checks r, read from the repository where, against the publisher's
// local trust (root, reached from the pin pinDir, and bin, either may be
// nil but not both) and records in res what r already carries. See Sign
// for the rules.
func (res *SignResult) anchor(r *release.Release, root *trust.Root, bin *localBinary, where, pinDir string) error {
	if root == nil {
		seen := map[string]bool{}
		for _, s := range r.Signatures {
			if !seen[s.KeyID] {
				seen[s.KeyID] = true
				res.Existing = append(res.Existing, ExistingSignature{KeyID: s.KeyID, Status: SignatureUnchecked})
			}
		}
	} else {
		res.Root = root.Version()
		c, err := r.CheckSignatures(root.Targets())
		if err != nil {
			return fmt.Errorf("repotool: sign: %s: %s", res.Dir, trimPrefix(err))
		}
		if len(c.Invalid) > 0 {
			return errorf(ErrPin, "repotool: sign: release %s in %s has a signature by release %s %s of root version %d that does not verify: release.json was changed after that key signed it, or the signature is forged; nothing was signed",
				res.Dir, where, plural(len(c.Invalid), "key", "keys"), strings.Join(c.Invalid, ", "), root.Version())
		}
		for _, id := range c.Valid {
			res.Existing = append(res.Existing, ExistingSignature{KeyID: id, Status: SignatureValid})
		}
		for _, id := range c.Unknown {
			res.Existing = append(res.Existing, ExistingSignature{KeyID: id, Status: SignatureNotReleaseKey})
		}
		if len(c.Valid) == 0 && bin == nil {
			what := "it is unsigned"
			if len(c.Unknown) > 0 {
				what = fmt.Sprintf("it is signed only by %s %s, not in that role", plural(len(c.Unknown), "key", "keys"), strings.Join(c.Unknown, ", "))
			}
			return errorf(ErrUnanchored, "repotool: sign: release %s in %s carries no valid signature by a release key of root version %d (pin %s): %s; nothing ties it to a release of this repository. If you are its first signer, give the binary you built (--binary FILE)",
				res.Dir, where, root.Version(), pinDir, what)
		}
	}
	if bin != nil {
		if bin.size != r.Size || bin.sum != r.Hash {
			return errorf(ErrUnanchored, "repotool: sign: release %s in %s is not the local binary %s: the release signs sha256 %s, %d bytes; the local binary is sha256 %s, %d bytes; nothing was signed",
				res.Dir, where, bin.path, r.Hash, r.Size, bin.sum, bin.size)
		}
		res.Binary = bin.path
	}
	return nil
}

// outsideRole returns the ids of ks that are not keys of role.
func outsideRole(ks []crypto.Signer, role *trust.Keys) []string {
	var out []string
	for _, k := range ks {
		if id := keyID(k.Public()); !slices.Contains(role.IDs(), id) {
			out = append(out, id)
		}
	}
	return out
}

// localBinary is the signer's own copy of a release's binary.
type localBinary struct {
	path string
	sum  string // hex sha256
	size int64
}

// readLocalBinary hashes the regular file at path, of at most
// limits.BinarySize bytes.
func readLocalBinary(ctx context.Context, path string) (*localBinary, error) {
	f, _, err := localfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sum, n, err := hashUpTo(&ctxReader{ctx: ctx, r: f}, limits.BinarySize)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	case n == 0:
		return nil, fmt.Errorf("%s is empty", path)
	case n > limits.BinarySize:
		return nil, fmt.Errorf("%s is larger than %d bytes, the limit for a binary", path, int64(limits.BinarySize))
	}
	return &localBinary{path: path, sum: sum, size: n}, nil
}
