package apply_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/trust"
)

func TestApplyWithRootRotationAccepted(t *testing.T) {
	f := newRootFixture(t)
	rootKey2, k2, k3 := newKey(t), newKey(t), newKey(t)
	// Root 2 hands rotations to a new root key (both sign) and releases to
	// k2; root 3, signed by the new root key alone, moves releases to k3.
	r2 := f.rotate(t, f.root1, func(d *trust.RootDraft) {
		d.Root, d.Targets = role(1, rootKey2), role(1, k2)
	}, f.rootKey, rootKey2)
	r3 := f.rotate(t, r2, func(d *trust.RootDraft) { d.Targets = role(1, k3) }, rootKey2)
	f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, k3)

	if err := apply.Apply(t.Context(), f.rootOpts(apply.CurrentVersion("1.0.0"))...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
	wantFile(t, filepath.Join(f.store, "root.json"), r3)
	for _, p := range []string{"/2.root.json", "/3.root.json", "/4.root.json"} {
		if n := f.repo.count(p); n != 1 {
			t.Errorf("%s requested %d times, want 1", p, n)
		}
	}
	if n := f.repo.count("/1.root.json"); n != 0 {
		t.Errorf("the pinned root was fetched %d times", n)
	}
	if fi, err := os.Stat(f.store); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("store directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if got := listDir(t, f.store); len(got) != 1 || got["root.json"][:10] != "-rw-r--r--" {
		t.Errorf("store holds %v, want only root.json with mode 0644", sortedKeys(got))
	}

	// The next call starts from root 3 and asks only for root 4.
	if _, err := apply.Check(t.Context(), f.rootOpts()...); err != nil {
		t.Fatal(err)
	}
	if n := f.repo.count("/2.root.json"); n != 1 {
		t.Errorf("root 2 fetched again (%d requests) though root 3 was kept", n)
	}
}

func TestRejectsRotationSignedOnlyByNewKeys(t *testing.T) {
	testRejectsRotationSignedBy(t, false, true)
}

func TestRejectsRotationSignedOnlyByOldKeys(t *testing.T) {
	testRejectsRotationSignedBy(t, true, false)
}

// testRejectsRotationSignedBy publishes a root 2 that replaces the root
// key and the release key, signed by the old and/or new root key, and a
// release signed by the new release key.
func testRejectsRotationSignedBy(t *testing.T, oldKey, newKey2 bool) {
	f := newRootFixture(t)
	rootKey2, k2 := newKey(t), newKey(t)
	var signers []testKey
	if oldKey {
		signers = append(signers, f.rootKey)
	}
	if newKey2 {
		signers = append(signers, rootKey2)
	}
	f.rotate(t, f.root1, func(d *trust.RootDraft) {
		d.Root, d.Targets = role(1, rootKey2), role(1, k2)
	}, signers...)
	f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, k2)

	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.rootOpts()...)
	wantRefused(t, f.fixture, before, err, apply.ErrSignature)
	if !errors.Is(err, trust.ErrThreshold) {
		t.Errorf("got %v, want it to wrap trust.ErrThreshold", err)
	}
	f.wantNoRelease(t)
	if v := f.storedRoot(t); v != 1 {
		t.Errorf("store holds root %d, want 1", v)
	}
}

