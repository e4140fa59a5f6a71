package repotool

import (
	"bytes"
	"crypto"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// thresholdRepo is a repository whose root needs two release keys, alice
// and bob, for each release; release 1.0.0/linux/amd64 is signed by alice
// only, waiting for bob. The publisher's pin is pinFor(repo).
type thresholdRepo struct {
	repo, bin        string
	alice, bob, root crypto.Signer
}

func newThresholdRepo(t *testing.T) thresholdRepo {
	t.Helper()
	tr := thresholdRepo{alice: newSigner(t, keys.Ed25519), bob: newSigner(t, keys.ECDSAP256), root: newSigner(t, keys.Ed25519)}
	tr.repo = releaseRepo(t, "1.0.0", tr.alice)
	tr.bin = binaryOf(tr.repo)
	if _, err := Init(t.Context(), InitConfig{Repo: tr.repo, Pin: pinFor(tr.repo), RootKeys: pubs(tr.root),
		ReleaseKeys: pubs(tr.alice, tr.bob), Threshold: 2, Expires: inAYear, Keys: []crypto.Signer{tr.root}}); err != nil {
		t.Fatal(err)
	}
	return tr
}

// swapRelease replaces release 1.0.0/linux/amd64 of repo and its payload,
// as someone who can write to the storage would, by a release of their own
// binary, hashes consistent, signed by signers; edit, when not nil,
// changes its release.json first. It returns the attacker's binary.
func swapRelease(t *testing.T, repo string, edit func(*release.Release), signers ...crypto.Signer) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	writeELF(t, bin, elf.EM_X86_64, 20001)
	evil := filepath.Join(dir, "repo")
	if _, err := Add(t.Context(), AddConfig{Repo: evil, Binary: bin, Version: "1.0.0", Keys: signers}); err != nil {
		t.Fatal(err)
	}
	const rel = "1.0.0/linux/amd64/"
	data, err := os.ReadFile(filepath.Join(evil, rel+"release.json"))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		r, err := release.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		edit(r)
		if data, err = r.Marshal(); err != nil {
			t.Fatal(err)
		}
	}
	payload, err := os.ReadFile(filepath.Join(evil, rel+"app.bz2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, rel+"release.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, rel+"app.bz2"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	return bin
}

// The attack of issue 14: someone who can write to the storage replaces
// release.json and the payload with their own binary before the second
// signer of a threshold runs sign. Anchored by the pin or by the signer's
// binary, sign refuses and writes nothing.
func TestRejectsSigningSwappedRelease(t *testing.T) {
	evil := newSigner(t, keys.Ed25519)
	evilID, _ := keys.ID(evil.Public())
	tests := []struct {
		name string
		swap func(t *testing.T, tr thresholdRepo)
		pin  bool
		bin  bool
		kind error
		msg  string
	}{
		{"unsigned, pin", func(t *testing.T, tr thresholdRepo) { swapRelease(t, tr.repo, nil) }, true, false,
			ErrUnanchored, "carries no valid signature by a release key of root version 1 (pin " + "%PIN%): it is unsigned"},
		{"signed by the attacker, pin", func(t *testing.T, tr thresholdRepo) { swapRelease(t, tr.repo, nil, evil) }, true, false,
			ErrUnanchored, "it is signed only by key " + evilID + ", not in that role"},
		{"the genuine signature copied over, pin", func(t *testing.T, tr thresholdRepo) {
			genuine, _ := readRelease(t, tr.repo)
			swapRelease(t, tr.repo, func(r *release.Release) { r.Signatures = append(r.Signatures, genuine.Signatures...) })
		}, true, false, ErrPin, "has a signature by release key %ALICE% of root version 1 that does not verify"},
		{"the roots forged too, pin", func(t *testing.T, tr thresholdRepo) {
			forged, attacker := forgedRoot(t, 1, tr.root)
			for _, name := range []string{"1.root.json", "root.json"} {
				if err := os.WriteFile(filepath.Join(tr.repo, name), forged, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			swapRelease(t, tr.repo, nil, attacker.release)
		}, true, false, ErrPin, "1.root.json in %REPO% differs from the pinned root"},
		{"unsigned, binary", func(t *testing.T, tr thresholdRepo) { swapRelease(t, tr.repo, nil) }, false, true,
			ErrUnanchored, "release 1.0.0/linux/amd64 in %REPO% is not the local binary %BIN%"},
		{"signed by the attacker, pin and binary", func(t *testing.T, tr thresholdRepo) { swapRelease(t, tr.repo, nil, evil) }, true, true,
			ErrUnanchored, "is not the local binary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newThresholdRepo(t)
			tt.swap(t, tr)
			_, before := readRelease(t, tr.repo)
			cfg := SignConfig{Repo: tr.repo, Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{tr.bob}}
			if tt.pin {
				cfg.Pin = pinFor(tr.repo)
			}
			if tt.bin {
				cfg.Binary = tr.bin
			}
			res, err := Sign(t.Context(), cfg)
			aliceID, _ := keys.ID(tr.alice.Public())
			msg := strings.NewReplacer("%PIN%", pinFor(tr.repo), "%ALICE%", aliceID, "%REPO%", tr.repo, "%BIN%", tr.bin).Replace(tt.msg)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), msg) {
				t.Fatalf("Sign = %+v, %v; want %v containing %q", res, err, tt.kind, msg)
			}
			if res != nil {
				t.Error("a result with an error")
			}
			if _, after := readRelease(t, tr.repo); !bytes.Equal(before, after) {
				t.Error("release.json was written")
			}
			if l := leftovers(t, tr.repo); len(l) > 0 {
				t.Errorf("left %v", l)
			}
		})
	}
}

