package pbzip2

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// liveHeap returns the bytes of live heap objects, after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// liveBound is the most a Reader with w workers may hold, whatever it
// reads: its pools of segments and output, a block array per worker
// (900000 uint32s), two more output buffers for the rest of segments (see
// finish), and compress/bzip2's decoder (about 4 MB) for the sequential
// decode.
func liveBound(w int) uint64 {
	return uint64((w+2)*maxSegment + (w+4)*maxOutput + 3*streamBufSize + w*nextSize*4 + 4<<20)
}

// A heapPeak records the most live heap seen above where it started,
// sampling on every nth call of sample.
type heapPeak struct {
	base, peak uint64
	every, n   int
}

func newHeapPeak(every int) *heapPeak { return &heapPeak{base: liveHeap(), every: every} }

func (h *heapPeak) sample() {
	h.n++
	if h.n%h.every != 0 {
		return
	}
	if l := liveHeap(); l > h.base {
		h.peak = max(h.peak, l-h.base)
	}
}

// blockAligned returns a bzip2 block of a multiple of 8 bits, and the data
// it holds, so that the block can be repeated byte by byte.
func blockAligned(t *testing.T) (block, data []byte) {
	t.Helper()
	for seed := uint64(0); seed < 100; seed++ {
		data = payload(t, 20000, seed)
		var e encoder
		var n int
		e.block, n = rle1(nil, data)
		if n != len(data) {
			t.Fatal("test block does not fit a bzip2 block")
		}
		if err := e.encodeBlock(updateCRC(0, data)); err != nil {
			t.Fatal(err)
		}
		if e.bw.nacc%8 == 0 {
			e.bw.align()
			return e.bw.out, data
		}
	}
	t.Fatal("no byte-aligned block found")
	return nil, nil
}

// endless is a bzip2 stream that never ends: a header and then the same
// block again and again.
type endless struct {
	head, block []byte
	pos         int
}

func (r *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.head) > 0 {
			k := copy(p[n:], r.head)
			r.head = r.head[k:]
			n += k
			continue
		}
		k := copy(p[n:], r.block[r.pos:])
		r.pos = (r.pos + k) % len(r.block)
		n += k
	}
	return n, nil
}

// TestSurvivesEndlessStream reads 60 MB from a stream that never ends and
// checks that memory does not grow with it.
func TestSurvivesEndlessStream(t *testing.T) {
	block, data := blockAligned(t)
	z, err := NewReader(&endless{head: []byte("BZh9"), block: block}, Workers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	h := newHeapPeak(100)
	got := make([]byte, len(data))
	for i := range 3000 {
		h.sample()
		if _, err := io.ReadFull(z, got); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("block %d differs", i)
		}
	}
	if h.peak > liveBound(1) {
		t.Fatalf("held %d MiB reading %d MB", h.peak>>20, 3000*len(data)/1e6)
	}
}

