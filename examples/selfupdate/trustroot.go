package main

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/repotool"
	"github.com/safeupdate/safeupdate/trust"
)

// What act 2's steps share: trust roots, channels and the app's TrustStore.

// expectRoles checks that root's root and channel keys are the demo's,
// and that release is its only release key.
func (d *demo) expectRoles(root *trust.Root, release *demoKey) error {
	for _, r := range []struct {
		role string
		keys *trust.Keys
		want *demoKey
	}{{"root", root.RootKeys(), d.rootKey}, {"release", root.Targets(), release}, {"channel", root.Timestamp(), d.channelKey}} {
		if ids := r.keys.IDs(); !slices.Equal(ids, []string{r.want.id}) || r.keys.Threshold() != 1 {
			return fmt.Errorf("root %d: %s keys %v, threshold %d; want %s, threshold 1", root.Version(), r.role, ids, r.keys.Threshold(), r.want.id)
		}
	}
	return nil
}

// promote points channel stable at version with the channel key, as
// repotool promote does, and checks that it was checked against root
// version rootVersion.
func (d *demo) promote(ctx context.Context, version string, rootVersion int64, expires time.Duration) (*repotool.PromoteResult, error) {
	res, err := repotool.Promote(ctx, repotool.PromoteConfig{
		Repo: d.repo, Pin: d.path(pinDir), Channel: channelName, Version: version,
		Expires: time.Now().Add(expires),
		Keys:    []crypto.Signer{d.channelKey.signer},
	})
	if err != nil {
		return nil, err
	}
	ch := res.Channel
	if res.Root != rootVersion || len(res.Skipped) != 0 || ch.Release() != version {
		return nil, fmt.Errorf("promote checked %s against root %d, skipped %v; want root %d, nothing skipped", ch.Release(), res.Root, res.Skipped, rootVersion)
	}
	d.p.say("wrote %s: version %d, release %s for %v, expires %s, signed by the channel key",
		d.rel(res.Path), ch.Seq(), ch.Release(), ch.Platforms(), ch.Expires().Format(time.RFC3339))
	return res, nil
}

// expectStoredRoot checks that the app's TrustStore holds root version.
func (d *demo) expectStoredRoot(version int64) error {
	path := filepath.Join(filepath.Dir(d.installed()), d.store, "root.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	r, err := trust.NewRoot(data)
	if err != nil {
		return fmt.Errorf("%s: %w", d.rel(path), err)
	}
	if r.Version() != version {
		return fmt.Errorf("%s holds root version %d, want %d", d.rel(path), r.Version(), version)
	}
	d.p.ok("the app keeps root version %d in %s", version, d.rel(path))
	return nil
}

// relPaths shortens the paths in s that are in the demo's directory.
func (d *demo) relPaths(s string) string {
	return strings.ReplaceAll(s, d.dir+string(filepath.Separator), "")
}

func readChannel(path string) (*channel.Channel, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return channel.Parse(data)
}

func signChannel(ch *channel.Channel, key *demoKey, path string) error {
	s, err := keys.NewSigner(key.signer)
	if err != nil {
		return err
	}
	if _, err := ch.Sign(s); err != nil {
		return err
	}
	data, err := ch.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
