package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/safeupdate/safeupdate/release"
)

// signedUpdates is act 1: a publisher signs releases with one pinned key; a
// program updates itself to a signed release and refuses tampered ones.
var signedUpdates = act{
	title: "a signed release, a self-update, two tampered releases refused, and a delta update",
	steps: []step{
		{"Generate a release key", makeKey},
		{"Build app 1.0.0, 2.0.0 and 3.0.0, each with the public key pinned", buildVersions},
		{"Publish 2.0.0, signed, and serve the repository on 127.0.0.1", publishAndServe},
		{"Install app 1.0.0 and let it update itself to 2.0.0", selfUpdate},
		{"Publish 3.0.0; a mirror rewrites the hash in its release.json", tamperedMetadata},
		{"A mirror alters one byte of the 3.0.0 payload instead", tamperedPayload},
		{"Publish 3.0.0 again with a patch from 2.0.0; the app updates by the patch", deltaUpdate},
	},
}

func makeKey(ctx context.Context, d *demo) error {
	k, err := d.newKey("release")
	if err != nil {
		return err
	}
	d.release = k
	d.p.say("wrote %s and %s, key id %.16s...", d.rel(k.pubPath), d.rel(k.keyPath), k.id)
	d.p.say("The private key is UNENCRYPTED here so that the demo needs no passphrase.")
	d.p.say("Real publishers keep the default, which encrypts it: repotool keygen --out keys/release")
	return nil
}

func buildVersions(ctx context.Context, d *demo) error {
	return d.buildApp(ctx, pin{"releaseKey", d.release.pubPEM}, "1.0.0", "2.0.0", "3.0.0")
}

func publishAndServe(ctx context.Context, d *demo) error {
	d.repo = d.path("repo")
	if err := d.publish(ctx, "2.0.0", d.builds["2.0.0"], d.release); err != nil {
		return err
	}
	meta, err := os.ReadFile(d.repoFile(inRepo("2.0.0", release.FileName)))
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(meta)) {
		d.p.say("  %s", strings.TrimRight(line, "\n"))
	}
	return d.serve(ctx)
}

func selfUpdate(ctx context.Context, d *demo) error {
	if err := copyFile(d.installed(), d.builds["1.0.0"], 0o755); err != nil {
		return err
	}
	out, code, err := d.runApp(ctx, "-update", d.url, "-to", "2.0.0")
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("the app exited with status %d", code)
	}
	// The same process prints both versions: it replaced its own binary,
	// then re-executed it.
	if err := expectLines(out, "app 1.0.0", "updating to 2.0.0", "installed 2.0.0", "app 2.0.0"); err != nil {
		return err
	}
	d.p.ok("the app ran as 1.0.0, installed 2.0.0 and restarted as 2.0.0")
	return d.expectInstalled("2.0.0", "1.0.0")
}

// tamperedMetadata changes the hash in a signed release.json, as a mirror
// serving a binary of its own would have to: the signature no longer
// verifies, and the payload is never even requested.
func tamperedMetadata(ctx context.Context, d *demo) error {
	if err := d.publish(ctx, "3.0.0", d.builds["3.0.0"], d.release); err != nil {
		return err
	}
	meta := d.repoFile(inRepo("3.0.0", release.FileName))
	original, err := os.ReadFile(meta)
	if err != nil {
		return err
	}
	evil, err := os.ReadFile(d.builds["1.0.0"])
	if err != nil {
		return err
	}
	sum := sha256.Sum256(evil)
	if err := setJSONField(meta, "hash", hex.EncodeToString(sum[:])); err != nil {
		return err
	}
	d.p.say(`tampered: "hash" in %s is now the sha256 of another binary`, d.rel(meta))
	if _, err := d.expectRefused(ctx, "ErrSignature", "2.0.0", "1.0.0", "-update", d.url, "-to", "3.0.0"); err != nil {
		return err
	}
	if d.serverLog.requested("/" + inRepo("3.0.0", "app.bz2")) {
		return fmt.Errorf("the app downloaded the payload of a release whose signature does not verify")
	}
	d.p.ok("the payload was never requested: signatures are checked first")
	return os.WriteFile(meta, original, 0o644) // undo, for the next step
}

// tamperedPayload changes one byte of a payload and leaves its release.json
// as signed: the download is checked against the signed hashes and sizes,
// and nothing is installed.
func tamperedPayload(ctx context.Context, d *demo) error {
	payload := d.repoFile(inRepo("3.0.0", "app.bz2"))
	data, err := os.ReadFile(payload)
	if err != nil {
		return err
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(payload, data, 0o644); err != nil {
		return err
	}
	d.p.say("tampered: byte %d of %s flipped; its release.json is untouched and validly signed", len(data)/2, d.rel(payload))
	_, err = d.expectRefused(ctx, "ErrChecksum", "2.0.0", "1.0.0", "-update", d.url, "-to", "3.0.0")
	return err
}

// deltaUpdate republishes 3.0.0 (replacing the tampered one) with a signed
// patch from 2.0.0, made from 2.0.0 as the repository holds it, verified
// against the release key. The installed 2.0.0 is that patch's base, so it
// downloads the patch, not the payload, rebuilds 3.0.0 from its own binary
// and checks the result against the signed hash, as it would a payload.
func deltaUpdate(ctx context.Context, d *demo) error {
	r, err := d.publishDelta(ctx, "3.0.0", d.builds["3.0.0"], d.release, "2.0.0")
	if err != nil {
		return err
	}
	pt := r.Patches[0]
	from := d.serverLog.count()
	out, code, err := d.runApp(ctx, "-update", d.url, "-to", "3.0.0")
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("the app exited with status %d", code)
	}
	if err := expectLines(out, "app 2.0.0", "updating to 3.0.0", "installed 3.0.0", "app 3.0.0"); err != nil {
		return err
	}
	if !strings.Contains(out, "apply: updating by patch") {
		return fmt.Errorf("the app did not update by the patch")
	}
	got := d.serverLog.since(from)
	patchBytes, payloadBytes := servedBytes(got, "/"+inRepo("3.0.0", pt.File)), servedBytes(got, "/"+inRepo("3.0.0", r.Binary))
	if payloadBytes != 0 || patchBytes != pt.Size {
		return fmt.Errorf("the server sent %d bytes of the patch (signed %d) and %d of the payload, want the patch only", patchBytes, pt.Size, payloadBytes)
	}
	d.p.ok("downloaded %d bytes (the patch) instead of %d (the full payload): %.2f%%", patchBytes, r.CompressedSize, 100*float64(patchBytes)/float64(r.CompressedSize))
	return d.expectInstalled("3.0.0", "2.0.0")
}
