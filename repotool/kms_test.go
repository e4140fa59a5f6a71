package repotool

import (
	"context"
	"crypto"
	"debug/elf"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/internal/kms"
	"github.com/safeupdate/safeupdate/internal/kmstest"
	"github.com/safeupdate/safeupdate/internal/testprog"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// kmsKey makes a new P-256 key in the emulator through KeygenKMS, opens it
// through LoadSigner as every command does, and returns the signer and
// the public key file KeygenKMS wrote.
func kmsKey(t *testing.T, f *kmstest.Front) (crypto.Signer, string) {
	t.Helper()
	ref := f.Ref(kmstest.Alias(t))
	out := filepath.Join(t.TempDir(), "keys", "release")
	res, err := KeygenKMS(t.Context(), KMSKeygenConfig{Key: ref, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadSigner(t.Context(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := keys.ID(s.Public()); id != res.ID {
		t.Fatalf("the opened key is %s, keygen made %s", id, res.ID)
	}
	return s, res.PublicPath
}

// installFrom runs the client over HTTP on 127.0.0.1 against repo, with
// opts for trust, and returns what it installed at its target.
func installFrom(t *testing.T, repo string, opts ...apply.Option) ([]byte, error) {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
	defer srv.Close()
	target := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(target, []byte("old app"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	opts = append(opts, apply.SourceRepo(srv.URL), apply.Version("1.0.0"), apply.TargetFile(target),
		apply.OS("linux"), apply.Arch("amd64"))
	if err := apply.Apply(ctx, opts...); err != nil {
		return nil, err
	}
	return os.ReadFile(target)
}

// TestKMSKeySignsReleaseClientInstalls is the publisher's path end to end:
// keygen in the KMS, add --sign with it, and a client with the public key
// pinned installs the release; openssl verifies the signature too.
func TestKMSKeySignsReleaseClientInstalls(t *testing.T) {
	f := kmstest.Start(t)
	ref := f.Ref(kmstest.Alias(t))
	kg, err := KeygenKMS(t.Context(), KMSKeygenConfig{Key: ref, Out: filepath.Join(t.TempDir(), "release")})
	if err != nil {
		t.Fatal(err)
	}
	pubPath := kg.PublicPath
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	writeELF(t, bin, elf.EM_X86_64, 20000)
	repo := filepath.Join(dir, "repo")

	// What CI does: open the key, add and sign. It needs these three
	// operations only, which is the policy the README gives the CI role.
	before := f.Ops()
	signer, err := LoadSigner(t.Context(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Add(t.Context(), AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{signer}}); err != nil {
		t.Fatal(err)
	}
	for op, n := range f.Ops() {
		if n == before[op] {
			continue
		}
		t.Logf("%s: %d", op, n-before[op])
		if !slices.Contains([]string{"GetPublicKey", "DescribeKey", "Sign"}, op) {
			t.Errorf("signing a release needed %s: the README's policy does not allow it", op)
		}
	}
	if n := f.Calls("Sign") - before["Sign"]; n != 1 {
		t.Fatalf("%d Sign requests for one signature", n)
	}
	pemData, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := installFrom(t, repo, apply.PublicKey(pemData))
	if err != nil {
		t.Fatalf("the client refuses the KMS-signed release: %v", err)
	}
	want, _ := os.ReadFile(bin)
	if string(got) != string(want) {
		t.Fatal("the client installed other bytes")
	}

	// openssl, knowing nothing of this project, verifies the signature
	// over the signed bytes with the public key file.
	data, err := os.ReadFile(filepath.Join(repo, "1.0.0", "linux", "amd64", release.FileName))
	if err != nil {
		t.Fatal(err)
	}
	r, err := release.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := r.SigningBytes()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := hex.DecodeString(r.Signatures[0].Sig)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	for name, b := range map[string][]byte{"msg": msg, "sig.der": sig} {
		if err := os.WriteFile(filepath.Join(work, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(testprog.Path(t, "openssl"), "dgst", "-sha256", "-verify", pubPath, "-signature", "sig.der", "msg")
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl refuses the KMS signature: %v\n%s", err, out)
	}
}

// TestKMSAndFileKeyMeetThreshold signs one release with a file key and a
// KMS key against a root whose release threshold is two.
func TestKMSAndFileKeyMeetThreshold(t *testing.T) {
	f := kmstest.Start(t)
	kmsSigner, _ := kmsKey(t, f)
	fileKey := newSigner(t, keys.Ed25519)
	c := newCast(t)
	repo := t.TempDir()
	res, err := Init(t.Context(), InitConfig{
		Repo: repo, Pin: pinFor(repo), RootKeys: pubs(c.root), ReleaseKeys: pubs(fileKey, kmsSigner), Threshold: 2,
		ChannelKeys: pubs(c.channel), Expires: inAYear, Keys: []crypto.Signer{c.root},
	})
	if err != nil || !res.Complete {
		t.Fatalf("init: %+v, %v", res, err)
	}
	rootJSON, err := os.ReadFile(filepath.Join(repo, "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "app")
	writeELF(t, bin, elf.EM_X86_64, 20000)
	if _, err := Add(t.Context(), AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{fileKey}}); err != nil {
		t.Fatal(err)
	}
	if _, err := installFrom(t, repo, apply.TrustRoot(rootJSON), apply.TrustStore(t.TempDir())); err == nil {
		t.Fatal("one signature of a threshold of two was accepted")
	}
	sres, err := Sign(t.Context(), SignConfig{Repo: repo, Version: "1.0.0", OS: "linux", Arch: "amd64", Pin: pinFor(repo), Keys: []crypto.Signer{kmsSigner}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sres.Added) != 1 || len(sres.Outside) != 0 {
		t.Fatalf("sign: %+v", sres)
	}
	if _, err := installFrom(t, repo, apply.TrustRoot(rootJSON), apply.TrustStore(t.TempDir())); err != nil {
		t.Fatalf("file key + KMS key, threshold 2: %v", err)
	}
}

// TestRotateRootWithKMSReleaseKey rotates a root whose release key is in
// the KMS to a second KMS key: a client of root 1 follows the rotation and
// installs a release signed by the new key.
func TestRotateRootWithKMSReleaseKey(t *testing.T) {
	f := kmstest.Start(t)
	oldKey, _ := kmsKey(t, f)
	newKey, newPub := kmsKey(t, f)
	c := newCast(t)
	c.release = oldKey
	repo := t.TempDir()
	initRepo(t, repo, c)
	root1, err := os.ReadFile(filepath.Join(repo, "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(newPub)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Rotate(t.Context(), RotateConfig{
		Repo: repo, Pin: pinFor(repo), AddReleaseKeys: []crypto.PublicKey{pub}, RemoveReleaseKeys: []string{id(t, oldKey)},
		Keys: []crypto.Signer{c.root},
	})
	if err != nil || !res.Complete {
		t.Fatalf("rotate: %+v, %v", res, err)
	}
	bin := filepath.Join(t.TempDir(), "app")
	writeELF(t, bin, elf.EM_X86_64, 20000)
	if _, err := Add(t.Context(), AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{newKey}}); err != nil {
		t.Fatal(err)
	}
	if _, err := installFrom(t, repo, apply.TrustRoot(root1), apply.TrustStore(t.TempDir())); err != nil {
		t.Fatalf("a client of root 1: %v", err)
	}
	if ids := readRoot(t, repo, "root.json").Targets().IDs(); !slices.Equal(ids, []string{id(t, newKey)}) {
		t.Fatalf("release keys of root 2: %v", ids)
	}
}

// TestRejectsKMSKeyNotInRoot checks that a KMS key whose public key is not
// the one the root lists is refused before it signs: no Sign request
// reaches the KMS. The root's key checks are the file keys' ones.
func TestRejectsKMSKeyNotInRoot(t *testing.T) {
	f := kmstest.Start(t)
	stranger, _ := kmsKey(t, f)
	c := newCast(t)
	repo := t.TempDir()
	initRepo(t, repo, c)
	signs := f.Calls("Sign")
	_, err := Rotate(t.Context(), RotateConfig{Repo: repo, Pin: pinFor(repo), Expires: inAYear.Add(time.Hour), Keys: []crypto.Signer{stranger}})
	if !errors.Is(err, ErrNotInRole) {
		t.Fatalf("rotate signed by a KMS key that is not a root key: %v, want ErrNotInRole", err)
	}
	if n := f.Calls("Sign") - signs; n != 0 {
		t.Fatalf("%d Sign requests reached the KMS before the refusal", n)
	}
}

// TestSurvivesKMSStoppedMidRun opens two KMS keys, loses the KMS (as
// when the emulator stops) and adds a release signed by both: it fails,
// names the cause, and leaves no release and no temporary file.
func TestSurvivesKMSStoppedMidRun(t *testing.T) {
	f := kmstest.Start(t)
	a, _ := kmsKey(t, f)
	b, _ := kmsKey(t, f)
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	writeELF(t, bin, elf.EM_X86_64, 20000)
	repo := filepath.Join(dir, "repo")
	f.Stop()
	_, err := Add(t.Context(), AddConfig{Repo: repo, Binary: bin, Version: "1.0.0", Keys: []crypto.Signer{a, b}})
	if !errors.Is(err, kms.ErrUnreachable) {
		t.Fatalf("add with the KMS gone: %v, want ErrUnreachable", err)
	}
	if _, err := os.Stat(filepath.Join(repo, "1.0.0")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed add left %s/1.0.0 (%v)", repo, err)
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("temporary files left: %v", l)
	}
}

// TestKeygenKMSRefusesToOverwrite checks that keygen --kms writes nothing
// and makes no key when PREFIX.pub exists, and that pubkey never replaces
// a file.
func TestKeygenKMSRefusesToOverwrite(t *testing.T) {
	f := kmstest.Start(t)
	out := filepath.Join(t.TempDir(), "release")
	if err := os.WriteFile(out+".pub", []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := f.Ref(kmstest.Alias(t))
	if _, err := KeygenKMS(t.Context(), KMSKeygenConfig{Key: ref, Out: out}); !errors.Is(err, ErrExists) {
		t.Fatalf("keygen over an existing file: %v, want ErrExists", err)
	}
	if _, err := LoadSigner(t.Context(), ref, nil); !errors.Is(err, kms.ErrNotFound) {
		t.Fatalf("the refused keygen made the key anyway: %v", err)
	}
	s, _ := kmsKey(t, f)
	if err := WritePublicKey(out+".pub", s.Public()); !errors.Is(err, ErrExists) {
		t.Fatalf("pubkey over an existing file: %v, want ErrExists", err)
	}
	if data, _ := os.ReadFile(out + ".pub"); string(data) != "mine" {
		t.Fatal("the existing file was changed")
	}
}
