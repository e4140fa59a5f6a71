package repotool

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/pbzip2"
	"github.com/safeupdate/safeupdate/release"
)

// The compression kinds a payload may use. "" means bzip2, the only one
// go-updater clients read.
const (
	kindBzip2 = "bzip2"
	kindZstd  = "zstd"
)

// The zstd levels a publisher may choose (AddConfig.ZstdLevel). On 100 MiB
// of executables (bench/mkpayload), compressed on 2 cores: "better"
// (klauspost's SpeedBetterCompression, the default) made 37.7% of the
// input in 1.3-1.5 s, "best" (SpeedBestCompression) 35.4% in 4.4-5.6 s,
// and repotool's bzip2 37.6% in 4.8-5.0 s. So "better" makes payloads of
// bzip2's size in under a third of its time, which clients decode several
// times faster; "best" saves another 6% of every download for about the
// time of bzip2.
const (
	ZstdBetter = "better"
	ZstdBest   = "best"
)

// zstdLevel returns the encoder level named name ("" is ZstdBetter) for
// compression kind; a level is refused for a kind other than zstd.
func zstdLevel(kind, name string) (zstd.EncoderLevel, error) {
	if kind != kindZstd {
		if name != "" {
			return 0, fmt.Errorf("a zstd level (%q) is only for zstd compression, not %s", name, cmp.Or(kind, kindBzip2))
		}
		return 0, nil
	}
	switch name {
	case "", ZstdBetter:
		return zstd.SpeedBetterCompression, nil
	case ZstdBest:
		return zstd.SpeedBestCompression, nil
	}
	return 0, fmt.Errorf("unknown zstd level %q (valid: %s, %s)", name, ZstdBetter, ZstdBest)
}

// zstdChunk is the input of one zstd frame. The frames are compressed in
// parallel, one per core (a single frame compresses on one: klauspost's
// WithConcurrentBlocks took 2.5 times the wall time of one core here), and
// a frame cannot refer to data of the one before, so larger frames lose
// less: on 100 MiB of executables, 16 MiB frames made 1.1% more than one
// frame, 8 MiB ones 2.1%, 32 MiB ones 0.7% with worse balance on 2 cores.
// Splitting the input into an even number of equal frames, so that 2 cores
// finish together, made no difference measured (8 of 12.5 MiB against 7
// of 16 for 100 MiB, 5 runs each) and 0.2-0.5% larger payloads.
const zstdChunk = 16 << 20

// payloadSuffix returns the file name suffix of a payload compressed with
// kind: ".bz2" or ".zst".
func payloadSuffix(kind string) (string, error) {
	switch kind {
	case "", kindBzip2:
		return ".bz2", nil
	case kindZstd:
		return ".zst", nil
	}
	return "", unknownKind(kind)
}

func unknownKind(kind string) error {
	return fmt.Errorf("unknown compression %q (valid: %s, %s)", kind, kindBzip2, kindZstd)
}

// newCompressor returns a writer compressing to w with kind. Both run on
// all cores. bzip2 writes a sequence of complete bzip2 streams (as pbzip2
// does), which every bzip2 decoder reads; zstd writes a sequence of frames
// of zstdChunk bytes of input each, with window limits.ZstdWindow (which
// clients enforce: a larger one would be refused), which every zstd
// decoder reads as one. level is the zstd encoder's (see zstdLevel).
func newCompressor(w io.Writer, kind string, level zstd.EncoderLevel) (io.WriteCloser, error) {
	switch kind {
	case "", kindBzip2:
		return pbzip2.NewWriter(w)
	case kindZstd:
		return newZstdWriter(w, runtime.GOMAXPROCS(0), zstdChunk, level)
	}
	return nil, unknownKind(kind)
}

// A zstdWriter compresses chunks of its input into zstd frames in
// parallel and writes the frames in order.
type zstdWriter struct {
	w     io.Writer
	chunk int
	work  chan *zstdJob // to the encoders
	order chan *zstdJob // to output, in input order; its capacity bounds memory
	done  chan struct{} // closed when output has written every frame
	wg    sync.WaitGroup
	buf   []byte             // input of the next frame
	free  chan []byte        // input buffers done with, for reuse
	outs  chan *bytes.Buffer // frame buffers written out, for reuse
	sent  bool               // a frame was started
	shut  bool               // Close was called
	err   atomic.Pointer[error]
}

type zstdJob struct {
	in   []byte
	out  *bytes.Buffer
	err  error
	done chan struct{}
}

func newZstdWriter(w io.Writer, workers, chunk int, level zstd.EncoderLevel) (*zstdWriter, error) {
	encs := make([]*zstd.Encoder, workers)
	for i := range encs {
		e, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(level),
			zstd.WithWindowSize(limits.ZstdWindow),
			zstd.WithEncoderCRC(true),
			zstd.WithEncoderConcurrency(1), // this writer runs one per core
			zstd.WithZeroFrames(true))      // an empty binary still makes a valid frame
		if err != nil {
			return nil, err
		}
		encs[i] = e
	}
	// At most 2*workers+1 frames are in the writer at once: one filling,
	// workers compressing and workers waiting in order.
	z := &zstdWriter{w: w, chunk: chunk, work: make(chan *zstdJob),
		order: make(chan *zstdJob, workers), done: make(chan struct{}),
		free: make(chan []byte, 2*workers+1), outs: make(chan *bytes.Buffer, 2*workers+1)}
	z.wg.Add(workers)
	for _, e := range encs {
		go z.encode(e)
	}
	go z.output()
	return z, nil
}

