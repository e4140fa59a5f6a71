package blobsource_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// TestApplyFromBucket publishes a signed release of a real Go program to
// each store and updates an installed older build of it from there.
func TestApplyFromBucket(t *testing.T) {
	t.Parallel()
	oldBin, newBin := buildApp(t, "1.0.0"), buildApp(t, "2.0.0")
	oldBytes, err := os.ReadFile(oldBin)
	if err != nil {
		t.Fatal(err)
	}
	newBytes, err := os.ReadFile(newBin)
	if err != nil {
		t.Fatal(err)
	}
	key, pub := releaseKey(t)
	forEachStore(t, func(t *testing.T, repoURL string) {
		publish(t, repoURL, newBin, "2.0.0", key)
		target := installed(t, oldBytes)
		err := apply.Apply(t.Context(),
			apply.WithSource(openSource(t, repoURL)),
			apply.Version("2.0.0"),
			apply.PublicKey(pub),
			apply.CurrentVersion("1.0.0"),
			apply.TargetFile(target),
		)
		if err != nil {
			t.Fatalf("Apply from %s: %v", repoURL, err)
		}
		got, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, newBytes) {
			t.Fatalf("installed binary (%d bytes) differs from the published one (%d bytes)", len(got), len(newBytes))
		}
		if out := runApp(t, target); out != "app 2.0.0" {
			t.Errorf("updated binary prints %q, want %q", out, "app 2.0.0")
		}
		if backup, err := os.ReadFile(target + ".backup"); err != nil || !bytes.Equal(backup, oldBytes) {
			t.Errorf("backup is not the previous binary (err %v)", err)
		}
	})
}

// TestRejectsTamperedPayloadFromBucket changes the payload in the bucket
// after it was signed: Apply must refuse it with ErrChecksum and leave the
// installed binary alone.
func TestRejectsTamperedPayloadFromBucket(t *testing.T) {
	t.Parallel()
	oldBytes, err := os.ReadFile(buildApp(t, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	key, pub := releaseKey(t)
	// Published once, uploaded afresh for every case.
	signed, rel := localRelease(t, buildApp(t, "2.0.0"), "2.0.0", key)
	other, otherRel := localRelease(t, buildApp(t, "6.6.6"), "6.6.6", key)
	otherPayload, err := os.ReadFile(filepath.Join(other, filepath.FromSlash(releaseDir(t, "6.6.6")), otherRel.Binary))
	if err != nil {
		t.Fatal(err)
	}
	// A payload longer than the signed compressed_size is endless data
	// (ErrTooLarge: one byte past the signed size is the most apply
	// reads); any other change is ErrChecksum.
	tamper := []struct {
		name string
		edit func(payload []byte) []byte
	}{
		{"FlippedByte", func(p []byte) []byte {
			p = bytes.Clone(p)
			p[len(p)/2] ^= 0x01
			return p
		}},
		{"Truncated", func(p []byte) []byte { return p[:len(p)-1] }},
		{"Extended", func(p []byte) []byte { return append(bytes.Clone(p), 0) }},
		// A well-formed bzip2 of another real build, signed by the same
		// key, but for another release.
		{"OtherValidPayload", func([]byte) []byte { return otherPayload }},
	}
	forEachStore(t, func(t *testing.T, repoURL string) {
		for _, tc := range tamper {
			t.Run(tc.name, func(t *testing.T) {
				repoURL := subRepo(t, repoURL, tc.name)
				upload(t, signed, repoURL)
				st := openStore(t, repoURL)
				payload := path.Join(releaseDir(t, "2.0.0"), rel.Binary)
				orig := get(t, st, payload)
				edited := tc.edit(orig)
				put(t, st, payload, edited)
				want := apply.ErrChecksum
				if len(edited) > len(orig) {
					want = apply.ErrTooLarge
				}

				target := installed(t, oldBytes)
				err := apply.Apply(t.Context(),
					apply.WithSource(openSource(t, repoURL)),
					apply.Version("2.0.0"),
					apply.PublicKey(pub),
					apply.CurrentVersion("1.0.0"),
					apply.TargetFile(target),
				)
				if !errors.Is(err, want) {
					t.Errorf("Apply of a tampered payload: %v; want %v", err, want)
				}
				checkUntouched(t, target, oldBytes)
			})
		}
	})
}

// TestRejectsTamperedReleaseFromBucket changes release.json in the bucket
// after it was signed: Apply must refuse it with ErrSignature before
// downloading the payload, and leave the installed binary alone.
func TestRejectsTamperedReleaseFromBucket(t *testing.T) {
	t.Parallel()
	oldBytes, err := os.ReadFile(buildApp(t, "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	key, pub := releaseKey(t)
	signed, _ := localRelease(t, buildApp(t, "2.0.0"), "2.0.0", key)
	attacker, err := keys.Generate(keys.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	tamper := []struct {
		name string
		edit func(t *testing.T, meta []byte) []byte
	}{
		{"ChangedHash", func(t *testing.T, meta []byte) []byte {
			return editJSON(t, meta, "hash", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
		}},
		{"ChangedSize", func(t *testing.T, meta []byte) []byte { return editJSON(t, meta, "size", 1) }},
		{"AddedMember", func(t *testing.T, meta []byte) []byte { return editJSON(t, meta, "note", "trust me") }},
		{"ResignedByUnpinnedKey", func(t *testing.T, meta []byte) []byte {
			r, err := release.Parse(meta)
			if err != nil {
				t.Fatal(err)
			}
			r.Hash = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
			r.Signatures = nil
			s, err := keys.NewSigner(attacker)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Sign(s); err != nil {
				t.Fatal(err)
			}
			out, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			return out
		}},
	}
	forEachStore(t, func(t *testing.T, repoURL string) {
		for _, tc := range tamper {
			t.Run(tc.name, func(t *testing.T) {
				repoURL := subRepo(t, repoURL, tc.name)
				upload(t, signed, repoURL)
				st := openStore(t, repoURL)
				meta := path.Join(releaseDir(t, "2.0.0"), release.FileName)
				put(t, st, meta, tc.edit(t, get(t, st, meta)))

				target := installed(t, oldBytes)
				err := apply.Apply(t.Context(),
					apply.WithSource(openSource(t, repoURL)),
					apply.Version("2.0.0"),
					apply.PublicKey(pub),
					apply.CurrentVersion("1.0.0"),
					apply.TargetFile(target),
				)
				if !errors.Is(err, apply.ErrSignature) {
					t.Errorf("Apply of a tampered release.json: %v; want apply.ErrSignature", err)
				}
				checkUntouched(t, target, oldBytes)
			})
		}
	})
}

// editJSON sets one member of a JSON object, keeping the rest (and the
// signatures) as they were.
func editJSON(t *testing.T, data []byte, member string, value any) []byte {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	obj[member] = value
	out, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
