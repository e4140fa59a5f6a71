// Package bsdiff writes and applies binary patches in the BSDIFF40 format of
// Colin Percival's bsdiff 4 (readable by the reference bspatch).
//
// A patch is a 32-byte header and three bzip2 streams: control, diff and
// extra. The control stream is a list of triples (x, y, z): add the next x
// bytes of the diff stream to x bytes of the old file, copy the next y
// bytes of the extra stream, then move the position in the old file by z.
//
// Diff finds the matches with a suffix array of the old file (SA-IS, int32
// indices) and the approximate-match scan of bsdiff 4, so that a small
// change in code that moves many addresses becomes a diff stream of mostly
// zeros, which bzip2 compresses well.
//
// # Threat model
//
// Patch's input is untrusted: it is applied before the result's hash can be
// checked. Patch refuses a header whose new size is not the size the caller
// expects (ErrSize) before doing any work, and checks every control triple
// before acting on it: a negative length, a negative zero, a triple that
// would write past the expected size (ErrSize) or read or move outside the
// old file, a stream that ends early, trailing data after what the triples
// use, and more triples than a patch can need (ErrCorrupt). Memory is
// bounded whatever the input: Patch works in fixed-size chunks, never
// allocates by a length read from the patch, and its bzip2 decoders have
// bounded state (see internal/pbzip2). Its work is linear in newSize plus
// the size of the patch.
//
// Patch does not authenticate anything: what it writes before an error, and
// even a complete output, is unverified until the caller has compared its
// hash with a signed one. Write the output to a temporary file, never over
// the old file.
//
// Diff's input is trusted (the publisher's own files). It holds both files,
// a suffix array of old (4 bytes a byte) and the uncompressed streams: 0.9
// GB for two 79 MB builds of repotool (bench/delta.sh has the figures).
//
// Go programs should be built with -ldflags='-s -w' (or at least
// -ldflags=-compressdwarf=false) to patch well: Go compresses DWARF
// sections by default, and a change anywhere in the code changes them
// whole. Two builds of repotool four commits apart make a patch of 7% of
// the bzip2 payload with -s -w, 52% without.
//
// # Compatibility
//
// Diff's patches are read by the reference bspatch 4.3 (each section is one
// bzip2 stream, as bspatch requires). Patch reads the patches of the
// reference bsdiff 4.3. Patch is stricter than bspatch: it rejects patches
// that read outside the old file (which bspatch treats as zeros) and
// anything after the data the triples use, neither of which the reference
// bsdiff writes.
package bsdiff
