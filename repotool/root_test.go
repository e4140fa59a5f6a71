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
	"github.com/safeupdate/safeupdate/trust"
)

// cast is the keys of a small repository: one root, release and channel
// key each.
type cast struct {
	root, release, channel crypto.Signer
}

func newCast(t *testing.T) cast {
	t.Helper()
	return cast{newSigner(t, keys.Ed25519), newSigner(t, keys.ECDSAP256), newSigner(t, keys.Ed25519)}
}

var inAYear = time.Now().Add(365 * 24 * time.Hour)

// initRepo writes a complete root 1 for c into repo.
func initRepo(t *testing.T, repo string, c cast) *trust.Root {
	t.Helper()
	res, err := Init(context.Background(), InitConfig{
		Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root), ReleaseKeys: pubs(c.release), ChannelKeys: pubs(c.channel),
		Expires: inAYear, Keys: []crypto.Signer{c.root},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete {
		t.Fatalf("root 1 incomplete: %+v", res)
	}
	return readRoot(t, repo, "root.json")
}

// readRoot reads and verifies (self-signed) a root file of repo.
func readRoot(t *testing.T, repo, name string) *trust.Root {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := trust.NewRoot(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func id(t *testing.T, s crypto.Signer) string {
	t.Helper()
	i, err := keys.ID(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestInitWritesRoot(t *testing.T) {
	c := newCast(t)
	other := newSigner(t, keys.Ed25519)
	repo := filepath.Join(t.TempDir(), "repo")
	res, err := Init(context.Background(), InitConfig{
		Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root, other), ReleaseKeys: pubs(c.release), ChannelKeys: pubs(c.channel),
		Expires: inAYear, Keys: []crypto.Signer{c.root},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || res.Version != 1 || res.Path != filepath.Join(repo, "1.root.json") || !slices.Equal(res.Added, []string{id(t, c.root)}) {
		t.Errorf("result %+v", res)
	}
	one, _ := os.ReadFile(filepath.Join(repo, "1.root.json"))
	cur, _ := os.ReadFile(filepath.Join(repo, "root.json"))
	if !bytes.Equal(one, cur) {
		t.Error("root.json and 1.root.json differ")
	}
	r := readRoot(t, repo, "root.json")
	switch {
	case r.Version() != 1 || r.RootKeys().Threshold() != 1 || len(r.RootKeys().IDs()) != 2:
		t.Errorf("root: version %d, root keys %v", r.Version(), r.RootKeys().IDs())
	case !slices.Equal(r.Targets().IDs(), []string{id(t, c.release)}):
		t.Errorf("release keys %v", r.Targets().IDs())
	case !slices.Equal(r.Timestamp().IDs(), []string{id(t, c.channel)}):
		t.Errorf("channel keys %v", r.Timestamp().IDs())
	case !r.Expires().Equal(inAYear.UTC().Truncate(time.Second)):
		t.Errorf("expires %v, want %v", r.Expires(), inAYear)
	}
	if l := leftovers(t, repo); len(l) > 0 || exists(filepath.Join(repo, "1.root.json.draft")) {
		t.Errorf("left behind %v", l)
	}
}

func TestInitWithoutChannelKeys(t *testing.T) {
	c := newCast(t)
	other := newSigner(t, keys.Ed25519)
	repo := t.TempDir()
	_, err := Init(context.Background(), InitConfig{
		Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root), ReleaseKeys: pubs(c.release, other), Threshold: 2,
		Expires: inAYear, Keys: []crypto.Signer{c.root},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := readRoot(t, repo, "root.json")
	if !slices.Equal(r.Timestamp().IDs(), r.Targets().IDs()) || r.Timestamp().Threshold() != 2 {
		t.Errorf("channel keys %v (threshold %d), want the release keys", r.Timestamp().IDs(), r.Timestamp().Threshold())
	}
}

func TestInitRefusals(t *testing.T) {
	c := newCast(t)
	stranger := newSigner(t, keys.Ed25519)
	good := func(repo string) InitConfig {
		return InitConfig{Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root), ReleaseKeys: pubs(c.release),
			Expires: inAYear, Keys: []crypto.Signer{c.root}}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, repo string)
		edit  func(cfg *InitConfig)
		kind  error
		msg   string
	}{
		{name: "existing root", setup: func(t *testing.T, repo string) { initRepo(t, repo, c) }, kind: ErrExists, msg: "already has a trust root"},
		{name: "pending draft", setup: func(t *testing.T, repo string) {
			os.WriteFile(filepath.Join(repo, "1.root.json.draft"), []byte("{}"), 0o644)
		}, kind: ErrDraftPending, msg: "1.root.json.draft"},
		{name: "signer not a root key", edit: func(cfg *InitConfig) { cfg.Keys = []crypto.Signer{stranger} }, kind: ErrNotInRole, msg: "is not a root key"},
		{name: "threshold above keys", edit: func(cfg *InitConfig) { cfg.Threshold = 2 }, msg: "release threshold 2 with 1 release key (want 1 to 1)"},
		{name: "no release keys", edit: func(cfg *InitConfig) { cfg.ReleaseKeys = nil }, msg: "no release keys"},
		{name: "same key twice", edit: func(cfg *InitConfig) { cfg.RootKeys = pubs(c.root, c.root) }, msg: "is given twice"},
		{name: "expired", edit: func(cfg *InitConfig) { cfg.Expires = time.Now().Add(-time.Hour) }, msg: "is not in the future"},
		{name: "channel threshold alone", edit: func(cfg *InitConfig) { cfg.ChannelThreshold = 2 }, msg: "without channel keys"},
		{name: "no signer", edit: func(cfg *InitConfig) { cfg.Keys = nil }, msg: "no key to sign"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, repo)
			}
			before, _ := os.ReadFile(filepath.Join(repo, "root.json"))
			cfg := good(repo)
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			_, err := Init(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.msg) || (tt.kind != nil && !errors.Is(err, tt.kind)) {
				t.Fatalf("err = %v, want %q (%v)", err, tt.msg, tt.kind)
			}
			after, _ := os.ReadFile(filepath.Join(repo, "root.json"))
			if !bytes.Equal(before, after) || exists(filepath.Join(repo, "1.root.json.draft")) != (tt.name == "pending draft") {
				t.Error("Init wrote something before refusing")
			}
		})
	}
}

func TestInitPartialThenSignRoot(t *testing.T) {
	c := newCast(t)
	second := newSigner(t, keys.ECDSAP256)
	repo := t.TempDir()
	ctx := context.Background()
	res, err := Init(ctx, InitConfig{
		Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root, second), RootThreshold: 2, ReleaseKeys: pubs(c.release),
		Expires: inAYear, Keys: []crypto.Signer{c.root},
	})
	if err != nil {
		t.Fatal(err)
	}
	draft := filepath.Join(repo, "1.root.json.draft")
	if res.Complete || res.Path != draft || res.Missing.Next.Signatures != 1 || !slices.Equal(res.Missing.Next.Unsigned, []string{id(t, second)}) {
		t.Fatalf("result %+v, want a draft missing %s", res, id(t, second))
	}
	if exists(filepath.Join(repo, "root.json")) || exists(filepath.Join(repo, "1.root.json")) {
		t.Fatal("an incomplete root was published")
	}
	// Signing again with the same key changes nothing.
	before, _ := os.ReadFile(draft)
	res, err = SignRoot(ctx, SignRootConfig{Repo: repo, Pin: pinFor(repo), Keys: []crypto.Signer{c.root}})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(draft)
	if res.Complete || len(res.Added) != 0 || len(res.Already) != 1 || !bytes.Equal(before, after) {
		t.Fatalf("result %+v; draft changed: %v", res, !bytes.Equal(before, after))
	}
	res, err = SignRoot(ctx, SignRootConfig{Repo: repo, Pin: pinFor(repo), Keys: []crypto.Signer{second}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete || exists(draft) {
		t.Fatalf("result %+v, draft left: %v", res, exists(draft))
	}
	if r := readRoot(t, repo, "root.json"); r.RootKeys().Threshold() != 2 {
		t.Errorf("root threshold %d", r.RootKeys().Threshold())
	}
}

func TestSignRootRefusals(t *testing.T) {
	c := newCast(t)
	second, stranger := newSigner(t, keys.Ed25519), newSigner(t, keys.Ed25519)
	ctx := context.Background()
	draftRepo := func(t *testing.T) string {
		repo := t.TempDir()
		_, err := Init(ctx, InitConfig{Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root, second), RootThreshold: 2,
			ReleaseKeys: pubs(c.release), Expires: inAYear, Keys: []crypto.Signer{c.root}})
		if err != nil {
			t.Fatal(err)
		}
		return repo
	}
	t.Run("no draft", func(t *testing.T) {
		_, err := SignRoot(ctx, SignRootConfig{Repo: t.TempDir(), Pin: pinFor(t.TempDir()), Keys: []crypto.Signer{c.root}})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("two drafts", func(t *testing.T) {
		repo := draftRepo(t)
		data, _ := os.ReadFile(filepath.Join(repo, "1.root.json.draft"))
		os.WriteFile(filepath.Join(repo, "2.root.json.draft"), data, 0o644)
		_, err := SignRoot(ctx, SignRootConfig{Repo: repo, Pin: pinFor(repo), Keys: []crypto.Signer{second}})
		if err == nil || !strings.Contains(err.Error(), "2 root drafts") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("stranger", func(t *testing.T) {
		repo := draftRepo(t)
		before, _ := os.ReadFile(filepath.Join(repo, "1.root.json.draft"))
		_, err := SignRoot(ctx, SignRootConfig{Repo: repo, Pin: pinFor(repo), Keys: []crypto.Signer{stranger}})
		if !errors.Is(err, ErrNotInRole) {
			t.Errorf("err = %v, want ErrNotInRole", err)
		}
		after, _ := os.ReadFile(filepath.Join(repo, "1.root.json.draft"))
		if !bytes.Equal(before, after) {
			t.Error("the draft changed")
		}
	})
	t.Run("draft renamed", func(t *testing.T) {
		repo := draftRepo(t)
		os.Rename(filepath.Join(repo, "1.root.json.draft"), filepath.Join(repo, "7.root.json.draft"))
		_, err := SignRoot(ctx, SignRootConfig{Repo: repo, Pin: pinFor(repo), Keys: []crypto.Signer{second}})
		if err == nil || !strings.Contains(err.Error(), "7.root.json.draft holds root version 1") {
			t.Errorf("err = %v", err)
		}
	})
}
