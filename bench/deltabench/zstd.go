package main

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"math/bits"
	"os"

	"github.com/klauspost/compress/zstd"
)

// zstdWindow returns the window a patch-from frame needs: a power of two
// covering the old file (the dictionary) and the new one.
func zstdWindow(oldSize, newSize int) int {
	n := max(oldSize+newSize, zstd.MinWindowSize)
	w := 1 << bits.Len(uint(n-1))
	return min(w, zstd.MaxWindowSize)
}

// zstdDiff writes new as a zstd frame with old as its raw dictionary (id
// 0), the frames zstd --patch-from writes and reads.
func zstdDiff(w io.Writer, old, new []byte) error {
	z, err := zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedBestCompression),
		zstd.WithWindowSize(zstdWindow(len(old), len(new))),
		zstd.WithEncoderDictRaw(0, old),
		zstd.WithEncoderCRC(true),
		zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	if _, err := z.Write(new); err != nil {
		return err
	}
	return z.Close()
}

// applyZstd decodes a patch-from frame: the decoder needs old in memory
// as its dictionary, and a window of the size the frame declares.
func applyZstd(oldPath, patchPath, newPath string) error {
	old, err := os.ReadFile(oldPath)
	if err != nil {
		return err
	}
	p, err := os.Open(patchPath)
	if err != nil {
		return err
	}
	defer p.Close()
	d, err := zstd.NewReader(bufio.NewReaderSize(p, 1<<20),
		zstd.WithDecoderDictRaw(0, old),
		zstd.WithDecoderMaxWindow(zstd.MaxWindowSize),
		zstd.WithDecoderMaxMemory(1<<32),
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true))
	if err != nil {
		return err
	}
	defer d.Close()
	out, err := os.Create(newPath)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), d); err != nil {
		out.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "sha256 %x\n", h.Sum(nil))
	return out.Close()
}