// TestSurvivesDecompressionBomb decodes 64 MiB of zeros, compressed by the
// bzip2 program to a few hundred bytes, twice in a row in one file.
func TestSurvivesDecompressionBomb(t *testing.T) {
	const size = 64 << 20
	bomb := program(t, make([]byte, size), "bzip2", "-9c")
	data := concat(bomb, bomb)
	for _, c := range readerConfigs[:2] {
		z, err := NewReader(bytes.NewReader(data), c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		h := newHeapPeak(256)
		buf := make([]byte, 1<<16)
		total := 0
		for {
			h.sample()
			n, err := z.Read(buf)
			if bytes.ContainsFunc(buf[:n], func(r rune) bool { return r != 0 }) {
				t.Fatalf("%s: non-zero output", c.name)
			}
			total += n
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		z.Close()
		if total != 2*size {
			t.Fatalf("%s: %d bytes, want %d", c.name, total, 2*size)
		}
		if h.peak > liveBound(runtime.GOMAXPROCS(0)) {
			t.Fatalf("%s: held %d MiB for %d compressed bytes", c.name, h.peak>>20, len(data))
		}
	}
}

// TestReaderMemoryFlat checks that decoding parallel streams holds no more
// memory than the bound, whatever the input size.
func TestReaderMemoryFlat(t *testing.T) {
	in := payload(t, 16<<20, 20)
	data := compress(t, in)
	src := &countingReader{r: bytes.NewReader(data)}
	z, err := NewReader(src, Workers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	h := newHeapPeak(32)
	buf := make([]byte, 1<<16)
	total := 0
	// The input read ahead of the output is bounded by the segments in
	// flight, whatever the input's size. Writer makes one stream of each
	// MiB of input, so the output so far, total, ends within stream
	// total>>20, which ends where the next one starts.
	var starts []int64
	for p := findHeader(data, 0); p >= 0; p = findHeader(data, p+1) {
		starts = append(starts, int64(p))
	}
	starts = append(starts, int64(len(data)))
	const ahead = (2+2)*maxSegment + readSize
	for {
		h.sample()
		end := starts[min(total>>20+1, len(starts)-1)]
		if read := src.n.Load(); read > end+ahead {
			t.Fatalf("read %d bytes of input with %d of output (its streams end at byte %d): more than %d ahead", read, total, end, ahead)
		}
		n, err := z.Read(buf)
		total += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if total != len(in) {
		t.Fatalf("%d bytes, want %d", total, len(in))
	}
	if h.peak > liveBound(2) {
		t.Fatalf("held %d MiB decoding %d MB", h.peak>>20, len(data)>>20)
	}
}

func TestReaderClose(t *testing.T) {
	data := compress(t, payload(t, 4<<20, 21))
	before := runtime.NumGoroutine()
	z, err := NewReader(bytes.NewReader(data), Workers(3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(z, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := z.Read(make([]byte, 10)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v, want ErrClosed", err)
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left running after Close", runtime.NumGoroutine()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCRCMatchesBitwise(t *testing.T) {
	bitwise := func(b []byte) uint32 {
		crc := ^uint32(0)
		for _, v := range b {
			crc ^= uint32(v) << 24
			for range 8 {
				if crc&0x80000000 != 0 {
					crc = crc<<1 ^ 0x04C11DB7
				} else {
					crc <<= 1
				}
			}
		}
		return ^crc
	}
	rng := rand.New(rand.NewPCG(22, 22))
	for n := range 300 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		split := rng.IntN(n + 1)
		if got, want := updateCRC(updateCRC(0, b[:split]), b[split:]), bitwise(b); got != want {
			t.Fatalf("length %d split %d: %08x, want %08x", n, split, got, want)
		}
	}
}

// stalled returns data and then blocks until unblock is closed.
type stalled struct {
	data    []byte
	unblock chan struct{}
}

func (r *stalled) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	<-r.unblock
	return 0, io.EOF
}

// TestSurvivesStalledInput checks that Close returns while the underlying
// reader is stuck, and that what was received before is readable.
func TestSurvivesStalledInput(t *testing.T) {
	in := payload(t, 2<<20, 23)
	r := &stalled{data: compress(t, in), unblock: make(chan struct{})}
	defer close(r.unblock)
	z, err := NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, maxOutput)
	if _, err := io.ReadFull(z, got); err != nil || !bytes.Equal(got, in[:len(got)]) {
		t.Fatalf("first stream: %v", err)
	}
	closed := make(chan error)
	go func() { closed <- z.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a stalled input")
	}
}

// noProgress returns data in pieces of at most 1000 bytes, counting reads,
// then (0, nil) for ever.
type noProgress struct {
	data  []byte
	reads atomic.Int64
}

func (r *noProgress) Read(p []byte) (int, error) {
	r.reads.Add(1)
	n := copy(p[:min(len(p), 1000)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestSurvivesInputWithoutProgress gives the Reader an input that stops
// returning data without an error: it must fail with io.ErrNoProgress, as
// compress/bzip2 does through bufio, rather than spin for ever.
func TestSurvivesInputWithoutProgress(t *testing.T) {
	data := compress(t, payload(t, 300000, 24))
	for _, in := range [][]byte{nil, data[:len(data)/2], data} {
		z, err := NewReader(&noProgress{data: in})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, z); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, io.ErrNoProgress) {
				t.Errorf("%d bytes, then no progress: %v, want io.ErrNoProgress", len(in), err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d bytes, then no progress: still reading after 10 s", len(in))
		}
		z.Close()
	}
}

// TestReaderStopsReadingAfterClose checks that Close stops the reads of
// the underlying reader, not only the decoding.
func TestReaderStopsReadingAfterClose(t *testing.T) {
	r := &noProgress{data: compress(t, payload(t, 4<<20, 25))}
	z, err := NewReader(r, Workers(2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(z, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	z.Close()
	after := r.reads.Load()
	time.Sleep(100 * time.Millisecond)
	if n := r.reads.Load() - after; n > 1 { // one Read may have been under way
		t.Fatalf("%d reads of the input after Close returned", n)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
