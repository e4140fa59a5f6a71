package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/safeupdate/safeupdate/repotool"
)

// demo is what the steps share. Everything it makes is under dir:
//
//	keys/NAME.pub, keys/NAME.key          the keys (release, root, ...)
//	builds/app-VERSION                    each version of the app, as built
//	gotmp/                                go build's temporary files
//	repo/                                 the repository, served at url
//	bin/app                               the installed app, updating itself
//
// An act that changes the setting (act 2 pins a trust root instead of a
// key) replaces the stage: new builds, repository and install directory.
type demo struct {
	p   *printer
	dir string

	release *demoKey // act 1's release key, pinned in its builds; key A in act 2

	// Act 2's keys, and root 1, pinned in its builds.
	rootKey, channelKey, releaseB *demoKey
	root1                         []byte

	*stage

	closers []func() // run in reverse order by close
}

// stage is where an act is set: the builds of the app, the repository and
// the directory the app is installed in.
type stage struct {
	buildDir string            // where builds go, relative to dir
	builds   map[string]string // version → path of the binary built for it

	repo      string      // repository directory
	url       string      // where it is served
	serverLog *requestLog // what the server was asked for

	bin   string // the directory the app is installed in, relative to dir
	store string // the app's TrustStore, a directory beside it in bin; "" if none
}

// demoKey is a key pair made by repotool keygen: keys/NAME.pub and
// keys/NAME.key.
type demoKey struct {
	id      string        // TUF key id
	pubPEM  []byte        // the public key, PEM
	pubPath string        // keys/NAME.pub
	keyPath string        // keys/NAME.key
	signer  crypto.Signer // the private key
}

func newDemo(p *printer) (*demo, error) {
	dir, err := os.MkdirTemp("", "safeupdate-demo-")
	if err != nil {
		return nil, err
	}
	// Resolve symbolic links (macOS's /var is one), so that the paths
	// printed are those the app sees.
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return nil, err
	}
	d := &demo{p: p, dir: dir, stage: &stage{buildDir: "builds", builds: map[string]string{}, bin: "bin"}}
	d.onClose(func() { os.RemoveAll(dir) })
	return d, nil
}

// onClose registers fn to run when the demo ends, before what was
// registered earlier.
func (d *demo) onClose(fn func()) { d.closers = append(d.closers, fn) }

func (d *demo) close() {
	for _, fn := range slices.Backward(d.closers) {
		fn()
	}
}

// path returns the absolute path of rel, a slash-separated path in dir.
func (d *demo) path(rel string) string { return filepath.Join(d.dir, filepath.FromSlash(rel)) }

// rel returns path relative to dir, for printing.
func (d *demo) rel(path string) string {
	if r, err := filepath.Rel(d.dir, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}

// exe is the file name of an executable on this system.
func exe(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}

// installed is where the app is installed: the file that updates itself.
func (d *demo) installed() string { return d.path(d.bin + "/" + exe("app")) }

// newKey makes an unencrypted key pair keys/NAME.pub and keys/NAME.key.
func (d *demo) newKey(name string) (*demoKey, error) {
	k, err := repotool.Keygen(repotool.KeygenConfig{Out: d.path("keys/" + name), Unencrypted: true})
	if err != nil {
		return nil, err
	}
	dk := &demoKey{id: k.ID, pubPath: k.PublicPath, keyPath: k.KeyPath}
	if dk.pubPEM, err = os.ReadFile(k.PublicPath); err != nil {
		return nil, err
	}
	if dk.signer, err = repotool.LoadPrivateKey(k.KeyPath, nil); err != nil {
		return nil, err
	}
	return dk, nil
}

// serve serves the repository with repotool.Serve in this process, on a
// free port of 127.0.0.1, until the demo ends.
func (d *demo) serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	ready, readyW := io.Pipe()
	d.serverLog = &requestLog{p: d.p}
	done := make(chan struct{})
	go func() {
		defer close(done)
		cfg := repotool.ServeConfig{Dir: d.repo, Addr: "127.0.0.1:0", Log: d.serverLog}
		readyW.CloseWithError(repotool.Serve(ctx, cfg, readyW))
	}()
	d.onClose(func() { cancel(); <-done })

	// The first line is "serving DIR at URL".
	line, err := bufio.NewReader(ready).ReadString('\n')
	if err != nil {
		return fmt.Errorf("starting the repository server: %w", err)
	}
	i := strings.LastIndex(line, " at ")
	if i < 0 {
		return fmt.Errorf("unexpected first line from the server: %q", line)
	}
	d.url = strings.TrimSpace(line[i+len(" at "):])
	d.p.say("serving %s at %s", d.rel(d.repo), d.url)
	return nil
}

// runApp runs the installed app with args, showing its output as it comes,
// and returns the output and the exit code.
func (d *demo) runApp(ctx context.Context, args ...string) (output string, exitCode int, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	d.p.say("$ %s %s", d.rel(d.installed()), strings.Join(args, " "))
	out := d.p.lines(indent + "| ")
	cmd := exec.CommandContext(ctx, d.installed(), args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	out.Close()
	d.serverLog.show()
	if ctx.Err() != nil {
		return out.String(), -1, fmt.Errorf("running the app: %w", ctx.Err())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), exit.ExitCode(), nil
	}
	if err != nil {
		return out.String(), -1, fmt.Errorf("running the app: %w", err)
	}
	return out.String(), 0, nil
}

// expectLines checks that output holds each of want, in this order, each
// at the start of a line.
func expectLines(output string, want ...string) error {
	lines := strings.Split(output, "\n")
	i := 0
	for _, l := range lines {
		if i < len(want) && strings.HasPrefix(l, want[i]) {
			i++
		}
	}
	if i < len(want) {
		return fmt.Errorf("the app's output has no line starting %q (after the lines before it)", want[i])
	}
	return nil
}

// expectInstalled checks that the installed app is byte for byte the build
// of version, and that bin/ holds nothing but the app and its backup, the
// build of backupVersion.
func (d *demo) expectInstalled(version, backupVersion string) error {
	app := d.installed()
	if err := sameFile(app, d.builds[version]); err != nil {
		return err
	}
	if err := sameFile(app+".backup", d.builds[backupVersion]); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Dir(app))
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{filepath.Base(app), filepath.Base(app) + ".backup"}
	also := ""
	if d.store != "" {
		want = append(want, d.store)
		also = ", the trust store " + d.store + "/"
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		return fmt.Errorf("%s holds %q, want only %q", d.rel(filepath.Dir(app)), names, want)
	}
	d.p.ok("%s is byte for byte the %s build, %s.backup the %s build%s, and nothing else is in %s/",
		d.rel(app), version, filepath.Base(app), backupVersion, also, d.rel(filepath.Dir(app)))
	return nil
}

// sameFile reports an error unless the files at got and want hold the same
// bytes.
func sameFile(got, want string) error {
	g, err := os.ReadFile(got)
	if err != nil {
		return err
	}
	w, err := os.ReadFile(want)
	if err != nil {
		return err
	}
	if !bytes.Equal(g, w) {
		return fmt.Errorf("%s is not the same as %s", got, want)
	}
	return nil
}

// copyFile copies src to a new file dst with mode perm.
func copyFile(dst, src string, perm os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, perm)
}
