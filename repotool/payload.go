package repotool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"

	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/release"
)

// checkPayload reads the payload of r from rd and checks it exactly as a
// client does before installing it (reader.Payload, the pipeline apply
// runs): its compressed size and hash and, decoded by the one decoder,
// the binary's size and hash. Reads are bounded by the signed sizes plus
// one byte, and memory stays flat whatever the size. r must have been
// verified (or, where that does not matter, parsed) already. A repository
// that could not be read is a *reader.FetchError, not a mismatch.
func checkPayload(ctx context.Context, rd repoReader, r *release.Release) error {
	if err := reader.Payload(ctx, params(), rd, r, io.Discard); err != nil {
		return err // names the payload
	}
	return nil
}

// hashUpTo returns the hex sha256 of what src yields and how many bytes it
// yielded, reading at most limit+1 bytes: n > limit means src holds more
// than limit, and the sum is then of a prefix.
func hashUpTo(src io.Reader, limit int64) (sum string, n int64, err error) {
	h := sha256.New()
	n, err = io.Copy(h, io.LimitReader(src, limit+1))
	return hex.EncodeToString(h.Sum(nil)), n, err
}