// encode compresses each job's input into one frame, with the streaming
// encoder, so that the frame declares the window whatever its size.
func (z *zstdWriter) encode(e *zstd.Encoder) {
	defer z.wg.Done()
	for j := range z.work {
		e.Reset(j.out)
		_, err := e.Write(j.in)
		if cerr := e.Close(); err == nil {
			err = cerr
		}
		recycle(z.free, j.in[:0])
		j.in, j.err = nil, err
		close(j.done)
	}
}

// output writes the frames in order; after an error it only waits for the
// rest, so that nothing blocks.
func (z *zstdWriter) output() {
	defer close(z.done)
	for j := range z.order {
		<-j.done
		if z.err.Load() != nil {
			continue
		}
		err := j.err
		if err == nil {
			_, err = z.w.Write(j.out.Bytes())
		}
		if err != nil {
			z.err.CompareAndSwap(nil, &err)
		}
		j.out.Reset()
		recycle(z.outs, j.out)
		j.out = nil
	}
}

// recycle keeps v in free for another frame, if there is room: reused
// buffers spare the page faults and clearing of fresh 16 MiB ones.
func recycle[T any](free chan T, v T) {
	select {
	case free <- v:
	default:
	}
}

func (z *zstdWriter) firstErr() error {
	if p := z.err.Load(); p != nil {
		return *p
	}
	return nil
}

// flush hands the buffered input to an encoder as one frame.
func (z *zstdWriter) flush() {
	out := &bytes.Buffer{}
	select {
	case out = <-z.outs:
	default:
	}
	j := &zstdJob{in: z.buf, out: out, done: make(chan struct{})}
	z.buf, z.sent = nil, true
	z.order <- j
	z.work <- j
}

func (z *zstdWriter) Write(p []byte) (int, error) {
	if z.shut {
		return 0, errors.New("zstd writer: write after close")
	}
	n := 0
	for len(p) > 0 {
		if err := z.firstErr(); err != nil {
			return n, err
		}
		if z.buf == nil {
			select {
			case z.buf = <-z.free:
			default:
				z.buf = make([]byte, 0, z.chunk)
			}
		}
		k := min(len(p), z.chunk-len(z.buf))
		z.buf = append(z.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(z.buf) == z.chunk {
			z.flush()
		}
	}
	return n, z.firstErr()
}

// Close writes the last frame (an empty one if there was no input) and
// waits for every frame to be written.
func (z *zstdWriter) Close() error {
	if z.shut {
		return z.firstErr()
	}
	z.shut = true
	if len(z.buf) > 0 || !z.sent {
		z.flush()
	}
	close(z.work)
	close(z.order)
	z.wg.Wait()
	<-z.done
	return z.firstErr()
}

// compress streams bin through the compressor named kind ("" or "bzip2",
// or "zstd", at the level named zlevel) into w, filling in r's hashes and
// sizes from the bytes actually read and written. On error nothing more is written to w after
// the error, and w's content is not a valid payload.
func compress(ctx context.Context, w io.Writer, bin io.Reader, r *release.Release, kind, zlevel string) error {
	level, err := zstdLevel(kind, zlevel)
	if err != nil {
		return err
	}
	rawHash, zHash := sha256.New(), sha256.New()
	zCount := &countWriter{}
	dst := &abortWriter{w: io.MultiWriter(w, zHash, zCount)}
	zw, err := newCompressor(dst, kind, level)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.MultiWriter(zw, rawHash), &ctxReader{ctx: ctx, r: io.LimitReader(bin, limits.BinarySize+1)})
	if err == nil && n > limits.BinarySize {
		err = fmt.Errorf("larger than %d bytes", int64(limits.BinarySize))
	}
	if err != nil {
		// Close stops the compressor's goroutines; dst drops what it
		// would still write.
		dst.abort()
		zw.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	r.Hash, r.Size = hex.EncodeToString(rawHash.Sum(nil)), n
	r.CompressedHash, r.CompressedSize = hex.EncodeToString(zHash.Sum(nil)), zCount.n
	return nil
}

var errAborted = errors.New("compression aborted")

// abortWriter passes writes to w until abort is called, then refuses them.
// Compressors write from their own goroutines, hence the atomic.
type abortWriter struct {
	w       io.Writer
	aborted atomic.Bool
}

func (a *abortWriter) abort() { a.aborted.Store(true) }

func (a *abortWriter) Write(p []byte) (int, error) {
	if a.aborted.Load() {
		return 0, errAborted
	}
	return a.w.Write(p)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// ctxReader stops a long copy when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
