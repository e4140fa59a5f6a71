package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/repotool"
	"github.com/safeupdate/safeupdate/trust"
)

// rotatedKeys is act 2 (issue 5): the app pins a TUF trust root instead of
// a key and follows a channel. The publisher rotates the release key; the
// binary built with the old root still updates, and a release signed with
// the revoked key is refused even when the channel points to it.
var rotatedKeys = act{
	title: "a trust root, a channel, a release key rotated, and the revoked key refused",
	steps: []step{
		{"Generate a root key, a channel key and release key B; write root 1 of a new repository", initRoot},
		{"Build app 1.0.0, 2.0.0 and 3.0.0, each with root 1 pinned instead of a key", buildRooted},
		{"Publish 2.0.0 signed by release key A, point channel stable at it, and serve the repository", publishStable},
		{"Install app 1.0.0 (root 1 pinned) and let it follow channel stable to 2.0.0", followStable},
		{"Rotate: root 2 adds release key B and revokes A; publish 3.0.0 signed by B; stable -> 3.0.0", rotateReleaseKey},
		{"App 2.0.0, built with root 1, walks to root 2 and updates to 3.0.0", followRotation},
		{"A thief with revoked key A and the channel key publishes 4.0.0 and points stable at it", revokedKeyRefused},
		{"The publisher stops re-signing: channel stable expires (the freeze attack)", expiredChannel},
	},
}

// channelName is the channel act 2 follows.
const channelName = "stable"

func initRoot(ctx context.Context, d *demo) error {
	for _, k := range []struct {
		name, role string
		key        **demoKey
	}{
		{"root", "signs roots; kept offline", &d.rootKey},
		{"channel", "signs channel files; may be online", &d.channelKey},
		{"release-b", "release key B, for after the rotation", &d.releaseB},
	} {
		var err error
		if *k.key, err = d.newKey(k.name); err != nil {
			return err
		}
		d.p.say("wrote %s and %s, key id %.16s... (%s)", d.rel((*k.key).pubPath), d.rel((*k.key).keyPath), (*k.key).id, k.role)
	}
	d.p.say("release key A is act 1's %s, key id %.16s...", d.rel(d.release.pubPath), d.release.id)

	// A new setting: new builds, repository and install directory.
	d.stage = &stage{buildDir: "builds2", builds: map[string]string{}, repo: d.path("repo2"), bin: "bin2", store: exe("app") + ".trust"}
	d.p.say("$ repotool init --repo repo2 --root-key keys/root.pub --release-key keys/release.pub \\")
	d.p.say("      --channel-key keys/channel.pub --expires 8760h --sign keys/root.key --pin keys/repo2.pin     (repotool.Init here)")
	res, err := repotool.Init(ctx, repotool.InitConfig{
		Repo:        d.repo,
		Pin:         d.path(pinDir),
		RootKeys:    []crypto.PublicKey{d.rootKey.signer.Public()},
		ReleaseKeys: []crypto.PublicKey{d.release.signer.Public()},
		ChannelKeys: []crypto.PublicKey{d.channelKey.signer.Public()},
		Expires:     time.Now().Add(8760 * time.Hour),
		Keys:        []crypto.Signer{d.rootKey.signer},
	})
	if err != nil {
		return err
	}
	if !res.Complete || res.Version != 1 {
		return fmt.Errorf("init wrote root version %d, complete %v; want a complete root 1", res.Version, res.Complete)
	}
	if d.root1, err = os.ReadFile(res.Path); err != nil {
		return err
	}
	root, err := trust.NewRoot(d.root1)
	if err != nil {
		return err
	}
	if err := d.expectRoles(root, d.release); err != nil {
		return err
	}
	d.p.say("wrote %s (and root.json): root key %.16s..., release key A, channel key %.16s..., expires %s",
		d.rel(res.Path), d.rootKey.id, d.channelKey.id, root.Expires().Format(time.DateOnly))
	d.p.ok("root 1 verifies against its own root key and names release key A for releases")
	return nil
}

