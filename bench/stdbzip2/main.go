// Command stdbzip2 decompresses a bzip2 file with the standard library's
// compress/bzip2 alone and prints the SHA-256 of the output, like
// "bzip2 -dc FILE | sha256sum": the one-core reference bench/ratios.sh
// holds apply.Apply to.
//
//	stdbzip2 FILE
package main

import (
	"bufio"
	"compress/bzip2"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: stdbzip2 FILE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "stdbzip2:", err)
		os.Exit(1)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, bzip2.NewReader(bufio.NewReaderSize(f, 1<<20))); err != nil {
		fmt.Fprintln(os.Stderr, "stdbzip2:", err)
		os.Exit(1)
	}
	fmt.Printf("%x  -\n", h.Sum(nil))
}
