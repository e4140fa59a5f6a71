package pbzip2

import (
	"bytes"
	"testing"
)

// FuzzReaderMatchesStdlib checks, for any input, that Reader returns the
// same bytes as compress/bzip2 and fails exactly when it fails, in every
// configuration (including tiny segments that force every fallback).
func FuzzReaderMatchesStdlib(f *testing.F) {
	small := []byte("hello, hello, hello, world\n")
	cs := compress(f, small)
	bz1 := program(f, small, "bzip2", "-1c")
	empty := program(f, nil, "bzip2", "-9c")
	zeros := program(f, make([]byte, 1<<20), "bzip2", "-9c")
	// Single streams of many blocks, with false block magics at bit offsets
	// in every block header, whole, cut short and corrupted.
	falseMagic, _ := falseMagicStream(f, 60, 1)
	corrupt := bytes.Clone(falseMagic)
	corrupt[len(corrupt)/2] ^= 0x10
	blocks := program(f, bytes.Repeat([]byte("hello, blocks 0123456789\n"), 20000), "bzip2", "-1c")
	lblocks := program(f, bytes.Repeat([]byte("hello, blocks 0123456789\n"), 20000), "lbzip2", "-1c")
	for _, seed := range [][]byte{
		nil, cs, bz1, empty, zeros,
		concat(cs, bz1, empty, cs),
		concat(cs, []byte("BZh91AY&SY")),
		concat(cs[:len(cs)-3], cs),
		concat(cs, []byte("BZh91AY&SY"), cs[10:]),
		concat(zeros, cs),
		falseMagic, falseMagic[:len(falseMagic)*3/4], corrupt,
		concat(falseMagic, cs, falseMagic),
		blocks, lblocks, concat(blocks, lblocks),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		checkLikeStdlibLimit(t, data, 4<<20)
	})
}
