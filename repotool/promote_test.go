package repotool

import (
	"bytes"
	"context"
	"crypto"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

// addRelease adds version of "app" for the platform of machine to repo.
func addRelease(t *testing.T, repo, version string, machine elf.Machine, signers ...crypto.Signer) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "app")
	writeELF(t, bin, machine, 2000)
	if _, err := Add(context.Background(), AddConfig{Repo: repo, Binary: bin, Version: version, Keys: signers}); err != nil {
		t.Fatal(err)
	}
}

// readChannel reads channels/name.json of repo and verifies it against
// the repository's current root.
func readChannel(t *testing.T, repo, name string) *channel.Channel {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "channels", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := channel.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Verify(readRoot(t, repo, "root.json").Timestamp(), time.Now(), name, 0); err != nil {
		t.Fatal(err)
	}
	return ch
}

var inAWeek = time.Now().Add(7 * 24 * time.Hour)

func TestPromoteWritesChannel(t *testing.T) {
	c := newCast(t)
	repo := releaseRepo(t, "1.0.0", c.release)
	addRelease(t, repo, "1.0.0", elf.EM_AARCH64, c.release)
	addRelease(t, repo, "1.1.0", elf.EM_X86_64, c.release)
	initRepo(t, repo, c)
	ctx := context.Background()
	promote := func(cfg PromoteConfig) *PromoteResult {
		t.Helper()
		cfg.Repo, cfg.Pin, cfg.Channel, cfg.Keys = repo, pinFor(repo), "stable", []crypto.Signer{c.channel}
		res, err := Promote(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := promote(PromoteConfig{Version: "1.0.0", Expires: inAWeek})
	ch := readChannel(t, repo, "stable")
	if res.Previous != nil || res.Root != 1 || ch.Seq() != 1 || ch.Release() != "1.0.0" ||
		!slices.Equal(ch.Platforms(), []string{"linux/amd64", "linux/arm64"}) || len(res.Skipped) != 0 {
		t.Fatalf("result %+v, channel %d %s %v", res, ch.Seq(), ch.Release(), ch.Platforms())
	}
	res = promote(PromoteConfig{Version: "1.1.0", Expires: inAWeek})
	ch = readChannel(t, repo, "stable")
	if res.Previous.Seq() != 1 || ch.Seq() != 2 || ch.Release() != "1.1.0" || !slices.Equal(ch.Platforms(), []string{"linux/amd64"}) {
		t.Fatalf("second promote: channel %d %s %v", ch.Seq(), ch.Release(), ch.Platforms())
	}
	later := inAWeek.Add(time.Hour)
	promote(PromoteConfig{Refresh: true, Expires: later})
	ch = readChannel(t, repo, "stable")
	if ch.Seq() != 3 || ch.Release() != "1.1.0" || !ch.Expires().Equal(later.UTC().Truncate(time.Second)) {
		t.Fatalf("refresh: channel %d %s %v", ch.Seq(), ch.Release(), ch.Expires())
	}
	if l := leftovers(t, repo); len(l) > 0 {
		t.Errorf("left behind %v", l)
	}
}

func TestPromoteSkipsUnverifiedPlatform(t *testing.T) {
	c := newCast(t)
	mallory := newSigner(t, keys.Ed25519)
	repo := releaseRepo(t, "1.0.0", c.release)
	addRelease(t, repo, "1.0.0", elf.EM_AARCH64, mallory)
	initRepo(t, repo, c)
	res, err := Promote(context.Background(), PromoteConfig{Repo: repo, Pin: pinFor(repo), Channel: "beta", Version: "1.0.0", Expires: inAWeek, Keys: []crypto.Signer{c.channel}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Channel.Platforms(), []string{"linux/amd64"}) || len(res.Skipped) != 1 ||
		res.Skipped[0].Path != "1.0.0/linux/arm64" || !strings.Contains(res.Skipped[0].Error, "0 of 1 required") {
		t.Fatalf("platforms %v, skipped %+v", res.Channel.Platforms(), res.Skipped)
	}
}

func TestPromoteRefusals(t *testing.T) {
	c := newCast(t)
	other, mallory := newSigner(t, keys.Ed25519), newSigner(t, keys.Ed25519)
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, repo string) // after init and a promotion of 1.0.0
		cfg   PromoteConfig
		kind  error
		msg   string
	}{
		{name: "missing version", cfg: PromoteConfig{Version: "2.0.0"}, kind: ErrNoRelease, msg: "no release of version 2.0.0"},
		{name: "release by another key", setup: func(t *testing.T, repo string) {
			addRelease(t, repo, "2.0.0", elf.EM_X86_64, mallory)
		}, cfg: PromoteConfig{Version: "2.0.0"}, kind: ErrNoRelease, msg: "2.0.0/linux/amd64: release.json: signature not trusted: signature threshold not met"},
		{name: "release key signs", cfg: PromoteConfig{Version: "1.0.0", Keys: []crypto.Signer{c.release}}, kind: ErrNotInRole, msg: "is not a channel (timestamp) key of root version 1"},
		{name: "bad version", cfg: PromoteConfig{Version: "../1.0.0"}, msg: "invalid version"},
		{name: "bad name", cfg: PromoteConfig{Channel: "Stable", Version: "1.0.0"}, msg: "invalid channel name"},
		{name: "version and refresh", cfg: PromoteConfig{Version: "1.0.0", Refresh: true}, msg: "not both"},
		{name: "expired", cfg: PromoteConfig{Version: "1.0.0", Expires: time.Now().Add(-time.Second)}, msg: "not in the future"},
		{name: "refresh of nothing", cfg: PromoteConfig{Channel: "beta", Refresh: true}, kind: ErrNotFound, msg: `no channel "beta" to refresh`},
		{name: "refresh of tampered", setup: func(t *testing.T, repo string) {
			p := filepath.Join(repo, "channels/stable.json")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(data, []byte(`"version": 1`), []byte(`"version": 99`), 1), 0o644)
		}, cfg: PromoteConfig{Refresh: true}, kind: ErrPin, msg: "does not verify against the channel keys of root version 1"},
		{name: "refresh of revoked release", setup: func(t *testing.T, repo string) {
			_, err := Rotate(ctx, RotateConfig{Repo: repo, Pin: pinFor(repo), AddReleaseKeys: pubs(other), RemoveReleaseKeys: []string{id(t, c.release)}, Keys: []crypto.Signer{c.root}})
			if err != nil {
				t.Fatal(err)
			}
		}, cfg: PromoteConfig{Refresh: true}, msg: "release 1.0.0/linux/amd64 no longer verifies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := releaseRepo(t, "1.0.0", c.release)
			initRepo(t, repo, c)
			if _, err := Promote(ctx, PromoteConfig{Repo: repo, Pin: pinFor(repo), Channel: "stable", Version: "1.0.0", Expires: inAWeek, Keys: []crypto.Signer{c.channel}}); err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				tt.setup(t, repo)
			}
			p := filepath.Join(repo, "channels/stable.json")
			before, _ := os.ReadFile(p)
			cfg := tt.cfg
			cfg.Repo, cfg.Pin = repo, pinFor(repo)
			if cfg.Channel == "" {
				cfg.Channel = "stable"
			}
			if cfg.Keys == nil {
				cfg.Keys = []crypto.Signer{c.channel}
			}
			if cfg.Expires.IsZero() {
				cfg.Expires = inAWeek
			}
			_, err := Promote(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), tt.msg) || (tt.kind != nil && !errors.Is(err, tt.kind)) {
				t.Fatalf("err = %v, want %q", err, tt.msg)
			}
			after, _ := os.ReadFile(p)
			if !bytes.Equal(before, after) || exists(filepath.Join(repo, "channels/beta.json")) {
				t.Error("Promote wrote a channel before refusing")
			}
		})
	}
}

