package repotool_test

import (
	"bytes"
	"compress/bzip2"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/internal/bsdiff"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/repotool"
)

// Delta cases: a release 1.1.0 with a patch from 1.0.0. A client whose
// binary is not the base never reads the patch and installs the payload;
// a client whose binary is 1.0.0's takes the patch, and if the patch fails
// it installs the payload too, after logging why. So besides the usual
// comparison, compare checks with comparePatches that a client holding
// each patch's base meets, on the patch, what Verify says of it.

const rel11 = "1.1.0/linux/amd64"

// clsNoPatch is a patch no client holding its base release's binary can
// use: the entry signs another base binary.
const clsNoPatch = "no usable patch"

// deltaBinary is 1.1.0's binary: 1.0.0's (see world.add), changed in a
// few places, as the next build of a program is.
func deltaBinary() []byte {
	b := bytes.Clone(binary("1.0.0 linux/amd64", 20000))
	for _, i := range []int{100, 7000, 15000} {
		copy(b[i:], "changed in 1.1.0")
	}
	return b
}

// addDelta publishes 1.1.0 with a patch from 1.0.0, with repotool.Add's
// --delta-from, the base checked against the pin in root mode and as
// signed by the signers in key mode.
func (w *world) addDelta() *release.Release {
	w.t.Helper()
	path := filepath.Join(w.t.TempDir(), "app")
	if err := os.WriteFile(path, deltaBinary(), 0o755); err != nil {
		w.t.Fatal(err)
	}
	cfg := repotool.AddConfig{Repo: w.dir, Binary: path, Version: "1.1.0", OS: "linux", Arch: "amd64",
		Keys: w.signers(), DeltaFrom: []string{"1.0.0"}}
	if w.rootMode {
		cfg.Pin = w.pin
	}
	res, err := repotool.Add(w.t.Context(), cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	return res.Release
}

// resignPatch writes patch as the patch of 1.1.0 and signs its entry,
// edited by edit.
func (w *world) resignPatch(patch []byte, edit func(*release.Patch)) {
	w.t.Helper()
	w.resign(rel11, func(r *release.Release) {
		p := &r.Patches[0]
		w.write(rel11+"/"+p.File, patch)
		p.Hash, p.Size = hexSum(patch), int64(len(patch))
		if edit != nil {
			edit(p)
		}
	}, w.signers()...)
}

func diffOf(w *world, old, new []byte) []byte {
	var b bytes.Buffer
	if err := bsdiff.Diff(&b, old, new); err != nil {
		w.t.Fatal(err)
	}
	return b.Bytes()
}

func deltaCases() []diffCase {
	patchFile := rel11 + "/app-from-1.0.0.bsdiff"
	return []diffCase{
		{name: "good patch", build: func(w *world) { w.addDelta() }},
		{name: "tampered patch", build: func(w *world) {
			w.addDelta()
			b := w.read(patchFile)
			b[len(b)/2] ^= 1
			w.write(patchFile, b)
		}},
		{name: "patch larger than signed", build: func(w *world) {
			w.addDelta()
			w.write(patchFile, append(w.read(patchFile), "more"...))
		}},
		{name: "patch missing", build: func(w *world) {
			w.addDelta()
			w.remove(patchFile)
		}},
		{name: "signed patch made from another base", build: func(w *world) {
			w.addDelta()
			other := bytes.Clone(binary("1.0.0 linux/amd64", 20000))
			for i := 0; i < len(other); i += 16 {
				other[i] ^= 1
			}
			w.resignPatch(diffOf(w, other, deltaBinary()), nil)
		}},
		{name: "signed patch whose base is not the base release's binary", build: func(w *world) {
			w.addDelta()
			w.resign(rel11, func(r *release.Release) { r.Patches[0].BaseHash = hexSum([]byte("another binary")) }, w.signers()...)
		}},
		{name: "signed patch bomb", build: func(w *world) {
			w.addDelta()
			w.resignPatch(diffOf(w, binary("1.0.0 linux/amd64", 20000), bytes.Repeat(deltaBinary(), 4)), nil)
		}},
		{name: "unsigned patch entry added by a mirror", want: clsSignature, build: func(w *world) {
			w.add("1.1.0", "linux", "amd64", w.signers()...)
			w.replace(rel11+"/release.json", `"signatures"`, `"patches": [{"base_version": "1.0.0", "base_hash": "`+
				hexSum(binary("1.0.0 linux/amd64", 20000))+`", "base_size": 20000, "file": "p.bsdiff", "hash": "`+
				hexSum(nil)+`", "size": 1, "format": "bsdiff40"}], "signatures"`)
		}},
		{name: "signed patch name traversal", want: clsMetadata, build: func(w *world) {
			w.addDelta()
			w.write(rel11+"/release.json", w.traversalRelease())
		}},
	}
}

// traversalRelease is 1.1.0's release.json with its patch's file name a
// path out of the release directory, signed (release.Marshal would refuse
// to write it).
func (w *world) traversalRelease() []byte {
	w.t.Helper()
	r := w.release(rel11)
	r.Patches[0].File = "../../../1.0.0/linux/amd64/app.bz2"
	r.Signatures = nil
	signRelease(w.t, r, w.signers()...)
	data, err := json.MarshalIndent(map[string]any{
		"binary": r.Binary, "hash": r.Hash, "size": r.Size, "version": r.Version, "os": r.OS, "arch": r.Arch,
		"compressed_hash": r.CompressedHash, "compressed_size": r.CompressedSize, "patches": r.Patches, "signatures": r.Signatures,
	}, "", "  ")
	if err != nil {
		w.t.Fatal(err)
	}
	return data
}

// baseBinary is the binary of release version for goos/goarch as the
// repository holds it, decoded from its payload, or nil.
func (w *world) baseBinary(version, goos, goarch string) []byte {
	data, err := os.ReadFile(w.path(version + "/" + goos + "/" + goarch + "/release.json"))
	if err != nil {
		return nil
	}
	r, err := release.ParseLegacyUnsafe(data)
	if err != nil || !strings.HasSuffix(r.Binary, ".bz2") {
		return nil
	}
	z, err := os.ReadFile(w.path(version + "/" + goos + "/" + goarch + "/" + r.Binary))
	if err != nil {
		return nil
	}
	b, err := io.ReadAll(bzip2.NewReader(bytes.NewReader(z)))
	if err != nil {
		return nil
	}
	return b
}

// patchLog keeps what Apply logs about a patch.
type patchLog struct {
	mu      sync.Mutex
	noPatch bool
	failed  error
}

func (l *patchLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *patchLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *patchLog) WithGroup(string) slog.Handler            { return l }
func (l *patchLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case strings.HasPrefix(r.Message, "apply: no patch"):
		l.noPatch = true
	case strings.HasPrefix(r.Message, "apply: the patch failed"):
		r.Attrs(func(a slog.Attr) bool {
			if err, ok := a.Value.Any().(error); ok && a.Key == "err" {
				l.failed = err
			}
			return true
		})
		if l.failed == nil {
			l.failed = errors.New("unclassified patch failure")
		}
	}
	return nil
}

