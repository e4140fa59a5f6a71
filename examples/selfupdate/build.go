package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// appPackage is the program the demo builds, relative to the module root.
const appPackage = "./examples/selfupdate/app"

// pin is what a build of the app trusts, set at link time: the variable
// main.NAME (releaseKey or trustRoot) holds value, base64-encoded.
type pin struct {
	name  string
	value []byte
}

// buildApp builds appPackage once per version, with the version and pin set
// at link time, into BUILDDIR/app-VERSION. Builds run in parallel, one per
// CPU: they differ only in their link step.
func (d *demo) buildApp(ctx context.Context, p pin, versions ...string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the demo builds programs with the go command: %w", err)
	}
	module, err := moduleRoot(ctx, goCmd)
	if err != nil {
		return err
	}
	tmp := d.path("gotmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	value := base64.StdEncoding.EncodeToString(p.value)
	d.p.say(`$ go build -buildvcs=false -ldflags "-s -w -X main.version=VERSION -X main.%s=%.12s..." \`, p.name, value)
	d.p.say(`      -o %s/app-VERSION %s     (in %s)`, d.buildDir, appPackage, module)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		slots    = make(chan struct{}, max(1, runtime.NumCPU()))
		start    = time.Now()
	)
	for _, v := range versions {
		out := d.path(d.buildDir + "/" + exe("app-"+v))
		ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.%s=%s", v, p.name, value)
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			t := time.Now()
			err := goBuild(ctx, goCmd, module, tmp, ldflags, out)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				// The first failure is the cause; the builds it cancels
				// fail after it.
				if firstErr == nil {
					firstErr = fmt.Errorf("go build of %s: %w", v, err)
				}
				cancel()
				return
			}
			d.builds[v] = out
			d.p.say("built %s in %.1fs", d.rel(out), time.Since(t).Seconds())
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	d.p.say("%d builds in %.1fs (the first run of the demo also compiles the dependencies)",
		len(versions), time.Since(start).Seconds())
	return nil
}

// goBuild runs go build in module, for this machine, with ldflags, writing
// the program to out.
func goBuild(ctx context.Context, goCmd, module, tmp, ldflags, out string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-buildvcs=false", "-ldflags", ldflags, "-o", out, appPackage)
	cmd.Dir = module
	// Build for this machine, whatever the environment says. GOTMPDIR
	// keeps go build's own temporary files in the demo's directory, so
	// that they are removed with it even when go build is interrupted.
	cmd.Env = append(os.Environ(), "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "GOTMPDIR="+tmp)
	cmd.WaitDelay = 5 * time.Second
	if msg, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w\n%s", err, bytes.TrimSpace(msg))
	}
	return nil
}

// moduleRoot returns the directory of the go.mod of the module the demo is
// run in.
func moduleRoot(ctx context.Context, goCmd string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the demo from inside the safeupdate module: go run ./examples/selfupdate")
	}
	return filepath.Dir(gomod), nil
}
