package repotool

import (
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

// forgedRoot is a root an attacker with write access to the storage can
// make: self-signed by their own root key, listing the publisher's root
// key beside it, and their own release and channel keys.
func forgedRoot(t *testing.T, version int64, publisherRoot crypto.Signer) (data []byte, attacker cast) {
	t.Helper()
	attacker = newCast(t)
	d := trust.NewRootDraft(
		trust.RoleKeys{Keys: pubs(publisherRoot, attacker.root), Threshold: 1},
		trust.RoleKeys{Keys: pubs(attacker.release), Threshold: 1},
		trust.RoleKeys{Keys: pubs(attacker.channel), Threshold: 1}, inAYear)
	d.Version = version
	s, err := keys.NewSigner(attacker.root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sign(s); err != nil {
		t.Fatal(err)
	}
	data, err = d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data, attacker
}

// The attack of issue 14: storage rewritten with a forged version-1 root
// that lists the publisher's root key; the publisher's next routine
// rotation must not sign it into the chain.
func TestRejectsRotatingForgedRoot(t *testing.T) {
	c := newCast(t)
	repo := t.TempDir()
	initRepo(t, repo, c)
	forged, attacker := forgedRoot(t, 1, c.root)
	for _, name := range []string{"1.root.json", "root.json"} {
		if err := os.WriteFile(filepath.Join(repo, name), forged, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	extra := newSigner(t, keys.Ed25519)
	_, err := Rotate(context.Background(), RotateConfig{Repo: repo, Pin: pinFor(repo), AddReleaseKeys: pubs(extra), Keys: []crypto.Signer{c.root}})
	attackerID, _ := keys.ID(attacker.release.Public())
	if !errors.Is(err, ErrPin) || !strings.Contains(err.Error(), "1.root.json in "+repo+" differs from the pinned root") ||
		!strings.Contains(err.Error(), "added release key "+attackerID) {
		t.Fatalf("err = %v, want ErrPin naming the attacker's release key", err)
	}
	for _, name := range []string{"2.root.json", "2.root.json.draft"} {
		if exists(filepath.Join(repo, name)) {
			t.Fatalf("%s was written", name)
		}
	}
}

// A forged successor, signed only by the attacker, does not follow from
// the pinned root, and a root.json ahead of the chain is refused too.
func TestRejectsForgedNextRoot(t *testing.T) {
	c := newCast(t)
	repo := t.TempDir()
	initRepo(t, repo, c)
	forged, _ := forgedRoot(t, 2, c.root)
	for _, tc := range []struct{ name, file, msg string }{
		{"N+1.root.json", "2.root.json", "2.root.json in " + repo + " does not follow from root version 1"},
		{"root.json ahead", "root.json", "root.json in " + repo + " is root version 2, but the roots reached from the pinned root version 1 end at version 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(repo, tc.file)
			before, _ := os.ReadFile(path)
			os.WriteFile(path, forged, 0o644)
			defer func() {
				if before == nil {
					os.Remove(path)
				} else {
					os.WriteFile(path, before, 0o644)
				}
			}()
			_, err := Rotate(context.Background(), RotateConfig{Repo: repo, Pin: pinFor(repo), Threshold: 1, Expires: inAYear.Add(1e9), Keys: []crypto.Signer{c.root}})
			if !errors.Is(err, ErrPin) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want ErrPin: %s", err, tc.msg)
			}
		})
	}
}

// Storage rolled back to before the pinned root: the pinned version is
// missing, which is refused rather than rotated from.
func TestRejectsRootRollbackInStorage(t *testing.T) {
	c := newCast(t)
	repo := t.TempDir()
	initRepo(t, repo, c)
	if _, err := Rotate(context.Background(), RotateConfig{Repo: repo, Pin: pinFor(repo), Expires: inAYear.Add(1e9), Keys: []crypto.Signer{c.root}}); err != nil {
		t.Fatal(err)
	}
	one, _ := os.ReadFile(filepath.Join(repo, "1.root.json"))
	os.Remove(filepath.Join(repo, "2.root.json"))
	os.WriteFile(filepath.Join(repo, "root.json"), one, 0o644)
	_, err := Promote(context.Background(), PromoteConfig{Repo: repo, Pin: pinFor(repo), Channel: "stable", Version: "1.0.0", Expires: inAWeek, Keys: []crypto.Signer{c.channel}})
	if !errors.Is(err, ErrPin) || !strings.Contains(err.Error(), "has no 2.root.json, the version of the pinned root") {
		t.Fatalf("err = %v, want ErrPin for the missing pinned version", err)
	}
}

// Whoever writes the pending draft decides what the next signer signs:
// SignRoot shows the change against the verified current root, and a dry
// run signs nothing.
func TestSignRootShowsWhatTheDraftChanges(t *testing.T) {
	c := newCast(t)
	repo := t.TempDir()
	initRepo(t, repo, c)
	ctx := context.Background()
	prev := readRoot(t, repo, "root.json")
	d := trust.NextRoot(prev)
	intruder := newSigner(t, keys.Ed25519)
	d.Targets.Keys = append(d.Targets.Keys, intruder.Public())
	data, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	draft := filepath.Join(repo, "2.root.json.draft")
	os.WriteFile(draft, data, 0o644)
	id, _ := keys.ID(intruder.Public())
	want := []string{"added release key " + id}

	res, err := SignRoot(ctx, SignRootConfig{Repo: repo, Pin: pinFor(repo), Keys: []crypto.Signer{c.root}, DryRun: true})
	if err != nil || !res.DryRun || !slices.Equal(res.Changes, want) || res.Missing.Previous.Signatures != 1 {
		t.Fatalf("dry run: %+v, %v; want changes %q", res, err, want)
	}
	if got, _ := os.ReadFile(draft); string(got) != string(data) || exists(filepath.Join(repo, "2.root.json")) {
		t.Fatal("a dry run signed or wrote")
	}
	res, err = SignRoot(ctx, SignRootConfig{Repo: repo, Pin: pinFor(repo), Keys: []crypto.Signer{c.root}})
	if err != nil || !res.Complete || !slices.Equal(res.Changes, want) {
		t.Fatalf("sign-root: %+v, %v; want complete with changes %q", res, err, want)
	}
	pinned, err := os.ReadFile(filepath.Join(pinFor(repo), "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := trust.NewRoot(pinned); err != nil || r.Version() != 2 {
		t.Fatalf("pin holds %v, %v; want root version 2", r, err)
	}
}

// The attack of issue 14, item 2: storage rolled back to an older, validly
// signed channel; numbering from it would write a version every
// up-to-date client refuses.
func TestRejectsChannelRollbackInStorage(t *testing.T) {
	c := newCast(t)
	repo := releaseRepo(t, "1.0.0", c.release)
	initRepo(t, repo, c)
	ctx := context.Background()
	cfg := PromoteConfig{Repo: repo, Pin: pinFor(repo), Channel: "stable", Version: "1.0.0", Expires: inAWeek, Keys: []crypto.Signer{c.channel}}
	if _, err := Promote(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repo, "channels", "stable.json")
	v1, _ := os.ReadFile(path)
	if _, err := Promote(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, v1, 0o644)
	_, err := Promote(ctx, cfg)
	if !errors.Is(err, ErrPin) || !strings.Contains(err.Error(), "is channel version 1, but version 2 was written from here") {
		t.Fatalf("err = %v, want ErrPin naming versions 1 and 2", err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(v1) {
		t.Fatal("the channel was rewritten")
	}
	// A channel removed from storage is numbered past the record.
	os.Remove(path)
	res, err := Promote(ctx, cfg)
	if err != nil || res.Channel.Seq() != 3 {
		t.Fatalf("after removal: %v, %v; want channel version 3", res, err)
	}
}
