package bsdiff

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/internal/testprog"
)

// buildPair builds a small program twice, differing in one constant, as two
// releases of a program differ, and returns the two executables.
func buildPair(t *testing.T) (old, new []byte) {
	t.Helper()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/hello\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var bins [2][]byte
	for i, version := range []string{"1.0.0", "1.0.1"} {
		main := "package main\n\nimport \"fmt\"\n\nconst version = \"" + version + "\"\n\nfunc main() { fmt.Println(\"hello\", version) }\n"
		if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(main), 0o644); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(t.TempDir(), "hello")
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, msg)
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		bins[i] = b
	}
	if bytes.Equal(bins[0], bins[1]) {
		t.Fatal("the two builds are identical")
	}
	return bins[0], bins[1]
}

type pair struct {
	name     string
	old, new []byte
}

func interopPairs(t *testing.T) []pair {
	old, new := buildPair(t)
	rng := rand.New(rand.NewPCG(7, 8))
	base := randomBytes(rng, 300_000)
	return []pair{
		{"two builds", old, new},
		{"build to other build reversed", new, old},
		{"random mutated", base, mutate(rng, base, 0.01)},
		{"random mutated, Diff in parts", base, mutate(rng, base, 0.01)},
		{"old empty", nil, []byte("new content")},
		{"new empty", []byte("old content"), nil},
	}
}

// TestBspatchAppliesDiff checks that the reference bspatch applies Diff's
// patches.
func TestBspatchAppliesDiff(t *testing.T) {
	bspatch := testprog.Path(t, "bspatch")
	for _, c := range interopPairs(t) {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			oldPath, newPath, patchPath := filepath.Join(dir, "old"), filepath.Join(dir, "new"), filepath.Join(dir, "patch")
			writeFile(t, oldPath, c.old)
			if strings.HasSuffix(c.name, "in parts") {
				smallParts(t, 10_000)
			}
			p := diff(t, c.old, c.new)
			writeFile(t, patchPath, p)
			if msg, err := exec.Command(bspatch, oldPath, newPath, patchPath).CombinedOutput(); err != nil {
				t.Fatalf("bspatch: %v\n%s", err, msg)
			}
			got, err := os.ReadFile(newPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, c.new) {
				t.Fatalf("bspatch output differs from new (%d vs %d bytes)", len(got), len(c.new))
			}
			t.Logf("patch %d bytes for %d", len(p), len(c.new))
		})
	}
}

// TestPatchAppliesBsdiff checks that Patch applies the reference bsdiff's
// patches.
func TestPatchAppliesBsdiff(t *testing.T) {
	bsdiff := testprog.Path(t, "bsdiff")
	for _, c := range interopPairs(t) {
		if len(c.old) == 0 || len(c.new) == 0 {
			continue // bsdiff 4.3-23 fails to mmap an empty file
		}
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			oldPath, newPath, patchPath := filepath.Join(dir, "old"), filepath.Join(dir, "new"), filepath.Join(dir, "patch")
			writeFile(t, oldPath, c.old)
			writeFile(t, newPath, c.new)
			if msg, err := exec.Command(bsdiff, oldPath, newPath, patchPath).CombinedOutput(); err != nil {
				t.Fatalf("bsdiff: %v\n%s", err, msg)
			}
			p, err := os.ReadFile(patchPath)
			if err != nil {
				t.Fatal(err)
			}
			got, err := patch(c.old, p, int64(len(c.new)))
			if err != nil {
				t.Fatalf("Patch of bsdiff's patch: %v", err)
			}
			if !bytes.Equal(got, c.new) {
				t.Fatalf("Patch output differs from new (%d vs %d bytes)", len(got), len(c.new))
			}
			t.Logf("bsdiff's patch %d bytes, Diff's %d", len(p), len(diff(t, c.old, c.new)))
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
