package pbzip2

import (
	"bytes"
	"compress/bzip2"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	dsnet "github.com/dsnet/compress/bzip2"
)

// benchSize is the size of the benchmark payload; PBZIP2_BENCH_MIB
// overrides it (the figures in the package's history are for 100 MiB).
func benchSize() int {
	if s := os.Getenv("PBZIP2_BENCH_MIB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			panic("PBZIP2_BENCH_MIB=" + s + ": want a positive number of MiB")
		}
		return n << 20
	}
	return 32 << 20
}

var benchData struct {
	once             sync.Once
	in, ours, single []byte
	err              error
}

// benchPayload returns data like a real release, the executables of
// $(go env GOROOT)/bin, /usr/bin and /usr/lib concatenated (90%) and random
// bytes, with its compressed forms: by Writer (streams) and by bzip2 -9
// (single).
func benchPayload(b *testing.B) (in, ours, single []byte) {
	b.Helper()
	benchData.once.Do(func() {
		size := benchSize()
		goroot, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			benchData.err = err
			return
		}
		files, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(goroot)), "bin", "*"))
		for _, dir := range []string{"/usr/bin/*", "/usr/lib/*", "/usr/lib/x86_64-linux-gnu/*"} {
			more, _ := filepath.Glob(dir)
			files = append(files, more...)
		}
		out := make([]byte, 0, size)
		for _, f := range files {
			if len(out) >= size*9/10 {
				break
			}
			data, err := os.ReadFile(f)
			if err != nil || !bytes.HasPrefix(data, []byte("\x7fELF")) {
				continue
			}
			out = append(out, data[:min(len(data), size*9/10-len(out))]...)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		for len(out) < size {
			out = append(out, byte(rng.Uint32()))
		}
		benchData.in = out
		benchData.ours = compress(b, out)
		benchData.single = program(b, out, "bzip2", "-9c")
	})
	if benchData.err != nil {
		b.Fatal(benchData.err)
	}
	return benchData.in, benchData.ours, benchData.single
}

// BenchmarkWriter compresses the payload with Writer (default workers and
// one worker) and with github.com/dsnet/compress/bzip2, reporting the
// compressed size relative to bzip2 -9's as "vs-bzip2".
func BenchmarkWriter(b *testing.B) {
	in, ours, single := benchPayload(b)
	for _, opts := range []struct {
		name string
		opts []Option
	}{{"pbzip2", nil}, {"pbzip2-1worker", []Option{Workers(1)}}} {
		b.Run(opts.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				compress(b, in, opts.opts...)
			}
			b.ReportMetric(float64(len(ours))/float64(len(single)), "vs-bzip2")
		})
	}
	b.Run("dsnet", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		var n int
		for b.Loop() {
			var buf bytes.Buffer
			w, err := dsnet.NewWriter(&buf, &dsnet.WriterConfig{Level: 9})
			if err != nil {
				b.Fatal(err)
			}
			w.Write(in)
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			n = buf.Len()
		}
		b.ReportMetric(float64(n)/float64(len(single)), "vs-bzip2")
	})
}

// BenchmarkReader decompresses the payload as written by Writer (streams)
// and by bzip2 -9 (single) with Reader and the alternatives.
func BenchmarkReader(b *testing.B) {
	in, ours, single := benchPayload(b)
	decoders := []struct {
		name string
		open func(io.Reader) (io.Reader, func())
	}{
		{"pbzip2", func(r io.Reader) (io.Reader, func()) {
			z, err := NewReader(r)
			if err != nil {
				b.Fatal(err)
			}
			return z, func() { z.Close() }
		}},
		{"pbzip2-1worker", func(r io.Reader) (io.Reader, func()) {
			z, err := NewReader(r, Workers(1))
			if err != nil {
				b.Fatal(err)
			}
			return z, func() { z.Close() }
		}},
		{"stdlib", func(r io.Reader) (io.Reader, func()) { return bzip2.NewReader(r), func() {} }},
		{"dsnet", func(r io.Reader) (io.Reader, func()) {
			z, err := dsnet.NewReader(r, nil)
			if err != nil {
				b.Fatal(err)
			}
			return z, func() { z.Close() }
		}},
	}
	for _, input := range []struct {
		name string
		data []byte
	}{{"streams", ours}, {"single", single}} {
		for _, d := range decoders {
			b.Run(input.name+"/"+d.name, func(b *testing.B) {
				b.SetBytes(int64(len(in)))
				buf := make([]byte, 1<<16)
				for b.Loop() {
					r, done := d.open(bytes.NewReader(input.data))
					n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
					done()
					if err != nil || n != int64(len(in)) {
						b.Fatalf("%d bytes, %v", n, err)
					}
				}
			})
		}
	}
}