func buildRooted(ctx context.Context, d *demo) error {
	d.p.say("root 1 (%d bytes of JSON) is pinned instead of release.pub", len(d.root1))
	return d.buildApp(ctx, pin{"trustRoot", d.root1}, "1.0.0", "2.0.0", "3.0.0")
}

func publishStable(ctx context.Context, d *demo) error {
	if err := d.publish(ctx, "2.0.0", d.builds["2.0.0"], d.release); err != nil {
		return err
	}
	if _, err := d.promote(ctx, "2.0.0", 1, 168*time.Hour); err != nil {
		return err
	}
	return d.serve(ctx)
}

func followStable(ctx context.Context, d *demo) error {
	if err := copyFile(d.installed(), d.builds["1.0.0"], 0o755); err != nil {
		return err
	}
	out, code, err := d.runApp(ctx, "-update", d.url, "-channel", channelName)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("the app exited with status %d", code)
	}
	if err := expectLines(out, "app 1.0.0",
		`level=INFO msg="apply: channel verified" channel=stable release=2.0.0 seq=1 `,
		"channel stable points to 2.0.0", "installed 2.0.0", "app 2.0.0"); err != nil {
		return err
	}
	d.p.ok("the app read channel stable, installed 2.0.0 and restarted as 2.0.0")
	if err := d.expectStoredRoot(1); err != nil {
		return err
	}
	return d.expectInstalled("2.0.0", "1.0.0")
}

// pinDir is the publisher's pin for repo2: the root it trusts and the
// channel versions it wrote, which rotate and promote check repo2 against.
const pinDir = "keys/repo2.pin"

func rotateReleaseKey(ctx context.Context, d *demo) error {
	d.p.say("$ repotool rotate --repo repo2 --add-release-key keys/release-b.pub \\")
	d.p.say("      --remove-release-key keys/release.pub --sign keys/root.key     (repotool.Rotate here)")
	res, err := repotool.Rotate(ctx, repotool.RotateConfig{
		Repo:              d.repo,
		Pin:               d.path(pinDir),
		AddReleaseKeys:    []crypto.PublicKey{d.releaseB.signer.Public()},
		RemoveReleaseKeys: []string{d.release.id},
		Keys:              []crypto.Signer{d.rootKey.signer},
	})
	if err != nil {
		return err
	}
	if !res.Complete || res.Version != 2 {
		return fmt.Errorf("rotate wrote root version %d, complete %v; want a complete root 2", res.Version, res.Complete)
	}
	for _, c := range res.Changes {
		d.p.say("%s", c)
	}
	data, err := os.ReadFile(res.Path)
	if err != nil {
		return err
	}
	root1, err := trust.NewRoot(d.root1)
	if err != nil {
		return err
	}
	root2, err := root1.Update(data)
	if err != nil {
		return fmt.Errorf("root 2 does not follow root 1: %w", err)
	}
	if err := d.expectRoles(root2, d.releaseB); err != nil {
		return err
	}
	d.p.say("wrote %s (and root.json), signed by the root key", d.rel(res.Path))
	d.p.ok("root 2 follows root 1 and names release key B alone for releases")
	if err := d.publish(ctx, "3.0.0", d.builds["3.0.0"], d.releaseB); err != nil {
		return err
	}
	_, err = d.promote(ctx, "3.0.0", 2, 168*time.Hour)
	return err
}

func followRotation(ctx context.Context, d *demo) error {
	out, code, err := d.runApp(ctx, "-update", d.url, "-channel", channelName)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("the app exited with status %d", code)
	}
	if err := expectLines(out, "app 2.0.0",
		`level=INFO msg="apply: trust root rotated" version=2 `,
		`level=INFO msg="apply: channel verified" channel=stable release=3.0.0 seq=2 `,
		`level=INFO msg="apply: release signature verified" version=3.0.0 keys=[`+d.releaseB.id+`]`,
		"channel stable points to 3.0.0", "installed 3.0.0", "app 3.0.0"); err != nil {
		return err
	}
	if !d.serverLog.requested("/2.root.json") {
		return errors.New("the app did not fetch 2.root.json")
	}
	d.p.ok("app 2.0.0 accepted 2.root.json (signed by root 1's root key and its own), then 3.0.0 signed by key B")
	if err := d.expectStoredRoot(2); err != nil {
		return err
	}
	return d.expectInstalled("3.0.0", "2.0.0")
}

