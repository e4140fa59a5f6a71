package pbzip2

import (
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/safeupdate/safeupdate/internal/testprog"
)

// withLimits shrinks the Reader's segments and per-segment output so that
// small inputs exercise cuts, overflow and the sequential fallback.
func withLimits(segSize, outSize int) Option {
	return func(c *config) error {
		if segSize < 2*headerLen+2 || outSize < 1 {
			return errors.New("pbzip2: limits too small")
		}
		c.segSize, c.outSize = segSize, outSize
		return nil
	}
}

// readerConfigs are the Reader set-ups every decoding test runs through.
var readerConfigs = []struct {
	name string
	opts []Option
}{
	{"default", nil},
	{"1worker", []Option{Workers(1)}},
	{"3workers-tiny", []Option{Workers(3), withLimits(40, 64)}},
	{"2workers-small", []Option{Workers(2), withLimits(4096, 1000)}},
}

// maxCompare bounds how much output the comparisons read, since a few
// bytes of bzip2 can expand to gigabytes.
const maxCompare = 64 << 20

// readAll reads r like io.ReadAll but stops after maxCompare bytes.
func readAll(r io.Reader) ([]byte, error) { return readLimit(r, maxCompare) }

func readLimit(r io.Reader, limit int64) ([]byte, error) {
	var b bytes.Buffer
	_, err := io.Copy(&b, io.LimitReader(r, limit))
	return b.Bytes(), err
}

// stdlibRead reads at most limit bytes from compress/bzip2 in pieces of
// streamBufSize, the size in which Reader decodes sequentially. It matters
// only for invalid input: with the error, compress/bzip2 may return bytes
// decoded from past the end of the input, as many as the caller asked for.
func stdlibRead(r io.Reader, limit int64) ([]byte, error) {
	z := bzip2.NewReader(r)
	var out []byte
	buf := make([]byte, streamBufSize)
	for int64(len(out)) < limit {
		n, err := z.Read(buf[:min(int64(len(buf)), limit-int64(len(out)))])
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func stdlibDecode(data []byte) ([]byte, error) {
	return stdlibRead(bytes.NewReader(data), maxCompare)
}

func ourDecode(t testing.TB, data []byte, r io.Reader, opts ...Option) ([]byte, error) {
	t.Helper()
	return ourDecodeLimit(t, data, r, maxCompare, opts...)
}

func ourDecodeLimit(t testing.TB, data []byte, r io.Reader, limit int64, opts ...Option) ([]byte, error) {
	t.Helper()
	if r == nil {
		r = bytes.NewReader(data)
	}
	z, err := NewReader(r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	return readLimit(z, limit)
}

// checkLikeStdlib decodes data with compress/bzip2 and with every reader
// configuration and fails unless each returns the same bytes and fails
// exactly when compress/bzip2 fails. It returns compress/bzip2's error.
func checkLikeStdlib(t testing.TB, data []byte) error {
	t.Helper()
	return checkLikeStdlibLimit(t, data, maxCompare)
}

// checkLikeStdlibLimit is checkLikeStdlib comparing at most limit bytes.
func checkLikeStdlibLimit(t testing.TB, data []byte, limit int64) error {
	t.Helper()
	want, wantErr := stdlibRead(bytes.NewReader(data), limit)
	for _, c := range readerConfigs {
		got, err := ourDecodeLimit(t, data, nil, limit, c.opts...)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%s: error %v, compress/bzip2 error %v", c.name, err, wantErr)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: error %v is not ErrCorrupt", c.name, err)
		}
		if err != nil && err.Error() != publicError(wantErr).Error() {
			t.Fatalf("%s: error %q, compress/bzip2 %q", c.name, err, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes differ from compress/bzip2's %d (errors %v, %v)", c.name, len(got), len(want), err, wantErr)
		}
	}
	return wantErr
}

// program runs an external program with stdin and returns its stdout.
func program(t testing.TB, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(testprog.Path(t, name), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, stderr.Bytes())
	}
	return out
}

func compress(t testing.TB, in []byte, opts ...Option) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := NewWriter(&b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// payload returns n bytes that compress like real programs do: pieces of
// the running test binary, text, zero runs and random bytes.
func payload(t testing.TB, n int, seed uint64) []byte {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]byte, 0, n)
	for len(out) < n {
		k := min(n-len(out), 1+rng.IntN(300000))
		switch rng.IntN(4) {
		case 0, 1:
			off := rng.IntN(len(bin) - k)
			out = append(out, bin[off:off+k]...)
		case 2:
			out = append(out, make([]byte, k/4)...)
		default:
			for range k/8 + 1 {
				out = binary.LittleEndian.AppendUint64(out, rng.Uint64())
			}
		}
	}
	return out[:n]
}
