package repotool

import (
	"context"
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
