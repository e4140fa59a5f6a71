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
	"time"
)

// appPackage is the program the demo builds, relative to the module root.
const appPackage = "./examples/selfupdate/app"

// buildApp builds appPackage once per version, with the version and the
// release public key set at link time, into builds/app-VERSION.
func (d *demo) buildApp(ctx context.Context, versions ...string) error {
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
	key := base64.StdEncoding.EncodeToString(d.pubPEM)
	d.p.say(`$ go build -buildvcs=false -ldflags "-s -w -X main.version=VERSION -X main.releaseKey=%.12s..." \`, key)
	d.p.say(`      -o builds/app-VERSION %s     (in %s)`, appPackage, module)
	start := time.Now()
	for _, v := range versions {
		out := d.path("builds/" + exe("app-"+v))
		t := time.Now()
		ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.releaseKey=%s", v, key)
		cmd := exec.CommandContext(ctx, goCmd, "build", "-buildvcs=false", "-ldflags", ldflags, "-o", out, appPackage)
		cmd.Dir = module
		// Build for this machine, whatever the environment says. GOTMPDIR
		// keeps go build's own temporary files in the demo's directory, so
		// that they are removed with it even when go build is interrupted.
		cmd.Env = append(os.Environ(), "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "GOTMPDIR="+tmp)
		cmd.WaitDelay = 5 * time.Second
		if msg, err := cmd.CombinedOutput(); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("go build of %s: %w", v, ctx.Err())
			}
			return fmt.Errorf("go build of %s: %w\n%s", v, err, bytes.TrimSpace(msg))
		}
		d.builds[v] = out
		d.p.say("built %s in %.1fs", d.rel(out), time.Since(t).Seconds())
	}
	d.p.say("%d builds in %.1fs (the first run of the demo also compiles the dependencies)",
		len(versions), time.Since(start).Seconds())
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
