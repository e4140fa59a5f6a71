package repotool

import (
	"context"
	"crypto"
	"debug/elf"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/channel"
)

func TestPromoteStagedRollout(t *testing.T) {
	c := newCast(t)
	repo := releaseRepo(t, "1.0.0", c.release)
	addRelease(t, repo, "1.1.0", elf.EM_X86_64, c.release)
	initRepo(t, repo, c)
	ctx := context.Background()
	promote := func(cfg PromoteConfig) (*PromoteResult, error) {
		cfg.Repo, cfg.Pin, cfg.Channel, cfg.Keys, cfg.Expires = repo, pinFor(repo), "stable", []crypto.Signer{c.channel}, inAWeek
		return Promote(ctx, cfg)
	}
	rollout := func() int64 { t.Helper(); return readChannel(t, repo, "stable").Rollout() }
	steps := []struct {
		cfg  PromoteConfig
		want int64
	}{
		{PromoteConfig{Version: "1.0.0"}, channel.Full},
		{PromoteConfig{Version: "1.1.0", Rollout: "1"}, 10_000},
		{PromoteConfig{Refresh: true}, 10_000}, // a refresh keeps it
		{PromoteConfig{Version: "1.1.0", Rollout: "0.5"}, 5000},
		{PromoteConfig{Version: "1.1.0", Rollout: "0"}, 0},
		{PromoteConfig{Version: "1.1.0", Rollout: "50"}, 500_000},
		{PromoteConfig{Version: "1.1.0", Rollout: "100"}, channel.Full},
	}
	for i, s := range steps {
		res, err := promote(s.cfg)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := rollout(); got != s.want || res.Channel.Rollout() != s.want {
			t.Fatalf("step %d: rollout %d, want %d", i, got, s.want)
		}
	}
	for name, cfg := range map[string]PromoteConfig{
		"refresh with a rollout": {Refresh: true, Rollout: "10"},
		"over 100":               {Version: "1.1.0", Rollout: "100.5"},
		"five decimals":          {Version: "1.1.0", Rollout: "1.00001"},
	} {
		if _, err := promote(cfg); err == nil || !strings.Contains(err.Error(), "rollout") {
			t.Errorf("%s: got %v, want an error about the rollout", name, err)
		}
	}

	if _, err := promote(PromoteConfig{Version: "1.1.0", Rollout: "20"}); err != nil {
		t.Fatal(err)
	}
	results, err := Verify(ctx, VerifyConfig{Repo: repo, Root: readRoot(t, repo, "1.root.json").Bytes(), Channels: []string{"stable"}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range results {
		if r.Kind == KindChannel {
			found = true
			if !r.OK || r.Rollout != "20" || r.Release != "1.1.0" {
				t.Errorf("verify: %+v, want OK, release 1.1.0 at rollout 20", r)
			}
		}
	}
	if !found {
		t.Error("verify reported no channel")
	}
}
