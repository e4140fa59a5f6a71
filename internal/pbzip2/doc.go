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
// Reader cuts its input at candidate stream starts ("BZh", a level and the
// block magic) and, inside long streams as bzip2 and lbzip2 write them, at
// candidate block starts (the 48-bit block magic at any bit offset), decodes
// the pieces (segments) in parallel and returns the output in order. Each
// worker decodes segments with a strict decoder of its own that it keeps
// for good, so that decoding allocates nothing per segment. A segment that
// starts inside a stream is decoded without knowing the stream's level or
// the combined CRC of its earlier blocks; the Reader checks both when it
// puts the segment after the one before. Anything the strict decoder does
// not take, and all input after it, is decoded sequentially by the standard
// library's compress/bzip2, used through its public API, started where the
// output is still exactly its own: at a stream boundary, or at a block
// boundary inside a stream, after a made-up stream header and block that
// put it in the state it has there (level, combined CRC, bit offset).
//
// # Threat model
//
// Reader's input is untrusted: it may be corrupt, truncated, crafted or
// endless, and it may be read before any signature over it is checked.
//
//   - Reader accepts exactly the inputs compress/bzip2 accepts, returning
//     the same bytes, and fails on every input compress/bzip2 rejects, with
//     the same error (FuzzReaderMatchesStdlib). Output before an error is
//     unverified, as with compress/bzip2.
//   - A byte sequence that looks like a stream start, or a bit sequence that
//     looks like a block start, inside compressed data can neither corrupt
//     nor cut short the output: a segment is used only if the segments
//     chain exactly, each starting at the very bit where the one before it
//     ends, in the state it ends in (inside a stream or not, and if inside,
//     with every block's size allowed by the stream's level and the
//     combined CRC checked at the stream's end); otherwise the rest of the
//     input is decoded sequentially from the last point where the chain
//     holds. Since decoding from a point the chain reached is deterministic,
//     a false candidate can only make a segment fail, never pass
//     (TestSurvivesFalseBlockMagic). The workers' decoder takes a block only
//     if it is well-formed, complete and has a matching CRC, and then returns
//     what compress/bzip2 returns for it (FuzzSegDecoder); anything else
//     goes to compress/bzip2.
//   - Memory is bounded whatever the input: workers+2 segments of at most
//     1 MiB of input, workers+2 buffers of 1 MiB of output and 2 more for
//     the segment being read, 3.7 MB of block state per worker, and about
//     4 MB for compress/bzip2 once the decode is sequential. A segment that
//     decodes to more than its buffer (a decompression bomb) is decoded
//     only as fast as the caller reads, so the caller's limit on how much
//     it reads bounds the work. Work stays linear in the input however
//     densely crafted input holds candidates: each is checked once, each
//     input byte is copied at most twice, and a segment is decoded at most
//     once by a worker and once sequentially.
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
