package repotool

import (
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/safeupdate/safeupdate/internal/testprog"
	"github.com/safeupdate/safeupdate/release"
)

// executables returns about size bytes of real machine code: the files of
// /usr/bin, concatenated in name order.
func executables(tb testing.TB, size int) []byte {
	tb.Helper()
	entries, err := os.ReadDir("/usr/bin")
	if err != nil {
		tb.Fatal(err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var buf bytes.Buffer
	for _, e := range entries {
		if buf.Len() >= size {
			break
		}
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/usr/bin", e.Name()))
		if err != nil {
			continue // not readable by this user
		}
		buf.Write(b)
	}
	if buf.Len() < size {
		tb.Fatalf("only %d bytes of executables in /usr/bin, want %d", buf.Len(), size)
	}
	return buf.Bytes()[:size]
}

// filled reports whether compress filled in any of r's hashes or sizes.
func filled(r *release.Release) bool {
	return r.Hash != "" || r.Size != 0 || r.CompressedHash != "" || r.CompressedSize != 0
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// compressToFile runs compress into a file and returns the file's bytes.
func compressToFile(t *testing.T, data []byte, kind, level string) ([]byte, *release.Release) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "payload")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	r := &release.Release{}
	if err := compress(t.Context(), f, bytes.NewReader(data), r, kind, level); err != nil {
		t.Fatalf("compress(%q, %q): %v", kind, level, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	z, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return z, r
}

func TestCompressRoundTrips(t *testing.T) {
	data := executables(t, 5<<19) // 2.5 MiB: three bzip2 streams
	// A decoder is a program (prog, run with args) or in-process (decode).
	type decoder struct {
		name   string
		prog   string
		args   []string
		decode func(z []byte) ([]byte, error)
	}
	bzip2Decoders := []decoder{
		{name: "bzip2 -d", prog: "bzip2", args: []string{"-d", "-c"}},
		{name: "compress/bzip2", decode: func(z []byte) ([]byte, error) { return io.ReadAll(bzip2.NewReader(bytes.NewReader(z))) }},
	}
	zstdDecoders := []decoder{
		{name: "klauspost zstd, 8 MiB window", decode: func(z []byte) ([]byte, error) {
			d, err := zstd.NewReader(bytes.NewReader(z), zstd.WithDecoderMaxWindow(8<<20), zstd.WithDecoderConcurrency(1))
			if err != nil {
				return nil, err
			}
			defer d.Close()
			return io.ReadAll(d)
		}},
		{name: "zstd -d --memory=8MB", prog: "zstd", args: []string{"-d", "-c", "--memory=8MB"}},
	}
	payloads := map[string][]byte{}
	for _, tc := range []struct {
		kind, level string
		decoders    []decoder
	}{{"", "", bzip2Decoders}, {kindBzip2, "", bzip2Decoders}, {kindZstd, "", zstdDecoders},
		{kindZstd, ZstdBetter, zstdDecoders}, {kindZstd, ZstdBest, zstdDecoders}} {
		t.Run("kind="+tc.kind+",level="+tc.level, func(t *testing.T) {
			z, r := compressToFile(t, data, tc.kind, tc.level)
			payloads[tc.kind+"/"+tc.level] = z
			if r.Size != int64(len(data)) || r.Hash != sha(data) {
				t.Errorf("size, hash = %d, %s; want %d, %s", r.Size, r.Hash, len(data), sha(data))
			}
			if r.CompressedSize != int64(len(z)) || r.CompressedHash != sha(z) {
				t.Errorf("compressed size, hash = %d, %s; payload has %d, %s", r.CompressedSize, r.CompressedHash, len(z), sha(z))
			}
			if len(z) >= len(data)*3/4 {
				t.Errorf("%d bytes compressed to %d: hardly compressed", len(data), len(z))
			}
			for _, d := range tc.decoders {
				t.Run(d.name, func(t *testing.T) {
					decode := d.decode
					if d.prog != "" {
						path := testprog.Path(t, d.prog)
						decode = func(z []byte) ([]byte, error) {
							cmd := exec.Command(path, d.args...)
							cmd.Stdin = bytes.NewReader(z)
							return cmd.Output()
						}
					}
					got, err := decode(z)
					if err != nil || !bytes.Equal(got, data) {
						t.Errorf("%d bytes (want %d), equal %v, err %v", len(got), len(data), bytes.Equal(got, data), err)
					}
				})
			}
			t.Logf("%d -> %d bytes", len(data), len(z))
		})
	}
	// The checks below compare subtests' payloads; -run may have skipped some.
	if z, ok := payloads[kindBzip2+"/"]; ok {
		// pbzip2's layout: one stream (header "BZh9", a block's magic) per chunk.
		if n := bytes.Count(z, []byte("BZh91AY&SY")); n < 3 {
			t.Errorf("2.5 MiB compressed to %d bzip2 streams, want at least 3 (one per MiB at most)", n)
		}
		if d, ok := payloads["/"]; ok && !bytes.Equal(d, z) {
			t.Error(`kind "" and "bzip2" made different payloads`)
		}
	}
	for _, level := range []string{"", ZstdBetter, ZstdBest} {
		if z, ok := payloads[kindZstd+"/"+level]; ok {
			// A streamed frame declares the encoder's window, whatever the
			// input's size; the client refuses frames that declare more than 8 MiB.
			var h zstd.Header
			if err := h.Decode(z); err != nil || h.WindowSize != 8<<20 || h.SingleSegment {
				t.Errorf("zstd level %q: frame header %+v, %v; want an 8 MiB window", level, h, err)
			}
		}
	}
	if d, ok := payloads[kindZstd+"/"]; ok {
		if b, ok := payloads[kindZstd+"/"+ZstdBetter]; ok && !bytes.Equal(d, b) {
			t.Errorf("zstd level %q and %q made different payloads", "", ZstdBetter)
		}
		if b, ok := payloads[kindZstd+"/"+ZstdBest]; ok && len(b) >= len(d) {
			t.Errorf("zstd level best made %d bytes, better %d: best should be smaller", len(b), len(d))
		}
	}
}

func TestCompressEmptyBinary(t *testing.T) {
	for _, kind := range []string{kindBzip2, kindZstd} {
		z, r := compressToFile(t, nil, kind, "")
		if r.Size != 0 || r.Hash != sha(nil) || len(z) == 0 || r.CompressedSize != int64(len(z)) {
			t.Errorf("%s: size %d hash %s, payload %d bytes, compressed_size %d", kind, r.Size, r.Hash, len(z), r.CompressedSize)
		}
	}
}

func TestCompressRefusesUnknownKind(t *testing.T) {
	for _, kind := range []string{"gzip", "BZIP2", "bz2", "zst", "xz", " zstd"} {
		var out bytes.Buffer
		r := &release.Release{}
		err := compress(t.Context(), &out, strings.NewReader("binary"), r, kind, "")
		if err == nil || !strings.Contains(err.Error(), "valid: bzip2, zstd") {
			t.Errorf("compress(%q) = %v, want an error listing the valid kinds", kind, err)
		}
		if out.Len() != 0 || filled(r) {
			t.Errorf("compress(%q) wrote %d bytes or filled in the release", kind, out.Len())
		}
		if s, err := payloadSuffix(kind); err == nil {
			t.Errorf("payloadSuffix(%q) = %q, want an error", kind, s)
		}
	}
}

func TestCompressRefusesBadZstdLevel(t *testing.T) {
	for _, tc := range []struct{ kind, level, want string }{
		{kindZstd, "fast", "valid: better, best"},
		{kindZstd, "Best", "valid: better, best"},
		{kindZstd, "19", "valid: better, best"},
		{"", ZstdBest, "only for zstd compression, not bzip2"},
		{kindBzip2, ZstdBetter, "only for zstd compression, not bzip2"},
	} {
		var out bytes.Buffer
		r := &release.Release{}
		err := compress(t.Context(), &out, strings.NewReader("binary"), r, tc.kind, tc.level)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compress(%q, %q) = %v, want an error saying %q", tc.kind, tc.level, err, tc.want)
		}
		if out.Len() != 0 || filled(r) {
			t.Errorf("compress(%q, %q) wrote %d bytes or filled in the release", tc.kind, tc.level, out.Len())
		}
	}
}

func TestPayloadSuffix(t *testing.T) {
	for kind, want := range map[string]string{"": ".bz2", kindBzip2: ".bz2", kindZstd: ".zst"} {
		if got, err := payloadSuffix(kind); got != want || err != nil {
			t.Errorf("payloadSuffix(%q) = %q, %v; want %q", kind, got, err, want)
		}
	}
}

// endless is an endless binary that cancels its context after some bytes.
type endless struct {
	n, cancelAt int64
	cancel      context.CancelFunc
	data        []byte
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n >= e.cancelAt {
		e.cancel()
	}
	n := copy(p, e.data[e.n%int64(len(e.data)):])
	e.n += int64(n)
	return n, nil
}

func TestSurvivesCancelDuringCompress(t *testing.T) {
	data := executables(t, 1<<20)
	for _, kind := range []string{kindBzip2, kindZstd} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			bin := &endless{cancelAt: 3 << 20, cancel: cancel, data: data}
			out := &countWriter{}
			r := &release.Release{}
			err := compress(ctx, out, bin, r, kind, "")
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("compress = %v, want context.Canceled", err)
			}
			if bin.n > bin.cancelAt+64<<10 || filled(r) {
				t.Errorf("read %d bytes after cancel at %d; release filled in: %v", bin.n, bin.cancelAt, filled(r))
			}
		})
	}
	t.Run("before start", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var out bytes.Buffer
		if err := compress(ctx, &out, bytes.NewReader(data), &release.Release{}, "", ""); !errors.Is(err, context.Canceled) || out.Len() != 0 {
			t.Errorf("compress = %v after writing %d bytes, want context.Canceled and nothing", err, out.Len())
		}
	})
}

