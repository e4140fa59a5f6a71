// Package pbzip2 compresses and decompresses bzip2 on all cores, in pure
// Go, with bounded memory.
//
// Writer cuts its input into chunks of at most 1 MiB that each fill one
// 900 kB bzip2 block, compresses the chunks in parallel and writes each as
// a complete bzip2 stream, in order (the layout pbzip2 writes). Its block
// encoder is this package's own: a suffix-array BWT, move-to-front and
// zero-run coding, and an entropy stage that clusters the 50-symbol groups
// of a block into up to six prefix codes, each with optimal code lengths
// of at most 17 bits (package-merge). Its output is about the size of
// bzip2 -9's.
//
// Reader finds the starts of concatenated streams in its input, decodes
// the streams between them in parallel and returns the output in order. Any
// other input (one long stream, as plain bzip2 writes) is decoded
// sequentially while a goroutine reads ahead. Each worker decodes segments
// with a strict decoder of its own that it keeps for good, so that decoding
// allocates nothing per segment. The sequential decode (of one long stream,
// and of all input from the first segment the strict decoder does not take)
// is the standard library's compress/bzip2, used through its public API.
//
// # Threat model
//
// Reader's input is untrusted: it may be corrupt, truncated, crafted or
// endless, and it may be read before any signature over it is checked.
//
//   - Reader accepts exactly the inputs compress/bzip2 accepts, returning
//     the same bytes, and fails on every input compress/bzip2 rejects
//     (FuzzReaderMatchesStdlib). Output before an error is unverified, as
//     with compress/bzip2. A byte sequence that looks like a stream start
//     inside compressed data can neither corrupt nor cut short the output:
//     a segment is used only if it decodes as whole streams; otherwise the
//     rest of the input is decoded sequentially from there. The workers'
//     decoder takes a segment only if it is whole, well-formed streams
//     with matching checksums, and then returns what compress/bzip2 returns
//     for it (FuzzSegDecoder); anything else goes to compress/bzip2.
//   - Memory is bounded whatever the input: workers+2 segments of at most
//     1 MiB of input, workers+2 buffers of 1 MiB of output, 3.6 MB of block
//     state per worker, and about 4 MB for compress/bzip2 once the decode
//     is sequential. A stream that never ends is decoded sequentially; a
//     stream that expands without bound (a decompression bomb) is decoded
//     only as fast as the caller reads, so the caller's limit on how much
//     it reads bounds the work. Work stays linear in the input however
//     densely crafted input holds stream-start patterns.
//   - Reader does not authenticate anything: the caller must check a hash
//     or signature of the input or the output.
//
// Writer's input is trusted (the publisher's own files).
//
// # Compatibility
//
// Writer's output is read by every bzip2 decoder (bzip2 -d, lbzip2,
// pbzip2, compress/bzip2, ...), which all accept concatenated streams.
// Reader reads anything compress/bzip2 reads. Writer's output for a given
// input is deterministic (independent of the number of workers and of how
// the input is split into writes) but may change between versions.
package pbzip2