func revokedKeyRefused(ctx context.Context, d *demo) error {
	// The thief's binary is never downloaded, let alone run.
	evil := d.path("thief/app")
	if err := os.MkdirAll(filepath.Dir(evil), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(evil, []byte("#!/bin/sh\necho 'app 4.0.0, by the thief'\n"), 0o755); err != nil {
		return err
	}
	if err := d.publish(ctx, "4.0.0", evil, d.release); err != nil {
		return err
	}
	d.p.say("(the thief's 4.0.0 is a shell script; no client will ever download it)")
	d.p.say("$ repotool promote --repo repo2 --channel stable --version 4.0.0 --key keys/channel.key")
	_, err := repotool.Promote(ctx, repotool.PromoteConfig{
		Repo: d.repo, Pin: d.path(pinDir), Channel: channelName, Version: "4.0.0",
		Expires: time.Now().Add(168 * time.Hour),
		Keys:    []crypto.Signer{d.channelKey.signer},
	})
	if !errors.Is(err, repotool.ErrNoRelease) {
		return fmt.Errorf("promote to a release signed by a revoked key: %v, want repotool.ErrNoRelease", err)
	}
	d.p.say("%s", d.relPaths(err.Error()))
	d.p.ok("promote checks the release against root 2 and refuses")

	// The thief signs the channel file with the channel key, as promote
	// would have.
	path := d.repoFile("channels/" + channelName + ".json")
	prev, err := readChannel(path)
	if err != nil {
		return err
	}
	ch, err := channel.New(channelName, "4.0.0", []string{runtime.GOOS + "/" + runtime.GOARCH}, prev.Seq()+1, time.Now().Add(168*time.Hour))
	if err != nil {
		return err
	}
	if err := signChannel(ch, d.channelKey, path); err != nil {
		return err
	}
	d.p.say("the thief wrote %s (version %d, release 4.0.0), signed with the channel key", d.rel(path), ch.Seq())

	out, err := d.expectRefused(ctx, "ErrSignature", "3.0.0", "2.0.0", "-update", d.url, "-channel", channelName)
	if err != nil {
		return err
	}
	if err := expectLines(out, fmt.Sprintf(`level=INFO msg="apply: channel verified" channel=stable release=4.0.0 seq=%d `, ch.Seq())); err != nil {
		return err
	}
	const want = "update failed: apply: signature not trusted: release: trust: signature threshold not met: 0 of 1 required trusted signatures verified"
	if !slices.Contains(strings.Split(out, "\n"), want) {
		return fmt.Errorf("the app's output has no line %q", want)
	}
	if d.serverLog.requested("/" + inRepo("4.0.0", "app.bz2")) {
		return errors.New("the app downloaded the payload of a release signed by a revoked key")
	}
	d.p.ok("the channel verified, but release 4.0.0 did not: key A is no release key of root 2; its payload was never requested")
	return nil
}

func expiredChannel(ctx context.Context, d *demo) error {
	d.p.say("$ repotool promote --repo repo2 --channel stable --version 3.0.0 --expires 1s --key keys/channel.key")
	res, err := d.promote(ctx, "3.0.0", 2, time.Second)
	if err != nil {
		return err
	}
	wait := time.Until(res.Channel.Expires()) + 10*time.Millisecond
	d.p.say("a mirror goes on serving it after it expires (waiting %.1fs for that)", max(wait, 0).Seconds())
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return ctx.Err()
	}
	out, err := d.expectRefused(ctx, "ErrExpired", "3.0.0", "2.0.0", "-update", d.url, "-channel", channelName)
	if err != nil {
		return err
	}
	want := fmt.Sprintf(`update failed: apply: trust metadata has expired: channels/stable.json: channel: channel has expired: "stable" expired at %s`,
		res.Channel.Expires().Format(time.RFC3339))
	if !slices.Contains(strings.Split(out, "\n"), want) {
		return fmt.Errorf("the app's output has no line %q", want)
	}
	return nil
}