func benchmarkCompress(b *testing.B, kind string) {
	data := executables(b, 8<<20)
	b.SetBytes(int64(len(data)))
	var r release.Release
	for b.Loop() {
		if err := compress(b.Context(), io.Discard, bytes.NewReader(data), &r, kind, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(r.CompressedSize)/float64(len(data)), "ratio")
}

func BenchmarkCompressBzip2(b *testing.B) { benchmarkCompress(b, kindBzip2) }
func BenchmarkCompressZstd(b *testing.B)  { benchmarkCompress(b, kindZstd) }

// TestZstdFramesReadAsOne compresses in frames much smaller than the real
// ones, so that there are many: every zstd decoder reads them as one
// payload, within the 8 MiB window clients allow, and the frames do not
// depend on the number of workers.
func TestZstdFramesReadAsOne(t *testing.T) {
	data := executables(t, 5<<19)
	var outs [][]byte
	for _, workers := range []int{1, 3} {
		var b bytes.Buffer
		z, err := newZstdWriter(&b, workers, 256<<10, zstd.SpeedBetterCompression)
		if err != nil {
			t.Fatal(err)
		}
		for p := data; len(p) > 0; p = p[min(len(p), 100000):] {
			if _, err := z.Write(p[:min(len(p), 100000)]); err != nil {
				t.Fatal(err)
			}
		}
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b.Bytes())
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("1 and 3 workers wrote different frames")
	}
	z := outs[0]
	if n := bytes.Count(z, []byte{0x28, 0xb5, 0x2f, 0xfd}); n < 10 {
		t.Fatalf("%d frame magics, want one per 256 KiB", n)
	}
	d, err := zstd.NewReader(bytes.NewReader(z), zstd.WithDecoderMaxWindow(8<<20), zstd.WithDecoderMaxMemory(8<<20), zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got, err := io.ReadAll(d); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("klauspost zstd: %d bytes, %v", len(got), err)
	}
	cmd := exec.Command(testprog.Path(t, "zstd"), "-d", "-c", "--memory=8MB")
	cmd.Stdin = bytes.NewReader(z)
	if got, err := cmd.Output(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("zstd -d: %d bytes, %v", len(got), err)
	}
}

// TestZstdWriterStopsOnWriteError: once writing a frame fails, Write and
// Close return the error, and nothing waits forever.
func TestZstdWriterStopsOnWriteError(t *testing.T) {
	boom := errors.New("disk full")
	z, err := newZstdWriter(failAfter{n: new(int), err: boom}, 2, 64<<10, zstd.SpeedBetterCompression)
	if err != nil {
		t.Fatal(err)
	}
	data := executables(t, 1<<20)
	var werr error
	for p := data; len(p) > 0 && werr == nil; p = p[min(len(p), 10000):] {
		_, werr = z.Write(p[:min(len(p), 10000)])
	}
	if cerr := z.Close(); !errors.Is(cerr, boom) || (werr != nil && !errors.Is(werr, boom)) {
		t.Fatalf("Write: %v, Close: %v; want %v", werr, cerr, boom)
	}
}

// failAfter accepts two writes, then fails.
type failAfter struct {
	n   *int
	err error
}

func (f failAfter) Write(p []byte) (int, error) {
	if *f.n++; *f.n > 2 {
		return 0, f.err
	}
	return len(p), nil
}