func TestRejectsChannelBelowThreshold(t *testing.T) {
	c := newCast(t)
	second := newSigner(t, keys.ECDSAP256)
	repo := releaseRepo(t, "1.0.0", c.release)
	_, err := Init(context.Background(), InitConfig{Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root), ReleaseKeys: pubs(c.release),
		ChannelKeys: pubs(c.channel, second), ChannelThreshold: 2, Expires: inAYear, Keys: []crypto.Signer{c.root}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := PromoteConfig{Repo: repo, Pin: pinFor(repo), Channel: "stable", Version: "1.0.0", Expires: inAWeek, Keys: []crypto.Signer{c.channel}}
	_, err = Promote(context.Background(), cfg)
	if !errors.Is(err, trust.ErrThreshold) || !strings.Contains(err.Error(), "refusing to write a channel clients would refuse: signature not trusted: signature threshold not met: 1 of 2") {
		t.Fatalf("err = %v, want trust.ErrThreshold", err)
	}
	if exists(filepath.Join(repo, "channels/stable.json")) {
		t.Fatal("a channel below the threshold was written")
	}
	cfg.Keys = append(cfg.Keys, second)
	if _, err := Promote(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	readChannel(t, repo, "stable")
}

func TestPromoteRefusesExpiredRoot(t *testing.T) {
	c := newCast(t)
	repo := releaseRepo(t, "1.0.0", c.release)
	one := func(s crypto.Signer) trust.RoleKeys { return trust.RoleKeys{Keys: pubs(s), Threshold: 1} }
	d := trust.NewRootDraft(one(c.root), one(c.release), one(c.channel), time.Now().Add(-time.Hour))
	s, _ := keys.NewSigner(c.root)
	d.Sign(s)
	data, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(repo, "root.json"), data, 0o644)
	os.WriteFile(filepath.Join(repo, "1.root.json"), data, 0o644)
	pinRoot(t, repo, data)
	_, err = Promote(context.Background(), PromoteConfig{Repo: repo, Pin: pinFor(repo), Channel: "stable", Version: "1.0.0", Expires: inAWeek, Keys: []crypto.Signer{c.channel}})
	if !errors.Is(err, trust.ErrExpired) {
		t.Fatalf("err = %v, want trust.ErrExpired", err)
	}
	if _, err := Promote(context.Background(), PromoteConfig{Repo: t.TempDir(), Pin: pinFor(t.TempDir()), Channel: "stable", Version: "1.0.0", Expires: inAWeek, Keys: []crypto.Signer{c.channel}}); !errors.Is(err, ErrNoRoot) {
		t.Fatalf("err = %v, want ErrNoRoot", err)
	}
}
