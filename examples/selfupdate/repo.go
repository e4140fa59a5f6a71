package main

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/repotool"
)

// publish adds binary to the repository as release VERSION of "app" for
// this platform, signed with key alone, and shows what was written.
func (d *demo) publish(ctx context.Context, version, binary string, key *demoKey) error {
	res, err := repotool.Add(ctx, repotool.AddConfig{
		Repo:    d.repo,
		Binary:  binary,
		Version: version,
		OS:      runtime.GOOS,
		Arch:    runtime.GOARCH,
		Name:    "app",
		Keys:    []crypto.Signer{key.signer},
	})
	if err != nil {
		return err
	}
	r := res.Release
	if len(r.Signatures) != 1 || r.Signatures[0].KeyID != key.id {
		return fmt.Errorf("release %s is not signed by key %.16s... alone: %+v", version, key.id, r.Signatures)
	}
	d.p.say("published %s/%s: %s (%d bytes, %d compressed), signed by key %.16s...",
		d.rel(res.Dir), release.FileName, r.Binary, r.Size, r.CompressedSize, r.Signatures[0].KeyID)
	return nil
}

// publishDelta replaces release version with binary, signed with key,
// adding a patch from release from: what repotool add --force --delta-from
// does.
func (d *demo) publishDelta(ctx context.Context, version, binary string, key *demoKey, from string) (*release.Release, error) {
	res, err := repotool.Add(ctx, repotool.AddConfig{
		Repo: d.repo, Binary: binary, Version: version, OS: runtime.GOOS, Arch: runtime.GOARCH, Name: "app",
		Keys: []crypto.Signer{key.signer}, DeltaFrom: []string{from}, Force: true,
	})
	if err != nil {
		return nil, err
	}
	r := res.Release
	if len(r.Patches) != 1 {
		return nil, fmt.Errorf("release %s has %d patches, want 1", version, len(r.Patches))
	}
	pt := r.Patches[0]
	d.p.say("published %s/%s: %s (%d bytes compressed) and %s, a patch from %s (%d bytes), both signed in release.json",
		d.rel(res.Dir), release.FileName, r.Binary, r.CompressedSize, pt.File, pt.BaseVersion, pt.Size)
	return r, nil
}

// servedBytes adds up the bytes the server sent for path in log, lines of
// requestLog ("GET PATH STATUS BYTES").
func servedBytes(log, path string) int64 {
	var n int64
	for line := range strings.Lines(log) {
		if f := strings.Fields(line); len(f) == 4 && f[1] == path {
			b, _ := strconv.ParseInt(f[3], 10, 64)
			n += b
		}
	}
	return n
}

// inRepo returns the path of name, a file of release version for this
// platform, in the repository: relative and slash-separated, as in a URL.
func inRepo(version, name string) string {
	dir, _ := release.Dir(version, runtime.GOOS, runtime.GOARCH) // valid: published before
	return dir + "/" + name
}

// repoFile returns the path on disk of a file in the repository.
func (d *demo) repoFile(rel string) string { return filepath.Join(d.repo, filepath.FromSlash(rel)) }

// expectRefused runs the installed app, the build of version installed
// with the build of backup as its backup, with args, and checks that it
// refuses the update with the sentinel error of package apply named
// sentinel and changes nothing. It returns the app's output.
func (d *demo) expectRefused(ctx context.Context, sentinel, installed, backup string, args ...string) (string, error) {
	out, code, err := d.runApp(ctx, args...)
	if err != nil {
		return out, err
	}
	if code == 0 {
		return out, fmt.Errorf("the app accepted the update")
	}
	if !strings.Contains(out, "update failed: apply: ") {
		return out, fmt.Errorf("the app did not report apply's error")
	}
	if err := expectLines(out, "app "+installed, "update failed: ", "errors.Is(err, apply."+sentinel+")", "app "+installed+" is still installed"); err != nil {
		return out, err
	}
	d.p.ok("refused with apply.%s, exit status %d", sentinel, code)
	return out, d.expectInstalled(installed, backup)
}

// setJSONField rewrites one member of the JSON object in file, as a text
// editor would, keeping the others as they are.
func setJSONField(file, name string, value any) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return err
	}
	if obj[name], err = json.Marshal(value); err != nil {
		return err
	}
	if data, err = json.MarshalIndent(obj, "", "  "); err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o644)
}
