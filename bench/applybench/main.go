// Command applybench installs one release with apply.Apply, as an embedding
// program would, so that bench/run.sh can time it. It pins the public key
// given, fetches from the repository URL through apply.HTTPSource, and
// replaces a throwaway target file in a fresh temporary directory, which it
// removes afterwards. With -base, the target is a copy of that file,
// streamed (so it adds nothing to the peak RSS), and Apply updates by a
// patch whose base it is, unless -no-delta; the copy is in the timing of
// both modes alike.
//
//	applybench -repo http://127.0.0.1:PORT -pub release.pub -version 1.0.0
//	applybench -repo http://127.0.0.1:PORT -pub release.pub -version 1.1.0 -base app-1.0.0 [-no-delta]
//	applybench ... -cpuprofile cpu.out   # then: go tool pprof applybench cpu.out
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/safeupdate/safeupdate/apply"
)

func main() {
	repo := flag.String("repo", "", "repository base URL (http://...)")
	pub := flag.String("pub", "", "pinned public key file (PEM, from repotool keygen)")
	version := flag.String("version", "", "release version to install")
	goos := flag.String("os", runtime.GOOS, "release OS")
	goarch := flag.String("arch", runtime.GOARCH, "release architecture")
	tmp := flag.String("tmp", "", "directory for the target (default: the system's)")
	base := flag.String("base", "", "install a copy of `FILE` as the target first")
	noDelta := flag.Bool("no-delta", false, "download the full payload even when a patch applies")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the update to `FILE`")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "applybench:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := run(*repo, *pub, *version, *goos, *goarch, *tmp, *base, *noDelta); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "applybench:", err)
		os.Exit(1)
	}
}

func run(repo, pubFile, version, goos, goarch, tmp, base string, noDelta bool) error {
	if repo == "" || pubFile == "" || version == "" {
		return fmt.Errorf("-repo, -pub and -version are required")
	}
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		return err
	}
	src, err := apply.HTTPSource(repo, nil)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(tmp, "applybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	target := filepath.Join(dir, "app")
	if err := installBase(target, base); err != nil {
		return err
	}
	var opts []apply.Option
	if noDelta {
		opts = append(opts, apply.NoDelta())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	return apply.Apply(ctx, append(opts,
		apply.WithSource(src),
		apply.Version(version),
		apply.PublicKey(pub),
		apply.TargetFile(target),
		apply.OS(goos), apply.Arch(goarch),
	)...)
}

// installBase writes the target: a copy of base, or a small stand-in.
func installBase(target, base string) error {
	if base == "" {
		return os.WriteFile(target, []byte("old version\n"), 0o755)
	}
	in, err := os.Open(base)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