// The second signer of a genuine release, anchored by the pin, signs it,
// and the release then meets the root's threshold.
func TestSignAnchoredByPin(t *testing.T) {
	tr := newThresholdRepo(t)
	res, err := Sign(t.Context(), SignConfig{Repo: tr.repo, Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{tr.bob}, Pin: pinFor(tr.repo)})
	if err != nil {
		t.Fatal(err)
	}
	aliceID, _ := keys.ID(tr.alice.Public())
	bobID, _ := keys.ID(tr.bob.Public())
	if res.Root != 1 || res.Binary != "" || !slices.Equal(res.Added, []string{bobID}) ||
		!slices.Equal(res.Existing, []ExistingSignature{{aliceID, SignatureValid}}) || len(res.Outside) != 0 {
		t.Errorf("result %+v", res)
	}
	verifyAgainstRoot(t, tr.repo, "1.0.0")
}

// verifyAgainstRoot checks that the releases of version in repo verify
// against the root pinned for it, as a client pinning it would.
func verifyAgainstRoot(t *testing.T, repo, version string) {
	t.Helper()
	root, err := os.ReadFile(filepath.Join(pinFor(repo), "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	results, err := Verify(t.Context(), VerifyConfig{Repo: repo, Root: root, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range results {
		if r.Kind == KindRelease {
			found = true
			if !r.OK {
				t.Errorf("%s: %s", r.Path, r.Error)
			}
		}
	}
	if !found {
		t.Errorf("no release of %s verified", version)
	}
}

// The first signer of a release added unsigned anchors it with the binary
// they built; the second then anchors it with the pin.
func TestSignAnchoredByBinary(t *testing.T) {
	tr := newThresholdRepo(t)
	if _, err := Add(t.Context(), AddConfig{Repo: tr.repo, Binary: tr.bin, Version: "1.1.0"}); err != nil {
		t.Fatal(err)
	}
	cfg := SignConfig{Repo: tr.repo, Version: "1.1.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{tr.alice}}
	pinOnly := cfg
	pinOnly.Pin = pinFor(tr.repo)
	if _, err := Sign(t.Context(), pinOnly); !errors.Is(err, ErrUnanchored) {
		t.Fatalf("an unsigned release with only the pin: %v, want ErrUnanchored", err)
	}
	cfg.Binary = tr.bin
	res, err := Sign(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Binary != tr.bin || res.Root != 0 || len(res.Added) != 1 || len(res.Existing) != 0 {
		t.Errorf("result %+v", res)
	}
	pinOnly.Keys = []crypto.Signer{tr.bob}
	if _, err := Sign(t.Context(), pinOnly); err != nil {
		t.Fatal(err)
	}
	verifyAgainstRoot(t, tr.repo, "1.1.0")
}

// A local binary other than the release's (another build, the wrong file)
// is refused, whether or not the pin is given too.
func TestRejectsSigningOtherBinary(t *testing.T) {
	tr := newThresholdRepo(t)
	other := filepath.Join(t.TempDir(), "app")
	writeELF(t, other, elf.EM_X86_64, 20000)
	data, _ := os.ReadFile(other)
	data[len(data)-1] ^= 1
	os.WriteFile(other, data, 0o755)
	_, before := readRelease(t, tr.repo)
	for _, pin := range []string{"", pinFor(tr.repo)} {
		_, err := Sign(t.Context(), SignConfig{Repo: tr.repo, Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{tr.bob}, Binary: other, Pin: pin})
		if !errors.Is(err, ErrUnanchored) || !strings.Contains(err.Error(), "is not the local binary "+other) {
			t.Fatalf("pin %q: %v, want ErrUnanchored", pin, err)
		}
	}
	if _, after := readRelease(t, tr.repo); !bytes.Equal(before, after) {
		t.Error("release.json was written")
	}
}

// Sign refuses to run without an anchor: there is no default that signs
// whatever the storage holds.
func TestRejectsSigningWithoutAnchor(t *testing.T) {
	repo := releaseRepo(t, "1.0.0")
	_, before := readRelease(t, repo)
	k := newSigner(t, keys.Ed25519)
	for _, tc := range []struct {
		name, pin, msg string
	}{
		{"neither pin nor binary", "", "nothing to check release 1.0.0/linux/amd64 against: give a pin directory (--pin DIR) holding a root you verified, or the binary you built (--binary FILE)"},
		{"a pin without a root", t.TempDir(), "no pinned root in "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Sign(t.Context(), SignConfig{Repo: repo, Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{k}, Pin: tc.pin})
			if !errors.Is(err, ErrUnanchored) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want ErrUnanchored containing %q", err, tc.msg)
			}
			if _, after := readRelease(t, repo); !bytes.Equal(before, after) {
				t.Error("release.json was written")
			}
		})
	}
}

// Before signing, Sign reports what the release carries, judged against
// the pinned root; a dry run reports it and writes nothing.
func TestSignShowsWhatItSigns(t *testing.T) {
	tr := newThresholdRepo(t)
	outsider := newSigner(t, keys.Ed25519)
	if _, err := Sign(t.Context(), signCfg(tr.repo, outsider)); err != nil {
		t.Fatal(err)
	}
	_, before := readRelease(t, tr.repo)
	aliceID, _ := keys.ID(tr.alice.Public())
	bobID, _ := keys.ID(tr.bob.Public())
	outsiderID, _ := keys.ID(outsider.Public())
	cfg := SignConfig{Repo: tr.repo, Version: "1.0.0", OS: "linux", Arch: "amd64", Keys: []crypto.Signer{tr.bob, outsider}, Pin: pinFor(tr.repo), DryRun: true}
	res, err := Sign(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []ExistingSignature{{aliceID, SignatureValid}, {outsiderID, SignatureNotReleaseKey}}
	if !res.DryRun || res.Root != 1 || res.Dir != "1.0.0/linux/amd64" || !slices.Equal(res.Existing, want) ||
		!slices.Equal(res.Added, []string{bobID}) || !slices.Equal(res.Already, []string{outsiderID}) ||
		!slices.Equal(res.Outside, []string{outsiderID}) {
		t.Errorf("dry run: %+v", res)
	}
	if _, after := readRelease(t, tr.repo); !bytes.Equal(before, after) {
		t.Error("a dry run wrote release.json")
	}
	cfg.DryRun = false
	if res, err = Sign(t.Context(), cfg); err != nil || !slices.Equal(res.Added, []string{bobID}) {
		t.Fatalf("sign: %+v, %v", res, err)
	}
	verifyAgainstRoot(t, tr.repo, "1.0.0")
}
