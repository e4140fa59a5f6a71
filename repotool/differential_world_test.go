package repotool_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/repotool"
	"github.com/safeupdate/safeupdate/trust"
)

// A world is one repository of the differential corpus, made with the
// publisher's own commands, and the trust pinned for it. Release keys are
// alice (Ed25519) and bob (ECDSA P-256), threshold of them; 1.0.0 for
// linux/amd64 is signed by the first threshold of them. In root mode
// repotool.Init made root 1 (root key rootKey, channel key tsKey, both
// ECDSA P-256 so their signatures can be made high-S) and
// repotool.Promote made channel stable point to 1.0.0.
type world struct {
	t          *testing.T
	dir        string // the repository
	rootMode   bool
	threshold  int
	alice, bob crypto.Signer
	rootKey    crypto.Signer
	tsKey      crypto.Signer
	pin        string // the publisher's pin directory (root mode)
	root       []byte // the root clients and Verify pin (root mode)
	// state is the TrustStore of a client that used the repository
	// before the case tampered with it, for the case's stateful check.
	state string
}

var (
	diffInAYear = time.Now().Add(365 * 24 * time.Hour)
	diffInAWeek = time.Now().Add(7 * 24 * time.Hour)
	diffPast    = time.Now().Add(-time.Hour)
)

func newWorld(t *testing.T, rootMode bool, threshold int) *world {
	t.Helper()
	w := &world{t: t, dir: filepath.Join(t.TempDir(), "repo"), rootMode: rootMode, threshold: max(threshold, 1),
		alice: genKey(t, keys.Ed25519), bob: genKey(t, keys.ECDSAP256)}
	if rootMode {
		w.rootKey, w.tsKey = genKey(t, keys.ECDSAP256), genKey(t, keys.ECDSAP256)
		w.pin = filepath.Join(t.TempDir(), "pin")
		_, err := repotool.Init(t.Context(), repotool.InitConfig{Repo: w.dir, Pin: w.pin,
			RootKeys: pubKeys(w.rootKey), ReleaseKeys: pubKeys(w.alice, w.bob), Threshold: w.threshold,
			ChannelKeys: pubKeys(w.tsKey), Expires: diffInAYear, Keys: []crypto.Signer{w.rootKey}})
		if err != nil {
			t.Fatal(err)
		}
		w.root = w.read("1.root.json")
	}
	w.add("1.0.0", "linux", "amd64", w.signers()...)
	if rootMode {
		w.promote("stable", "1.0.0")
	}
	return w
}

