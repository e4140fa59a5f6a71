package repotool

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRejectsServingKeyWrittenIntoVettedFile serves a large payload, whose
// clean verdict is then remembered for its version, and afterwards writes
// a private key into it, in place and at the same size, or renames a key
// file over it: the next request must look again and refuse it.
func TestRejectsServingKeyWrittenIntoVettedFile(t *testing.T) {
	const settle = 50 * time.Millisecond
	repo, _ := serveTestRepo(t)
	clean := bytes.Repeat([]byte("payload "), 3*serveCacheMaxFile/8) // over the cache's size: served from disk
	key := []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBm2\n-----END PRIVATE KEY-----\n")
	for _, how := range []string{"in place", "renamed over"} {
		t.Run(how, func(t *testing.T) {
			name := "1.0.0/linux/amd64/" + strings.ReplaceAll(how, " ", "-") + ".bz2"
			p := filepath.Join(repo, filepath.FromSlash(name))
			serveWriteFile(t, p, string(clean))
			time.Sleep(2 * settle) // settled: its version can be trusted
			h, base := startCachingHandler(t, repo, settle, serveCacheRecheck)
			for range 2 {
				if resp, body := serveGet(t, serveClient(), "GET", base+"/"+name, nil); resp.StatusCode != 200 || body != string(clean) {
					t.Fatalf("GET /%s: status %d, %d bytes; want 200 and the file", name, resp.StatusCode, len(body))
				}
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if !h.vetted.has(fi) {
				t.Fatalf("the clean version of %s was not remembered", name)
			}
			poisoned := append([]byte(nil), clean...)
			copy(poisoned[len(poisoned)/2:], key)
			switch how {
			case "in place":
				f, err := os.OpenFile(p, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt(poisoned, 0); err != nil {
					t.Fatal(err)
				}
				f.Close()
			default:
				tmp := p + ".new"
				serveWriteFile(t, tmp, string(poisoned))
				if err := os.Rename(tmp, p); err != nil {
					t.Fatal(err)
				}
			}
			if resp, body := serveGet(t, serveClient(), "GET", base+"/"+name, nil); resp.StatusCode != 404 {
				t.Errorf("GET /%s after a key was written into it: status %d, %d bytes; want 404", name, resp.StatusCode, len(body))
			}
		})
	}
}

// BenchmarkServeLargePayload serves a 32 MiB payload, as a fleet polling
// for an update fetches it, with the clean verdict remembered per version
// ("vetted") and, as before it was, with the whole file read for the
// private-key check on every request ("checked every time").
func BenchmarkServeLargePayload(b *testing.B) {
	repo := b.TempDir()
	name := "1.0.0/linux/amd64/app.bz2"
	p := filepath.Join(repo, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.Repeat([]byte("payload "), 4<<20), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, vetted := range []bool{true, false} {
		label := "vetted"
		if !vetted {
			label = "checked every time"
		}
		b.Run(label, func(b *testing.B) {
			if !serveCacheSupported {
				b.Skip("no stat(2) versions on this platform")
			}
			h, err := newRepoHandler(repo, nil)
			if err != nil {
				b.Fatal(err)
			}
			h.settle = 0
			if !vetted {
				h.vetted = nil
			}
			base, _ := startHandlerServer(b, h)
			c := serveClient()
			b.SetBytes(32 << 20)
			for b.Loop() {
				resp, err := c.Get(base + "/" + name)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n != 32<<20 {
					b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
				}
			}
		})
	}
}
