package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// corpus writes size bytes of the ELF executables found under dirs (in
// lexical order, cycling through them if they are not enough).
func corpus(size int64, out string, dirs []string) error {
	var exes []string
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && isELF(path) {
				exes = append(exes, path)
			}
			return nil
		})
	}
	if len(exes) == 0 {
		return fmt.Errorf("no executables under %v", dirs)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	left := size
	for i := 0; left > 0; i = (i + 1) % len(exes) {
		b, err := os.ReadFile(exes[i])
		if err != nil {
			continue
		}
		b = b[:min(int64(len(b)), left)]
		w.Write(b)
		left -= int64(len(b))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func isELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// mutateFile writes in, changed in about rate of its bytes: at random
// positions, runs of 1 to 8 bytes replaced (half of the edits), inserted
// or deleted (a quarter each).
func mutateFile(rate float64, seed uint64, in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	const meanRun = 4.5
	edits := int(float64(len(b)) * rate / meanRun)
	var w bytes.Buffer
	w.Grow(len(b) + len(b)/50)
	pos := 0
	for range edits {
		next := pos + rng.IntN(int(2*meanRun/rate)+1)
		if next >= len(b) {
			break
		}
		w.Write(b[pos:next])
		pos = next
		n := 1 + rng.IntN(8)
		switch k := rng.IntN(4); {
		case k < 2: // replace
			for range n {
				w.WriteByte(byte(rng.Uint32()))
			}
			pos = min(pos+n, len(b))
		case k == 2: // insert
			for range n {
				w.WriteByte(byte(rng.Uint32()))
			}
		default: // delete
			pos = min(pos+n, len(b))
		}
	}
	w.Write(b[pos:])
	return os.WriteFile(out, w.Bytes(), 0o644)
}