func genKey(t *testing.T, typ keys.Type) crypto.Signer {
	t.Helper()
	k, err := keys.Generate(typ)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubKeys(signers ...crypto.Signer) []crypto.PublicKey {
	var out []crypto.PublicKey
	for _, s := range signers {
		out = append(out, s.Public())
	}
	return out
}

// signers are the release keys that sign a good release.
func (w *world) signers() []crypto.Signer { return []crypto.Signer{w.alice, w.bob}[:w.threshold] }

func (w *world) path(rel string) string { return filepath.Join(w.dir, filepath.FromSlash(rel)) }

func (w *world) read(rel string) []byte {
	w.t.Helper()
	data, err := os.ReadFile(w.path(rel))
	if err != nil {
		w.t.Fatal(err)
	}
	return data
}

func (w *world) write(rel string, data []byte) {
	w.t.Helper()
	if err := os.MkdirAll(filepath.Dir(w.path(rel)), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(w.path(rel), data, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) remove(rel string) {
	w.t.Helper()
	if err := os.Remove(w.path(rel)); err != nil {
		w.t.Fatal(err)
	}
}

// replace replaces the first old in file rel by new, which must change it.
func (w *world) replace(rel, old, new string) {
	w.t.Helper()
	data := w.read(rel)
	if !bytes.Contains(data, []byte(old)) {
		w.t.Fatalf("%s does not hold %q:\n%s", rel, old, data)
	}
	w.write(rel, bytes.Replace(data, []byte(old), []byte(new), 1))
}

// binary is the content of a test executable: not a real one, so Add is
// told its platform.
func binary(label string, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s %d %x\n", label, i, sha256.Sum256([]byte{byte(i), byte(i >> 8)}))
	}
	return b.Bytes()[:n]
}

// add publishes a release with repotool.Add, replacing any release there,
// and returns it. The binary is named app, so the payload is app.bz2, or
// app.zst with compression "zstd".
func (w *world) add(version, goos, goarch string, signers ...crypto.Signer) *release.Release {
	w.t.Helper()
	return w.addBinary(binary(version+" "+goos+"/"+goarch, 20000), "", version, goos, goarch, signers...)
}

func (w *world) addBinary(bin []byte, compression, version, goos, goarch string, signers ...crypto.Signer) *release.Release {
	w.t.Helper()
	path := filepath.Join(w.t.TempDir(), "app")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		w.t.Fatal(err)
	}
	res, err := repotool.Add(w.t.Context(), repotool.AddConfig{Repo: w.dir, Binary: path, Version: version,
		OS: goos, Arch: goarch, Compression: compression, Keys: signers, Force: true})
	if err != nil {
		w.t.Fatal(err)
	}
	return res.Release
}

// release parses the release.json in dir ("<version>/<os>/<arch>").
func (w *world) release(dir string) *release.Release {
	w.t.Helper()
	r, err := release.Parse(w.read(dir + "/release.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// resign changes the release in dir with edit and writes it back signed
// by signers (none: unsigned) with release.Marshal, which refuses a release
// that Parse would refuse: see writeRaw for those.
func (w *world) resign(dir string, edit func(*release.Release), signers ...crypto.Signer) {
	w.t.Helper()
	r := w.release(dir)
	edit(r)
	r.Signatures = nil
	signRelease(w.t, r, signers...)
	data, err := r.Marshal()
	if err != nil {
		w.t.Fatal(err)
	}
	w.write(dir+"/release.json", data)
}

func signRelease(t *testing.T, r *release.Release, signers ...crypto.Signer) {
	t.Helper()
	for _, k := range signers {
		s, err := keys.NewSigner(k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
}

// writeRaw writes r as release.json of dir with encoding/json, as a
// publisher's own tool would not: for releases Marshal refuses to write.
func (w *world) writeRaw(dir string, r *release.Release) {
	w.t.Helper()
	data, err := json.MarshalIndent(map[string]any{
		"binary": r.Binary, "hash": r.Hash, "size": r.Size, "version": r.Version, "os": r.OS, "arch": r.Arch,
		"compressed_hash": r.CompressedHash, "compressed_size": r.CompressedSize, "signatures": r.Signatures,
	}, "", "  ")
	if err != nil {
		w.t.Fatal(err)
	}
	w.write(dir+"/release.json", data)
}

// signMember adds the member `"name": value` (JSON text) to the release
// in dir and signs it again, as a publisher whose tool writes a member
// this version does not know.
func (w *world) signMember(dir, name, value string) {
	w.t.Helper()
	w.replace(dir+"/release.json", "{", fmt.Sprintf("{\n  %q: %s,", name, value))
	w.resign(dir, func(*release.Release) {}, w.signers()...)
}

// rename makes the payload of the release in dir the file name and signs
// the release for it.
func (w *world) rename(dir, name string) {
	w.t.Helper()
	r := w.release(dir)
	if err := os.Rename(w.path(dir+"/"+r.Binary), w.path(dir+"/"+name)); err != nil {
		w.t.Fatal(err)
	}
	w.resign(dir, func(r *release.Release) { r.Binary = name }, w.signers()...)
}

// publishPayload writes z as the payload name of the release in dir,
// signed as the compression of bin.
func (w *world) publishPayload(dir, name string, bin, z []byte) {
	w.t.Helper()
	w.write(dir+"/"+name, z)
	w.resign(dir, func(r *release.Release) {
		r.Binary, r.Hash, r.Size = name, hexSum(bin), int64(len(bin))
		r.CompressedHash, r.CompressedSize = hexSum(z), int64(len(z))
	}, w.signers()...)
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// copyDir copies the release directory from to the directory to.
func (w *world) copyDir(from, to string) {
	w.t.Helper()
	if err := os.CopyFS(w.path(to), os.DirFS(w.path(from))); err != nil {
		w.t.Fatal(err)
	}
}

// rotate runs repotool.Rotate with cfg, signed by the root key unless
// cfg.Keys says otherwise.
func (w *world) rotate(cfg repotool.RotateConfig) {
	w.t.Helper()
	cfg.Repo, cfg.Pin = w.dir, w.pin
	if cfg.Keys == nil {
		cfg.Keys = []crypto.Signer{w.rootKey}
	}
	res, err := repotool.Rotate(w.t.Context(), cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	if !res.Complete {
		w.t.Fatalf("rotation incomplete: %+v", res.Missing)
	}
}

// nextRoot returns the successor of the root prev (the bytes of a root
// file), changed by edit (may be nil) and signed by signers, without the
// checks repotool.Rotate makes: for roots a publisher would not write.
func (w *world) nextRoot(prev []byte, edit func(*trust.RootDraft), signers ...crypto.Signer) []byte {
	w.t.Helper()
	p, err := trust.NewRoot(prev)
	if err != nil {
		w.t.Fatal(err)
	}
	d := trust.NextRoot(p)
	if edit != nil {
		edit(d)
	}
	return w.signRoot(d, signers...)
}

func (w *world) signRoot(d *trust.RootDraft, signers ...crypto.Signer) []byte {
	w.t.Helper()
	for _, k := range signers {
		s, err := keys.NewSigner(k)
		if err != nil {
			w.t.Fatal(err)
		}
		if _, err := d.Sign(s); err != nil {
			w.t.Fatal(err)
		}
	}
	data, err := d.Marshal()
	if err != nil {
		w.t.Fatal(err)
	}
	return data
}

// writeRoot publishes data as root version v: v.root.json and root.json.
func (w *world) writeRoot(v int64, data []byte) {
	w.t.Helper()
	w.write(trust.RootFileName(v), data)
	w.write("root.json", data)
}

func role(threshold int, signers ...crypto.Signer) trust.RoleKeys {
	return trust.RoleKeys{Keys: pubKeys(signers...), Threshold: threshold}
}

// promote points channel name to version with repotool.Promote.
func (w *world) promote(name, version string) {
	w.t.Helper()
	_, err := repotool.Promote(w.t.Context(), repotool.PromoteConfig{Repo: w.dir, Pin: w.pin, Channel: name,
		Version: version, Expires: diffInAWeek, Keys: []crypto.Signer{w.tsKey}})
	if err != nil {
		w.t.Fatal(err)
	}
}

// channelFile is a channel file made and signed without Promote's checks.
func (w *world) channelFile(name, version string, platforms []string, seq int64, expires time.Time, signers ...crypto.Signer) []byte {
	w.t.Helper()
	c, err := channel.New(name, version, platforms, seq, expires)
	if err != nil {
		w.t.Fatal(err)
	}
	return w.signChannel(c, signers...)
}

func (w *world) signChannel(c *channel.Channel, signers ...crypto.Signer) []byte {
	w.t.Helper()
	for _, k := range signers {
		s, err := keys.NewSigner(k)
		if err != nil {
			w.t.Fatal(err)
		}
		if _, err := c.Sign(s); err != nil {
			w.t.Fatal(err)
		}
	}
	data, err := c.Marshal()
	if err != nil {
		w.t.Fatal(err)
	}
	return data
}

// A target is what one client asks for: a version, or a channel, for a
// platform.
type target struct{ version, channel, goos, goarch string }

func (tg target) String() string {
	if tg.channel != "" {
		return "channel " + tg.channel + " for " + tg.goos + "/" + tg.goarch
	}
	return tg.version + "/" + tg.goos + "/" + tg.goarch
}

// targets are the clients of the repository: one per release directory,
// and one per channel and platform it lists (read without verifying, only
// to know which clients to run; linux/amd64 when it does not parse).
func (w *world) targets() []target {
	w.t.Helper()
	var out []target
	found, err := filepath.Glob(w.path("*/*/*/release.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	for _, f := range found {
		rel, _ := filepath.Rel(w.dir, filepath.Dir(f))
		parts := strings.Split(filepath.ToSlash(rel), "/")
		out = append(out, target{version: parts[0], goos: parts[1], goarch: parts[2]})
	}
	channels, err := filepath.Glob(w.path("channels/*.json"))
	if err != nil {
		w.t.Fatal(err)
	}
	for _, f := range channels {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		platforms := []string{"linux/amd64"}
		if data, err := os.ReadFile(f); err == nil {
			if c, err := channel.Parse(data); err == nil {
				platforms = c.Platforms()
			}
		}
		for _, p := range platforms {
			goos, goarch, _ := strings.Cut(p, "/")
			out = append(out, target{channel: name, goos: goos, goarch: goarch})
		}
	}
	return out
}

// clientOpts are the options of a client that never used the repository
// before, asking src for tg: the trust w pins, a new TrustStore (root
// mode), a new target file; then more. It returns the target file too.
func (w *world) clientOpts(tg target, src apply.Option, more ...apply.Option) ([]apply.Option, string) {
	w.t.Helper()
	dir := w.t.TempDir()
	file := filepath.Join(dir, "installed")
	if err := os.WriteFile(file, []byte("the binary before the update\n"), 0o755); err != nil {
		w.t.Fatal(err)
	}
	opts := []apply.Option{src, apply.OS(tg.goos), apply.Arch(tg.goarch), apply.TargetFile(file),
		apply.StallTimeout(10 * time.Second)}
	if tg.channel != "" {
		opts = append(opts, apply.Channel(tg.channel))
	} else {
		opts = append(opts, apply.Version(tg.version))
	}
	if w.rootMode {
		opts = append(opts, apply.TrustRoot(w.root), apply.TrustStore(filepath.Join(dir, "trust")))
	} else {
		for _, k := range []crypto.Signer{w.alice, w.bob} {
			pem, err := keys.MarshalPublic(k.Public())
			if err != nil {
				w.t.Fatal(err)
			}
			opts = append(opts, apply.PublicKey(pem))
		}
		opts = append(opts, apply.Threshold(w.threshold))
	}
	return append(opts, more...), file
}

// runClient runs apply.Check and then apply.Apply for tg from src, each as
// a client that never used the repository, and returns why they refused,
// or no reason when Apply installed the binary Check verified.
func (w *world) runClient(ctx context.Context, tg target, src apply.Option) reason {
	w.t.Helper()
	opts, _ := w.clientOpts(tg, src)
	rel, checkErr := apply.Check(ctx, opts...)
	opts, file := w.clientOpts(tg, src)
	applyErr := apply.Apply(ctx, opts...)
	if checkErr != nil {
		if applyErr == nil {
			w.t.Errorf("%s: Check refused (%v) but Apply installed", tg, checkErr)
		} else if applyClass(checkErr) != applyClass(applyErr) {
			w.t.Errorf("%s: Check refused with %v, Apply with %v", tg, checkErr, applyErr)
		}
		return clientReason(checkErr)
	}
	if applyErr != nil {
		return clientReason(applyErr)
	}
	installed, err := os.ReadFile(file)
	if err != nil {
		w.t.Fatal(err)
	}
	if hexSum(installed) != rel.Hash || int64(len(installed)) != rel.Size {
		w.t.Errorf("%s: Apply succeeded but the target is not the binary release %s/%s/%s signs", tg, rel.Version, rel.OS, rel.Arch)
	}
	return reason{}
}

// audit runs repotool.Verify on the directory with the trust clients pin.
func (w *world) audit(ctx context.Context) []repotool.Result {
	w.t.Helper()
	cfg := repotool.VerifyConfig{Repo: w.dir}
	if w.rootMode {
		cfg.Root = w.root
	} else {
		cfg.Keys, cfg.Threshold = pubKeys(w.alice, w.bob), w.threshold
	}
	results, err := repotool.Verify(ctx, cfg)
	if err != nil {
		w.t.Fatalf("Verify: %v", err)
	}
	return results
}

// pinnedVersion is the version of the pinned root, 0 in key mode.
func (w *world) pinnedVersion() int64 {
	w.t.Helper()
	if !w.rootMode {
		return 0
	}
	r, err := trust.NewRoot(w.root)
	if err != nil {
		w.t.Fatal(err)
	}
	return r.Version()
}
