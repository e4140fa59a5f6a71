package repotool

import (
	"context"
	"crypto"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/keys"
)

// writeELF writes an ELF64 executable header for machine followed by n
// bytes of compressible but not trivial data: a real header, which is all
// the platform detection reads, without the cost of compiling a program.
func writeELF(t *testing.T, path string, machine elf.Machine, n int) {
	t.Helper()
	hdr := make([]byte, 64)
	copy(hdr, elf.ELFMAG)
	hdr[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le := binary.LittleEndian
	le.PutUint16(hdr[16:], uint16(elf.ET_EXEC))
	le.PutUint16(hdr[18:], uint16(machine))
	le.PutUint32(hdr[20:], uint32(elf.EV_CURRENT))
	le.PutUint16(hdr[52:], 64) // e_ehsize
	le.PutUint16(hdr[54:], 56) // e_phentsize
	le.PutUint16(hdr[58:], 64) // e_shentsize
	rng := rand.New(rand.NewPCG(uint64(n), uint64(machine)))
	words := []string{"main.", "runtime.", "func", "error", "\x00\x00\x00\x00", "safeupdate", "\x48\x89\xe5"}
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
	}
	data := append(hdr, b.String()[:n]...)
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// newSigner makes a fresh key of type typ.
func newSigner(t *testing.T, typ keys.Type) crypto.Signer {
	t.Helper()
	k, err := keys.Generate(typ)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// releaseRepo makes a repository with one release of "app" for linux/amd64 at
// version, signed by signers, and returns the repository directory.
func releaseRepo(t *testing.T, version string, signers ...crypto.Signer) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	writeELF(t, bin, elf.EM_X86_64, 20000)
	repo := filepath.Join(dir, "repo")
	if _, err := Add(context.Background(), AddConfig{Repo: repo, Binary: bin, Version: version, Keys: signers}); err != nil {
		t.Fatal(err)
	}
	return repo
}

// leftovers lists the files under dir whose names mark them temporary.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && (strings.Contains(d.Name(), ".tmp-") || strings.HasPrefix(d.Name(), ".blobrepo-")) {
			found = append(found, path)
		}
		return nil
	})
	return found
}

func pubs(signers ...crypto.Signer) []crypto.PublicKey {
	var out []crypto.PublicKey
	for _, s := range signers {
		out = append(out, s.Public())
	}
	return out
}

// pinBase holds the test publisher's pin directories, one per repository.
var pinBase string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "repotool-pins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pinBase = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// pinFor is the test publisher's pin directory for repo: Init records the
// root there, and Rotate, SignRoot and Promote check repo against it.
func pinFor(repo string) string {
	sum := sha256.Sum256([]byte(repo))
	return filepath.Join(pinBase, hex.EncodeToString(sum[:8]))
}

// pinRoot pins data, a root the test trusts, as the publisher's root for
// repo, as a publisher copies in a root it verified.
func pinRoot(t *testing.T, repo string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(pinFor(repo), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pinFor(repo), "root.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}
