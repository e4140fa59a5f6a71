package main

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/repotool"
)

// stagedRollout is act 3 (issue 17): on act 2's repository, a fleet of
// machines still at 2.0.0 follows channel stable while the publisher
// offers 3.0.0 to 20% of them, then to everyone. The machines are
// in-process apply calls, each with its own copy of the app and its own
// TrustStore, so the act builds and runs nothing more.
var stagedRollout = act{
	title: "a staged rollout: 3.0.0 to 20% of a fleet of 30, then to everyone",
	steps: []step{
		{"A fleet of 30 machines runs app 2.0.0, each with its own TrustStore; roll 3.0.0 out on stable to 20%", startRollout},
		{"Every machine checks the channel: those in the 20% update, the others download nothing", fleetUpdates(200_000)},
		{"Raise the rollout to 100%: every machine updates", fullRollout},
	},
}

// fleetSize is how many machines act 3 runs.
const fleetSize = 30

// machine is one machine of the fleet.
type machine struct {
	target, store string
	version       string // what it runs
}

// fleet is act 3's machines, set by startRollout.
var fleet []*machine

func startRollout(ctx context.Context, d *demo) error {
	fleet = nil
	for i := range fleetSize {
		dir := d.path(fmt.Sprintf("fleet/m%02d", i+1))
		m := &machine{target: filepath.Join(dir, exe("app")), store: filepath.Join(dir, "app.trust"), version: "2.0.0"}
		if err := copyFile(m.target, d.builds["2.0.0"], 0o755); err != nil {
			return err
		}
		fleet = append(fleet, m)
	}
	d.p.say("fleet/m01 ... fleet/m%02d: app 2.0.0 and an empty TrustStore each", fleetSize)
	return d.promoteRollout(ctx, "20")
}

// promoteRollout points channel stable at 3.0.0 for rollout percent of
// clients.
func (d *demo) promoteRollout(ctx context.Context, rollout string) error {
	d.p.say("$ repotool promote --repo repo2 --channel stable --version 3.0.0 --rollout %s --key keys/channel.key", rollout)
	res, err := repotool.Promote(ctx, repotool.PromoteConfig{
		Repo: d.repo, Pin: d.path(pinDir), Channel: channelName, Version: "3.0.0", Rollout: rollout,
		Expires: time.Now().Add(168 * time.Hour),
		Keys:    []crypto.Signer{d.channelKey.signer},
	})
	if err != nil {
		return err
	}
	ch := res.Channel
	want, err := channel.ParseRollout(rollout)
	if err != nil {
		return err
	}
	if ch.Rollout() != want {
		return fmt.Errorf("promote wrote a rollout of %d ppm, want %d", ch.Rollout(), want)
	}
	d.p.say("wrote %s: version %d, release %s to %s%% of clients, signed by the channel key",
		d.rel(res.Path), ch.Seq(), ch.Release(), channel.FormatRollout(ch.Rollout()))
	return d.waitServed(ctx, res.Path)
}

// waitServed waits until the server serves the file at path as it is on
// disk: repotool serve keeps serving a file's previous, vetted bytes for
// up to a second after it changes, as a mirror lags behind its source.
func (d *demo) waitServed(ctx context.Context, path string) error {
	want, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(d.repo, path)
	if err != nil {
		return err
	}
	url := d.url + "/" + filepath.ToSlash(rel)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("waiting for the server to serve %s: %w", d.rel(path), err)
		}
		got, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err == nil && bytes.Equal(got, want) {
			d.serverLog.skip()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the server to serve %s: %w", d.rel(path), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fleetUpdates returns a step in which every machine at 2.0.0 applies
// channel stable, and checks that those the rollout of ppm includes (by
// the id each drew and keeps in its TrustStore) updated, and that the
// others got apply.ErrNotInRollout and asked for no release.
func fleetUpdates(ppm int64) func(context.Context, *demo) error {
	return func(ctx context.Context, d *demo) error {
		updated, left, err := d.runFleet(ctx)
		if err != nil {
			return err
		}
		for _, m := range updated {
			if in, err := machineIn(m, ppm); err != nil || !in {
				return fmt.Errorf("%s updated, but its rollout id is not in the rollout (%v)", d.rel(m.target), err)
			}
		}
		for _, m := range left {
			if in, err := machineIn(m, ppm); err != nil || in {
				return fmt.Errorf("%s did not update, but its rollout id is in the rollout (%v)", d.rel(m.target), err)
			}
		}
		d.p.ok("%d of %d machines updated to 3.0.0 (the %s%% rollout expects about %d); each decided from its own rollout id", len(updated), fleetSize, channel.FormatRollout(ppm), fleetSize*int(ppm)/channel.Full)
		return nil
	}
}

func fullRollout(ctx context.Context, d *demo) error {
	if err := d.promoteRollout(ctx, "100"); err != nil {
		return err
	}
	updated, left, err := d.runFleet(ctx)
	if err != nil {
		return err
	}
	if len(left) != 0 {
		return fmt.Errorf("%d machines did not update at 100%%", len(left))
	}
	for _, m := range fleet {
		if m.version != "3.0.0" {
			return fmt.Errorf("%s runs %s", d.rel(m.target), m.version)
		}
		if err := sameFile(m.target, d.builds["3.0.0"]); err != nil {
			return err
		}
	}
	d.p.ok("the other %d machines updated: all %d run 3.0.0, byte for byte the build", len(updated), fleetSize)
	return nil
}

// runFleet runs one update of every machine still at 2.0.0, one after the
// other, and returns those that updated and those the rollout left out.
func (d *demo) runFleet(ctx context.Context) (updated, left []*machine, err error) {
	var message string
	for _, m := range fleet {
		if m.version != "2.0.0" {
			continue
		}
		before := d.serverLog.count()
		err := apply.Apply(ctx,
			apply.SourceRepo(d.url),
			apply.Channel(channelName),
			apply.TrustRoot(d.root1),
			apply.TrustStore(m.store),
			apply.CurrentVersion(m.version),
			apply.TargetFile(m.target))
		asked := d.serverLog.since(before)
		switch {
		case err == nil:
			m.version = "3.0.0"
			updated = append(updated, m)
		case errors.Is(err, apply.ErrNotInRollout):
			if strings.Contains(asked, "3.0.0/") {
				return nil, nil, fmt.Errorf("%s is outside the rollout but asked for %s", d.rel(m.target), asked)
			}
			message = err.Error()
			left = append(left, m)
		default:
			return nil, nil, fmt.Errorf("%s: %w", d.rel(m.target), err)
		}
	}
	d.serverLog.skip()
	d.p.say("%d machines updated, %d were left out", len(updated), len(left))
	if message != "" {
		d.p.say("a machine left out was told: %s", message)
	}
	return updated, left, nil
}

// machineIn reports whether the rollout id m keeps in its TrustStore is in
// a rollout of 3.0.0 on stable at ppm.
func machineIn(m *machine, ppm int64) (bool, error) {
	data, err := os.ReadFile(filepath.Join(m.store, "rollout-id"))
	if err != nil {
		return false, err
	}
	return channel.InRollout(strings.TrimSpace(string(data)), channelName, "3.0.0", ppm), nil
}
