package repotool

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/keys"
)

// update checks that root file name of repo is accepted as the successor
// of root file prevName, as a client would check it.
func update(t *testing.T, repo, prevName, name string) {
	t.Helper()
	prev := readRoot(t, repo, prevName)
	data, err := os.ReadFile(filepath.Join(repo, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prev.Update(data); err != nil {
		t.Fatalf("%s after %s: %v", name, prevName, err)
	}
}

func TestRotateReplacesReleaseKey(t *testing.T) {
	c := newCast(t)
	repo := t.TempDir()
	initRepo(t, repo, c)
	newRelease := newSigner(t, keys.Ed25519)
	res, err := Rotate(context.Background(), RotateConfig{
		Repo: repo, Pin: pinFor(repo), AddReleaseKeys: pubs(newRelease), RemoveReleaseKeys: []string{id(t, c.release)[:8]},
		Keys: []crypto.Signer{c.root},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || res.Version != 2 || res.Path != filepath.Join(repo, "2.root.json") {
		t.Fatalf("result %+v", res)
	}
	want := []string{"removed release key " + id(t, c.release), "added release key " + id(t, newRelease)}
	if !slices.Equal(res.Changes, want) {
		t.Errorf("changes %q, want %q", res.Changes, want)
	}
	update(t, repo, "1.root.json", "2.root.json")
	two, _ := os.ReadFile(filepath.Join(repo, "2.root.json"))
	cur, _ := os.ReadFile(filepath.Join(repo, "root.json"))
	if !bytes.Equal(two, cur) {
		t.Error("root.json is not 2.root.json")
	}
	r := readRoot(t, repo, "root.json")
	if !slices.Equal(r.Targets().IDs(), []string{id(t, newRelease)}) || !slices.Equal(r.Timestamp().IDs(), []string{id(t, c.channel)}) {
		t.Errorf("release keys %v, channel keys %v", r.Targets().IDs(), r.Timestamp().IDs())
	}
	// The expiry was kept: nothing asked to change it.
	if !r.Expires().Equal(readRoot(t, repo, "1.root.json").Expires()) {
		t.Errorf("expiry changed to %v", r.Expires())
	}
}

// A new root key must sign as well as the old one: Rotate with only the
// old key leaves a draft that SignRoot completes with the new key.
func TestRotateRootKeyNeedsOldAndNew(t *testing.T) {
	c := newCast(t)
	repo := t.TempDir()
	initRepo(t, repo, c)
	ctx := context.Background()
	newRoot := newSigner(t, keys.ECDSAP256)
	cfg := RotateConfig{Repo: repo, Pin: pinFor(repo), AddRootKeys: pubs(newRoot), RemoveRootKeys: []string{id(t, c.root)}, Keys: []crypto.Signer{c.root}}
	res, err := Rotate(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Complete || res.Missing.Previous.Signatures != 0 || res.Missing.Next.Signatures != 1 ||
		!slices.Equal(res.Missing.Next.Unsigned, []string{id(t, newRoot)}) {
		t.Fatalf("result %+v, want a draft missing the new root key", res)
	}
	if exists(filepath.Join(repo, "2.root.json")) || readRoot(t, repo, "root.json").Version() != 1 {
		t.Fatal("an incomplete root was published")
	}
	// A second rotation waits for the first.
	if _, err := Rotate(ctx, cfg); !errors.Is(err, ErrDraftPending) {
		t.Fatalf("err = %v, want ErrDraftPending", err)
	}
	res, err = SignRoot(ctx, SignRootConfig{Repo: repo, Pin: pinFor(repo), Keys: []crypto.Signer{newRoot}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || exists(filepath.Join(repo, "2.root.json.draft")) {
		t.Fatalf("result %+v", res)
	}
	update(t, repo, "1.root.json", "2.root.json")

	// Signed by the new root keys only, root 3 still needs the old ones.
	newer := newSigner(t, keys.Ed25519)
	res, err = Rotate(ctx, RotateConfig{Repo: repo, Pin: pinFor(repo), AddRootKeys: pubs(newer), RootThreshold: 2, Keys: []crypto.Signer{newer}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Complete || res.Missing.Previous.Signatures != 1 || !slices.Equal(res.Missing.Previous.Unsigned, []string{id(t, newRoot)}) ||
		res.Missing.Next.Signatures != 1 {
		t.Fatalf("result %+v, want one more from each root", res)
	}
	if res, err = SignRoot(ctx, SignRootConfig{Repo: repo, Pin: pinFor(repo), Keys: []crypto.Signer{newRoot}}); err != nil || !res.Complete {
		t.Fatalf("result %+v, err %v", res, err)
	}
	update(t, repo, "2.root.json", "3.root.json")
}

func TestRotateRefusals(t *testing.T) {
	c := newCast(t)
	extra, stranger := newSigner(t, keys.Ed25519), newSigner(t, keys.Ed25519)
	tests := []struct {
		name string
		cfg  RotateConfig
		kind error
		msg  string
	}{
		{"unknown id", RotateConfig{RemoveReleaseKeys: []string{"0123456789abcdef"}}, nil, "no release key 0123456789abcdef in the current root"},
		{"not an id", RotateConfig{RemoveReleaseKeys: []string{"abc"}}, nil, `"abc" is not a key id`},
		{"empty role", RotateConfig{RemoveChannelKeys: []string{id(t, c.channel)}}, nil, "no channel keys would be left"},
		{"threshold above keys", RotateConfig{AddReleaseKeys: pubs(extra), Threshold: 3}, nil, "release threshold 3 with 2 release keys"},
		{"key already there", RotateConfig{AddReleaseKeys: pubs(c.release)}, nil, "is already a release key"},
		{"added and removed", RotateConfig{AddRootKeys: pubs(c.root), RemoveRootKeys: []string{id(t, c.root)}}, nil, "both added and removed"},
		{"nothing", RotateConfig{}, nil, "nothing to change"},
		{"same threshold", RotateConfig{Threshold: 1}, nil, "nothing to change"},
		{"expired", RotateConfig{Expires: time.Now().Add(-time.Minute), AddReleaseKeys: pubs(extra)}, nil, "not in the future"},
		{"stranger signs", RotateConfig{AddReleaseKeys: pubs(extra), Keys: []crypto.Signer{stranger}}, ErrNotInRole, "is not a root key of version 1 or 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := t.TempDir()
			initRepo(t, repo, c)
			cfg := tt.cfg
			cfg.Repo, cfg.Pin = repo, pinFor(repo)
			if cfg.Keys == nil {
				cfg.Keys = []crypto.Signer{c.root}
			}
			_, err := Rotate(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.msg) || (tt.kind != nil && !errors.Is(err, tt.kind)) {
				t.Fatalf("err = %v, want %q", err, tt.msg)
			}
			if exists(filepath.Join(repo, "2.root.json")) || exists(filepath.Join(repo, "2.root.json.draft")) {
				t.Error("Rotate wrote something before refusing")
			}
		})
	}
	t.Run("threshold left too high", func(t *testing.T) {
		repo := t.TempDir()
		_, err := Init(context.Background(), InitConfig{Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root), ReleaseKeys: pubs(c.release, extra),
			Threshold: 2, Expires: inAYear, Keys: []crypto.Signer{c.root}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Rotate(context.Background(), RotateConfig{Repo: repo, Pin: pinFor(repo), RemoveReleaseKeys: []string{id(t, extra)}, Keys: []crypto.Signer{c.root}})
		if err == nil || !strings.Contains(err.Error(), "release threshold 2 with 1 release key (want 1 to 1); give a new release threshold") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no root", func(t *testing.T) {
		_, err := Rotate(context.Background(), RotateConfig{Repo: t.TempDir(), Pin: pinFor(t.TempDir()), Threshold: 1, Keys: []crypto.Signer{c.root}})
		if !errors.Is(err, ErrNoRoot) {
			t.Fatalf("err = %v, want ErrNoRoot", err)
		}
	})
}

// An interrupted rotation may leave root.json one version behind the
// newest N.root.json; the next rotation follows the chain, not root.json.
func TestSurvivesStaleRootJSON(t *testing.T) {
	c := newCast(t)
	repo := t.TempDir()
	initRepo(t, repo, c)
	ctx := context.Background()
	if _, err := Rotate(ctx, RotateConfig{Repo: repo, Pin: pinFor(repo), Expires: inAYear.Add(time.Hour), Keys: []crypto.Signer{c.root}}); err != nil {
		t.Fatal(err)
	}
	one, _ := os.ReadFile(filepath.Join(repo, "1.root.json"))
	os.WriteFile(filepath.Join(repo, "root.json"), one, 0o644)
	res, err := Rotate(ctx, RotateConfig{Repo: repo, Pin: pinFor(repo), Expires: inAYear.Add(2 * time.Hour), Keys: []crypto.Signer{c.root}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 3 || !res.Complete {
		t.Fatalf("result %+v, want root 3", res)
	}
	update(t, repo, "2.root.json", "root.json")
}
