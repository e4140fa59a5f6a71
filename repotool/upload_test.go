package repotool

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/safeupdate/safeupdate/keys"
)

// bigBinary writes an ELF header followed by n random (incompressible)
// bytes, so that its payload is as large as it.
func bigBinary(t *testing.T, n int) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "app")
	writeELF(t, bin, elf.EM_X86_64, 100)
	f, err := os.OpenFile(bin, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, n)
	rand.Read(data)
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// cancelOn calls cancel when a line containing both marks is written.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marks  []string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	for line := range strings.SplitSeq(string(p), "\n") {
		hit := len(c.marks) > 0
		for _, m := range c.marks {
			hit = hit && strings.Contains(line, m)
		}
		if hit && c.cancel != nil {
			c.cancel()
		}
	}
	return len(p), nil
}

func TestSurvivesCancelledUpload(t *testing.T) {
	// The upload is cancelled once it reported progress: neither the
	// payload nor release.json may be visible afterwards.
	bin := bigBinary(t, 6<<20)
	forEachStore(t, func(t *testing.T, repo string) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		w := &cancelOn{marks: []string{"uploading", "%"}, cancel: cancel}
		// zstd: bzip2 of incompressible data is slow, and the upload is
		// what is tested.
		_, err := Add(ctx, AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Compression: "zstd", Progress: w})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Add: %v, want a cancelled upload\nprogress:\n%s", err, w.buf.String())
		}
		for _, name := range []string{"1.0.0/linux/amd64/app.zst", "1.0.0/linux/amd64/release.json"} {
			if present(t, repo, name) {
				t.Errorf("%s is visible after a failed upload", name)
			}
		}
		if !strings.Contains(repo, "://") {
			if l := leftovers(t, repo); len(l) > 0 {
				t.Errorf("temporary files left: %v", l)
			}
		}
	})
}

func TestAddShowsProgress(t *testing.T) {
	bin := bigBinary(t, 6<<20)
	var out bytes.Buffer
	if _, err := Add(t.Context(), AddConfig{Repo: t.TempDir(), Binary: bin, Version: "1.0.0", Compression: "zstd", Progress: &out}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"compressing app: starting", "uploading 1.0.0/linux/amd64/app.zst: starting", "uploading 1.0.0/linux/amd64/app.zst: done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the progress:\n%s", want, out.String())
		}
	}
	out.Reset()
	if _, err := Add(t.Context(), AddConfig{Repo: t.TempDir(), Binary: bigBinary(t, 1000), Version: "1.0.0", Progress: &out}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("progress for a small binary:\n%s", out.String())
	}
}

func TestZstdPayloadVerifies(t *testing.T) {
	k := newSigner(t, keys.Ed25519)
	repo := t.TempDir()
	bin := filepath.Join(t.TempDir(), "app")
	writeELF(t, bin, elf.EM_X86_64, 30000)
	res, err := Add(t.Context(), AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Compression: "zstd", Keys: []crypto.Signer{k}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Release.Binary != "app.zst" {
		t.Fatalf("payload %s, want app.zst", res.Release.Binary)
	}
	if _, err := Sign(t.Context(), SignConfig{Repo: repo, Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{newSigner(t, keys.Ed25519)}, Binary: bin}); err != nil {
		t.Fatal(err)
	}
	results, err := Verify(t.Context(), VerifyConfig{Repo: repo, Keys: pubs(k)})
	if err != nil || len(results) != 1 || !results[0].OK {
		t.Fatalf("verify: %+v, %v", results, err)
	}
	if _, err := Mirror(t.Context(), MirrorConfig{From: repo, To: t.TempDir(), Keys: pubs(k), CheckBinary: true}); err != nil {
		t.Fatal(err)
	}
}