func TestRejectsRootVersionRollback(t *testing.T) {
	// chain publishes roots 1 to 3: root 2 moves rotations to rootKey2,
	// releases go k1 (the fixture's key), k2, k3. The client has kept
	// root 3; 2.0.0 is signed with k3.
	type chain struct {
		f            *rootFixture
		rootKey2, k3 testKey
		r2, r3       []byte
	}
	build := func(t *testing.T) *chain {
		f := newRootFixture(t)
		c := &chain{f: f, rootKey2: newKey(t), k3: newKey(t)}
		k2 := newKey(t)
		c.r2 = f.rotate(t, f.root1, func(d *trust.RootDraft) {
			d.Root, d.Targets = role(1, c.rootKey2), role(1, k2)
		}, f.rootKey, c.rootKey2)
		c.r3 = f.rotate(t, c.r2, func(d *trust.RootDraft) { d.Targets = role(1, c.k3) }, c.rootKey2)
		f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, c.k3)
		f.storeRoot(t, c.r3)
		return c
	}

	t.Run("stored root wins over the older pinned one", func(t *testing.T) {
		c := build(t)
		f := c.f
		// Whoever holds the retired root key rewrites history from root 2
		// on, handing releases to their own key.
		evil := newKey(t)
		f.rotate(t, f.root1, func(d *trust.RootDraft) { d.Targets = role(1, evil) }, f.rootKey)
		if err := os.Remove(filepath.Join(f.repo.dir, "3.root.json")); err != nil {
			t.Fatal(err)
		}
		f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, evil)

		before := listDir(t, f.dir)
		err := apply.Apply(t.Context(), f.rootOpts()...)
		wantRefused(t, f.fixture, before, err, apply.ErrSignature)
		if n := f.repo.count("/2.root.json") + f.repo.count("/3.root.json"); n != 0 {
			t.Errorf("roots older than the stored one were fetched (%d requests)", n)
		}
		if v := f.storedRoot(t); v != 3 {
			t.Errorf("store holds root %d, want 3", v)
		}
		// The attack is real: a client that kept nothing accepts it.
		_, err = apply.Check(t.Context(), f.rootOpts(apply.TrustStore(t.TempDir()))...)
		if err != nil {
			t.Errorf("a client without the stored root should fall for the forged root 2: %v", err)
		}
	})

	tests := []struct {
		name string
		next func(t *testing.T, c *chain) []byte // served as 4.root.json
	}{
		{"older root served as the next one", func(t *testing.T, c *chain) []byte { return c.r2 }},
		{"stored root served again", func(t *testing.T, c *chain) []byte { return c.r3 }},
		{"another root 3 served as the next one", func(t *testing.T, c *chain) []byte {
			return signRoot(t, nextDraft(t, c.r2, func(d *trust.RootDraft) { d.Targets = role(1, newKey(t)) }), c.rootKey2)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := build(t)
			f := c.f
			f.repo.writeFile(t, "4.root.json", tt.next(t, c))
			before := listDir(t, f.dir)
			err := apply.Apply(t.Context(), f.rootOpts()...)
			wantRefused(t, f.fixture, before, err, apply.ErrSignature)
			if !errors.Is(err, trust.ErrRootVersion) {
				t.Errorf("got %v, want it to wrap trust.ErrRootVersion", err)
			}
			f.wantNoRelease(t)
			wantFile(t, filepath.Join(f.store, "root.json"), c.r3)
		})
	}

	t.Run("newer pinned root replaces the stored one", func(t *testing.T) {
		c := build(t)
		f := c.f
		f.storeRoot(t, f.root1)
		f.root1 = c.r3 // a program shipped with root 3
		if _, err := apply.Check(t.Context(), f.rootOpts()...); err != nil {
			t.Fatal(err)
		}
		if n := f.repo.count("/2.root.json") + f.repo.count("/3.root.json"); n != 0 {
			t.Errorf("roots older than the pinned one were fetched (%d requests)", n)
		}
		wantFile(t, filepath.Join(f.store, "root.json"), c.r3)
	})
}

func TestRejectsTooManyRotations(t *testing.T) {
	f := newRootFixture(t)
	prev := f.root1
	for range limits.Rotations + 1 {
		prev = f.rotate(t, prev, nil, f.rootKey)
	}
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.rootOpts()...)
	wantRefused(t, f.fixture, before, err, apply.ErrTooLarge)
	if n := f.repo.count(".root.json"); n > limits.Rotations+1 {
		t.Errorf("%d root requests, want at most %d", n, limits.Rotations+1)
	}
	f.wantNoRelease(t)
	// What was verified is kept, so the next update goes on from there.
	if v := f.storedRoot(t); v != limits.Rotations+1 {
		t.Errorf("store holds root %d, want %d", v, limits.Rotations+1)
	}
	if err := apply.Apply(t.Context(), f.rootOpts()...); err != nil {
		t.Fatalf("second update: %v", err)
	}
	wantFile(t, f.target, f.bin)
	if v := f.storedRoot(t); v != limits.Rotations+2 {
		t.Errorf("store holds root %d, want %d", v, limits.Rotations+2)
	}
}

