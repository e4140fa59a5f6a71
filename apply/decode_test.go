package apply_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/release"
)

// zstdData compresses data with klauspost's zstd encoder.
func zstdData(t testing.TB, data []byte, opts ...zstd.EOption) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// publishPayload publishes version 2.0.0 for linux/amd64 with the payload
// z under name, signed as the payload of bin.
func (f *fixture) publishPayload(t testing.TB, name string, bin, z []byte) *release.Release {
	t.Helper()
	rel := &release.Release{
		Binary: name, Hash: hexSHA256(bin), Size: int64(len(bin)),
		Version: "2.0.0", OS: "linux", Arch: "amd64",
		CompressedHash: hexSHA256(z), CompressedSize: int64(len(z)),
	}
	if err := signRelease(rel, f.key); err != nil {
		t.Fatal(err)
	}
	data, err := rel.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f.repo.writeFile(t, "2.0.0/linux/amd64/"+name, z)
	f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", data)
	return rel
}

func TestApplyZstd(t *testing.T) {
	tests := []struct {
		name string
		size int
		opts []zstd.EOption
	}{
		{"small", 50000, nil},
		{"several blocks, best compression", 3 << 20, []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedBestCompression)}},
		{"two frames, 8 MiB window", 5 << 20, []zstd.EOption{zstd.WithWindowSize(8 << 20), zstd.WithEncoderConcurrency(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			bin := binary("2.0.0", tt.size)
			z := zstdData(t, bin, tt.opts...)
			if tt.name == "two frames, 8 MiB window" {
				z = append(z, zstdData(t, nil)...) // an empty second frame
			}
			f.publishPayload(t, "app.zst", bin, z)
			var done, total int64
			err := apply.Apply(t.Context(), f.opts(apply.Progress(func(d, tot int64) { done, total = d, tot }))...)
			if err != nil {
				t.Fatal(err)
			}
			wantFile(t, f.target, bin)
			if done != int64(len(bin)) || total != int64(len(bin)) {
				t.Errorf("last progress %d/%d, want %d/%d", done, total, len(bin), len(bin))
			}
			if n := f.repo.count("/app.bz2"); n != 0 {
				t.Errorf("fetched the bzip2 payload %d times; the release names app.zst", n)
			}
		})
	}
}

func TestRejectsTamperedZstd(t *testing.T) {
	other := binary("6.6.6", 60000)
	tests := []struct {
		name   string
		make   func(t *testing.T, bin []byte) (signed, served []byte)
		reason string
	}{
		{"byte flipped after signing", func(t *testing.T, bin []byte) ([]byte, []byte) {
			z := zstdData(t, bin)
			bad := bytes.Clone(z)
			bad[len(bad)/2] ^= 0x40
			return z, bad
		}, "sha256"},
		{"truncated after signing", func(t *testing.T, bin []byte) ([]byte, []byte) {
			z := zstdData(t, bin)
			return z, z[:len(z)-100]
		}, "bytes, signed"},
		{"signed corrupt stream", func(t *testing.T, bin []byte) ([]byte, []byte) {
			z := zstdData(t, bin)
			z[len(z)/2] ^= 0x40
			return z, z
		}, "not valid zstd"},
		{"signed stream of another binary", func(t *testing.T, bin []byte) ([]byte, []byte) {
			z := zstdData(t, other)
			return z, z
		}, "binary"},
		{"signed bzip2 bytes named .zst", func(t *testing.T, bin []byte) ([]byte, []byte) {
			z, err := bzip2Data(t, bin, "-9")
			if err != nil {
				t.Fatal(err)
			}
			return z, z
		}, "not valid zstd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			bin := binary("2.0.0", 60000)
			signed, served := tt.make(t, bin)
			f.publishPayload(t, "app.zst", bin, signed)
			f.repo.writeFile(t, "2.0.0/linux/amd64/app.zst", served)
			before := listDir(t, f.dir)
			err := apply.Apply(t.Context(), f.opts()...)
			if !errors.Is(err, apply.ErrChecksum) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("got %v, want ErrChecksum naming %q", err, tt.reason)
			}
			sameDir(t, f.dir, before)
		})
	}
}

// TestRejectsZstdWindowTooLarge: a validly signed zstd payload whose frames
// need a 64 MiB history is refused before the decoder allocates it.
func TestRejectsZstdWindowTooLarge(t *testing.T) {
	tests := []struct {
		name string
		opts []zstd.EOption
		size int
	}{
		{"window descriptor", []zstd.EOption{zstd.WithWindowSize(64 << 20)}, 12 << 20},
		{"single segment frame", []zstd.EOption{zstd.WithSingleSegment(true), zstd.WithWindowSize(16 << 20)}, 12 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			bin := binary("2.0.0", tt.size)
			z := zstdData(t, bin, tt.opts...)
			f.publishPayload(t, "app.zst", bin, z)
			before := listDir(t, f.dir)
			err := apply.Apply(t.Context(), f.opts()...)
			if !errors.Is(err, apply.ErrTooLarge) || !strings.Contains(err.Error(), "zstd window") {
				t.Fatalf("got %v, want ErrTooLarge naming the zstd window", err)
			}
			sameDir(t, f.dir, before)
		})
	}
}

// TestRejectsUnknownPayloadFormat: a signed binary name without a known
// compression suffix is refused before anything is downloaded.
func TestRejectsUnknownPayloadFormat(t *testing.T) {
	for _, name := range []string{"app", "app.gz", "app.xz", "app.bz2.exe", "app.zstd", "app.BZ2"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			z, err := bzip2Data(t, f.bin, "-9")
			if err != nil {
				t.Fatal(err)
			}
			f.publishPayload(t, name, f.bin, z)
			before := listDir(t, f.dir)
			err = apply.Apply(t.Context(), f.opts()...)
			if !errors.Is(err, apply.ErrMetadata) || !strings.Contains(err.Error(), "unknown compression") {
				t.Fatalf("got %v, want ErrMetadata for an unknown compression", err)
			}
			if n := f.repo.count("/" + name); n != 0 {
				t.Errorf("payload fetched %d times, want 0", n)
			}
			sameDir(t, f.dir, before)
		})
	}
}
