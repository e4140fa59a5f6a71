// Command deltabench runs one step of bench/delta.sh and reports its cost:
// making a patch or applying one (bsdiff, or zstd's patch-from mode through
// klauspost/compress), compressing or decoding a full payload as repotool
// does, and making the test data. Each step prints one line
//
//	time=SECONDS rss_max_kib=N rss_anon_max_kib=N [size=BYTES]
//
// where rss_max is the peak resident set (VmHWM) and rss_anon_max the peak
// anonymous memory (RssAnon, sampled every 2 ms), which leaves out the
// page cache and file-backed mappings.
//
//	deltabench bsdiff OLD NEW PATCH     deltabench bspatch OLD PATCH NEW SIZE
//	deltabench zdiff OLD NEW PATCH      deltabench zpatch OLD PATCH NEW
//	deltabench bz2 IN OUT               deltabench unbz2 IN
//	deltabench corpus MIB OUT DIR...    deltabench mutate RATE SEED IN OUT
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/safeupdate/safeupdate/internal/bsdiff"
	"github.com/safeupdate/safeupdate/internal/pbzip2"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: deltabench STEP ARGS... (see the package doc)")
		os.Exit(2)
	}
	if path := os.Getenv("DELTABENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "deltabench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	stop := sampleAnon()
	start := time.Now()
	size, err := run(os.Args[1], os.Args[2:])
	elapsed := time.Since(start)
	anon := stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "deltabench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
	fmt.Printf("time=%.3f rss_max_kib=%d rss_anon_max_kib=%d", elapsed.Seconds(), status("VmHWM"), anon)
	if size >= 0 {
		fmt.Printf(" size=%d", size)
	}
	fmt.Println()
}

func run(step string, args []string) (int64, error) {
	need := map[string]int{"bsdiff": 3, "bspatch": 4, "zdiff": 3, "zpatch": 3, "bz2": 2, "unbz2": 1, "corpus": 3, "mutate": 4}
	n, ok := need[step]
	if !ok {
		return 0, fmt.Errorf("unknown step %q", step)
	}
	if len(args) < n || step != "corpus" && len(args) != n {
		return 0, fmt.Errorf("%s takes %d arguments", step, n)
	}
	switch step {
	case "bsdiff":
		return makePatch(args[0], args[1], args[2], bsdiff.Diff)
	case "zdiff":
		return makePatch(args[0], args[1], args[2], zstdDiff)
	case "bspatch":
		size, err := strconv.ParseInt(args[3], 10, 64)
		if err != nil {
			return 0, err
		}
		return -1, applyBsdiff(args[0], args[1], args[2], size)
	case "zpatch":
		return -1, applyZstd(args[0], args[1], args[2])
	case "bz2":
		return compressBz2(args[0], args[1])
	case "unbz2":
		return decodeBz2(args[0])
	case "corpus":
		mib, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return -1, corpus(mib<<20, args[1], args[2:])
	default: // mutate
		rate, err := strconv.ParseFloat(args[0], 64)
		if err != nil {
			return 0, err
		}
		seed, err := strconv.ParseUint(args[1], 10, 64)
		if err != nil {
			return 0, err
		}
		return -1, mutateFile(rate, seed, args[2], args[3])
	}
}

// makePatch reads old and new whole, as a publisher does, and writes the
// patch diff makes.
func makePatch(oldPath, newPath, patchPath string, diff func(io.Writer, []byte, []byte) error) (int64, error) {
	old, err := os.ReadFile(oldPath)
	if err != nil {
		return 0, err
	}
	new, err := os.ReadFile(newPath)
	if err != nil {
		return 0, err
	}
	f, err := os.Create(patchPath)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := diff(w, old, new); err != nil {
		f.Close()
		return 0, err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return fi.Size(), f.Close()
}

// applyBsdiff applies the patch as a client would: old read through
// ReadAt from its file, the output written to a new file and hashed.
func applyBsdiff(oldPath, patchPath, newPath string, newSize int64) error {
	old, err := os.Open(oldPath)
	if err != nil {
		return err
	}
	defer old.Close()
	oi, err := old.Stat()
	if err != nil {
		return err
	}
	p, err := os.Open(patchPath)
	if err != nil {
		return err
	}
	defer p.Close()
	pi, err := p.Stat()
	if err != nil {
		return err
	}
	out, err := os.Create(newPath)
	if err != nil {
		return err
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(out, h), 256<<10)
	if err := bsdiff.Patch(w, old, oi.Size(), p, pi.Size(), newSize); err != nil {
		out.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "sha256 %x\n", h.Sum(nil))
	return out.Close()
}

// compressBz2 compresses as repotool add does.
func compressBz2(in, out string) (int64, error) {
	src, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	dst, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	z, err := pbzip2.NewWriter(dst)
	if err != nil {
		dst.Close()
		return 0, err
	}
	if _, err := io.Copy(z, src); err != nil {
		dst.Close()
		return 0, err
	}
	if err := z.Close(); err != nil {
		dst.Close()
		return 0, err
	}
	fi, err := dst.Stat()
	if err != nil {
		dst.Close()
		return 0, err
	}
	return fi.Size(), dst.Close()
}

// decodeBz2 decodes a payload and hashes it: the work of a full update
// once the payload is downloaded, but for the install's file writes.
func decodeBz2(in string) (int64, error) {
	f, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r, err := pbzip2.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return 0, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	fmt.Fprintf(os.Stderr, "sha256 %x\n", h.Sum(nil))
	return n, err
}

// status returns a field of /proc/self/status in KiB.
func status(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(b) {
		if v, ok := strings.CutPrefix(string(line), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// sampleAnon samples RssAnon until the returned function is called, which
// returns the peak.
func sampleAnon() func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			if v := status("RssAnon"); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}
