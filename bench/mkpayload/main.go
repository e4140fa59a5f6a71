// Command mkpayload writes a realistic update payload for bench/run.sh:
// real executables and shared libraries of this machine (ELF, Mach-O or PE
// files found under the directories given), concatenated in a fixed order,
// with about one tenth of incompressible pseudo-random data mixed in, up
// to exactly -size MiB. The first bytes are an executable's, so the
// payload's header names this machine's platform. The same machine and
// flags give the same bytes. With -change PERCENT, that share of its 4 KiB
// blocks (after the first) then get 32 bytes overwritten at a random
// place: the next build of the same program, for the delta benchmarks.
//
//	mkpayload -size 100 -out payload.bin /usr/bin /usr/lib
//	mkpayload -size 100 -change 1 -out payload-next.bin /usr/bin /usr/lib
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// After every randomEvery bytes of executables comes a chunk of
// randomChunk random bytes: one tenth of the payload is random.
const (
	randomEvery = 4 << 20
	randomChunk = randomEvery / 9
)

func main() {
	size := flag.Int64("size", 100, "payload size in MiB")
	out := flag.String("out", "", "output file (required)")
	change := flag.Float64("change", 0, "then change this `PERCENT` of the 4 KiB blocks")
	flag.Parse()
	dirs := flag.Args()
	if len(dirs) == 0 {
		dirs = []string{"/usr/bin", "/usr/lib"}
	}
	err := run(*size<<20, *out, dirs)
	if err == nil && *change > 0 {
		err = changeBlocks(*out, *change)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkpayload:", err)
		os.Exit(1)
	}
}

func run(size int64, out string, dirs []string) error {
	if out == "" || size <= 0 {
		return errors.New("-out and a positive -size are required")
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	p := &payload{w: &limitWriter{w: f, n: size}, rng: rand.NewChaCha8([32]byte{'s', 'a', 'f', 'e', 'u', 'p', 'd', 'a', 't', 'e'})}
	// Walk the directories (in lexical order) only as far as needed, then
	// cycle through the executables found until the payload is full.
	var exes []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || !isExecutable(path) {
				return nil // unreadable corners of /usr/lib are not our business
			}
			exes = append(exes, path)
			if err := p.add(path); err != nil {
				return err
			}
			if p.full() {
				return fs.SkipAll
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(exes) == 0 {
		return fmt.Errorf("no executables found under %v", dirs)
	}
	for i := 0; !p.full(); i = (i + 1) % len(exes) {
		if err := p.add(exes[i]); err != nil {
			return err
		}
	}
	return f.Close()
}

type payload struct {
	w           *limitWriter
	rng         io.Reader
	sinceRandom int64
}

func (p *payload) full() bool { return p.w.n <= 0 }

// add appends the file name, and a random chunk when one is due.
func (p *payload) add(name string) error {
	n, err := copyFile(p.w, name)
	if err != nil {
		return err
	}
	if p.sinceRandom += n; p.sinceRandom >= randomEvery && !p.full() {
		if _, err := io.CopyN(p.w, p.rng, randomChunk); err != nil && !errors.Is(err, errFull) {
			return err
		}
		p.sinceRandom = 0
	}
	return nil
}

// isExecutable reports whether the file starts with the magic number of an
// ELF, Mach-O or PE file.
func isExecutable(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	for _, m := range [][]byte{{0x7f, 'E', 'L', 'F'}, {0xcf, 0xfa, 0xed, 0xfe}, {'M', 'Z'}} {
		if bytes.HasPrefix(head[:n], m) {
			return true
		}
	}
	return false
}

func copyFile(w io.Writer, name string) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, nil // vanished or unreadable: skip it
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if errors.Is(err, errFull) {
		err = nil
	}
	return n, err
}

var errFull = errors.New("payload full")

// limitWriter writes at most n more bytes, then fails with errFull.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errFull
	}
	short := int64(len(p)) > l.n
	if short {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	if err == nil && short {
		err = errFull
	}
	return n, err
}

// changeBlocks overwrites 32 bytes at a random place of percent% of the
// 4 KiB blocks of the file, the first block (the header) excepted.
func changeBlocks(name string, percent float64) error {
	const block, patch = 4 << 10, 32
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(15, 1))
	junk := make([]byte, patch)
	for off := int64(block); off+block <= fi.Size(); off += block {
		if rng.Float64()*100 >= percent {
			continue
		}
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(junk, off+int64(rng.IntN(block-patch))); err != nil {
			return err
		}
	}
	return f.Close()
}
