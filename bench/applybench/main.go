// Command applybench installs one release with apply.Apply, as an embedding
// program would, so that bench/run.sh can time it. It pins the public key
// given, fetches from the repository URL through apply.HTTPSource, and
// replaces a throwaway target file in a fresh temporary directory, which it
// removes afterwards.
//
//	applybench -repo http://127.0.0.1:PORT -pub release.pub -version 1.0.0
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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
	flag.Parse()
	if err := run(*repo, *pub, *version, *goos, *goarch, *tmp); err != nil {
		fmt.Fprintln(os.Stderr, "applybench:", err)
		os.Exit(1)
	}
}

func run(repo, pubFile, version, goos, goarch, tmp string) error {
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
	if err := os.WriteFile(target, []byte("old version\n"), 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	return apply.Apply(ctx,
		apply.WithSource(src),
		apply.Version(version),
		apply.PublicKey(pub),
		apply.TargetFile(target),
		apply.OS(goos), apply.Arch(goarch),
	)
}