func TestRejectsRevokedReleaseKeyAfterRotation(t *testing.T) {
	tests := []struct {
		name    string
		signers func(f *rootFixture, k2 testKey) []testKey
		want    error
	}{
		{"signed by the revoked key", func(f *rootFixture, k2 testKey) []testKey { return []testKey{f.key} }, apply.ErrSignature},
		{"signed by the new key", func(f *rootFixture, k2 testKey) []testKey { return []testKey{k2} }, nil},
		{"signed by both", func(f *rootFixture, k2 testKey) []testKey { return []testKey{f.key, k2} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRootFixture(t)
			k2 := newKey(t)
			f.rotate(t, f.root1, func(d *trust.RootDraft) { d.Targets = role(1, k2) }, f.rootKey)
			f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, tt.signers(f, k2)...)
			before := listDir(t, f.dir)
			err := apply.Apply(t.Context(), f.rootOpts()...)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				wantFile(t, f.target, f.bin)
				return
			}
			wantRefused(t, f.fixture, before, err, tt.want)
			if n := f.repo.count("app.bz2"); n != 0 {
				t.Errorf("payload requested %d times", n)
			}
		})
	}
}

func TestRootThresholdTwoOfThree(t *testing.T) {
	t.Run("release", func(t *testing.T) {
		tests := []struct {
			name string
			sign func(t *testing.T, f *rootFixture, a, b, c testKey) // publishes 2.0.0
			want error
		}{
			{"two of three", func(t *testing.T, f *rootFixture, a, b, c testKey) {
				f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, a, c)
			}, nil},
			{"three of three", func(t *testing.T, f *rootFixture, a, b, c testKey) {
				f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, a, b, c)
			}, nil},
			{"one of three", func(t *testing.T, f *rootFixture, a, b, c testKey) {
				f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, b)
			}, apply.ErrSignature},
			{"one of three and an outsider", func(t *testing.T, f *rootFixture, a, b, c testKey) {
				f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, b, newKey(t))
			}, apply.ErrSignature},
			{"one of three twice", func(t *testing.T, f *rootFixture, a, b, c testKey) {
				rel := f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, b)
				rel.Signatures = append(rel.Signatures, rel.Signatures...)
				f.repo.writeFile(t, "2.0.0/linux/amd64/release.json", rawJSON(t, rel))
			}, apply.ErrSignature},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := newRootFixture(t)
				a, b, c := newKey(t), newKey(t), newKey(t)
				d := trust.NewRootDraft(role(1, f.rootKey), role(2, a, b, c), role(1, f.tsKey), inAYear())
				f.root1 = f.writeRoot(t, d, f.rootKey)
				tt.sign(t, f, a, b, c)
				before := listDir(t, f.dir)
				err := apply.Apply(t.Context(), f.rootOpts()...)
				if tt.want == nil {
					if err != nil {
						t.Fatal(err)
					}
					wantFile(t, f.target, f.bin)
					return
				}
				wantRefused(t, f.fixture, before, err, tt.want)
				if n := f.repo.count("app.bz2"); n != 0 {
					t.Errorf("payload requested %d times", n)
				}
			})
		}
	})
	t.Run("rotation", func(t *testing.T) {
		tests := []struct {
			name    string
			signers func(a, b, c testKey) []testKey
			want    error
		}{
			{"two of three", func(a, b, c testKey) []testKey { return []testKey{b, c} }, nil},
			{"one of three", func(a, b, c testKey) []testKey { return []testKey{a} }, apply.ErrSignature},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := newRootFixture(t)
				a, b, c := newKey(t), newKey(t), newKey(t)
				d := trust.NewRootDraft(role(2, a, b, c), role(1, f.key), role(1, f.tsKey), inAYear())
				f.root1 = f.writeRoot(t, d, a, b)
				k2 := newKey(t)
				f.rotate(t, f.root1, func(d *trust.RootDraft) { d.Targets = role(1, k2) }, tt.signers(a, b, c)...)
				f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, k2)
				before := listDir(t, f.dir)
				err := apply.Apply(t.Context(), f.rootOpts()...)
				if tt.want == nil {
					if err != nil {
						t.Fatal(err)
					}
					if v := f.storedRoot(t); v != 2 {
						t.Errorf("store holds root %d, want 2", v)
					}
					return
				}
				wantRefused(t, f.fixture, before, err, tt.want)
				f.wantNoRelease(t)
			})
		}
	})
}