// patchClient runs Apply for tg as a client whose binary is that of the
// base release of pt, and returns what it met on the patch: no reason
// when it installed through the patch.
func (w *world) patchClient(ctx context.Context, tg target, src apply.Option, base []byte) reason {
	w.t.Helper()
	log := &patchLog{}
	opts, file := w.clientOpts(tg, src, apply.Logger(slog.New(log)))
	if err := os.WriteFile(file, base, 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := apply.Apply(ctx, opts...); err != nil {
		return clientReason(err)
	}
	switch {
	case log.noPatch:
		return reason{class: clsNoPatch}
	case log.failed != nil:
		return clientReason(log.failed)
	}
	return reason{}
}

// patchVerdict is what Verify says of the patches of the release result
// r: ok when it says nothing against them (r passed, or failed before
// them), else the reason of the first patch that failed.
func patchVerdict(r repotool.Result) (reason, bool) {
	if r.OK || !strings.HasPrefix(r.Error, "patch ") {
		return reason{}, !r.OK
	}
	if strings.Contains(r.Error, "is for a base binary of") {
		return reason{class: clsNoPatch, msg: r.Error}, false
	}
	return verifyReason(r), false
}

// comparePatches checks, for the release tg (not a channel) and each
// patch its release.json lists, that a client holding the base release's
// binary meets on the patch what Verify says of it.
func comparePatches(w *world, tg target, src apply.Option, a auditView) {
	w.t.Helper()
	if tg.channel != "" {
		return
	}
	data, err := os.ReadFile(w.path(tg.String() + "/release.json"))
	if err != nil {
		return
	}
	r, err := release.Parse(data)
	if err != nil {
		return // refused whole, by both: compared already
	}
	res, ok := a.find(repotool.KindRelease, tg.String())
	if !ok {
		return
	}
	v, other := patchVerdict(res)
	if other {
		return // the release failed before its patches, for every client
	}
	for _, pt := range r.Patches {
		base := w.baseBinary(pt.BaseVersion, tg.goos, tg.goarch)
		if base == nil {
			continue
		}
		got := w.patchClient(w.t.Context(), tg, src, base)
		w.t.Logf("client %s holding %s: patch %s: %v", tg, pt.BaseVersion, pt.File, got)
		if got.class != v.class {
			w.t.Errorf("DRIFT %s: on patch %s a client holding %s meets %v, verify says %v", tg, pt.File, pt.BaseVersion, got, v)
		}
	}
}

// patchOnly reports whether the release result r failed on a patch only.
func patchOnly(r repotool.Result) bool {
	_, other := patchVerdict(r)
	return r.Kind == repotool.KindRelease && !r.OK && !other
}
