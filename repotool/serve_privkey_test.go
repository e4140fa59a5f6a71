package repotool

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/safeupdate/safeupdate/keys"
)

// checkServeRefuses writes files (name to content) into a repository and
// checks that each is refused (404) and each of served is served whole,
// over the real Serve (the files are fresh, so they are read from disk)
// and through the small-file cache where the platform has one.
func checkServeRefuses(t *testing.T, refused, served map[string][]byte) {
	t.Helper()
	repo, _ := serveTestRepo(t)
	for name, data := range refused {
		serveWriteFile(t, filepath.Join(repo, filepath.FromSlash(name)), string(data))
	}
	for name, data := range served {
		serveWriteFile(t, filepath.Join(repo, filepath.FromSlash(name)), string(data))
	}
	check := func(t *testing.T, base string) {
		for name := range refused {
			for _, method := range []string{"GET", "HEAD"} {
				if resp, body := serveGet(t, serveClient(), method, base+"/"+name, nil); resp.StatusCode != 404 {
					t.Errorf("%s /%s: status %d, %d bytes; want 404 (a private key)", method, name, resp.StatusCode, len(body))
				}
			}
		}
		for name, data := range served {
			if resp, body := serveGet(t, serveClient(), "GET", base+"/"+name, nil); resp.StatusCode != 200 || body != string(data) {
				t.Errorf("GET /%s: status %d, %d bytes; want 200 and the file", name, resp.StatusCode, len(body))
			}
		}
	}
	t.Run("serve", func(t *testing.T) {
		base, _ := startServe(t, ServeConfig{Dir: repo})
		check(t, base)
	})
	t.Run("cached", func(t *testing.T) {
		_, base := startCachingHandler(t, repo, 0, serveCacheRecheck)
		check(t, base) // twice: the second answer would come from the cache
		check(t, base)
	})
}

func derKeys(t *testing.T) map[string][]byte {
	t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte)
	for name, k := range map[string]crypto.Signer{"ed25519": ed, "ecdsa": ec, "rsa": rk} {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		out["keys/"+name+".p8.der"] = der
		out["backup/"+name] = der // no telling name
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	out["keys/ec.der"] = sec1
	out["keys/rsa.pkcs1"] = x509.MarshalPKCS1PrivateKey(rk)
	return out
}

// A private key in DER, which holds no PEM marker at all, is not served,
// whatever its name: PKCS#8 (Ed25519, ECDSA, RSA), SEC 1 EC and PKCS#1 RSA.
// DER public keys stay servable.
func TestRejectsServingDERPrivateKey(t *testing.T) {
	refused := derKeys(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(ec.Public())
	if err != nil {
		t.Fatal(err)
	}
	checkServeRefuses(t, refused, map[string][]byte{"keys/release.pub.der": pub})
}

// A PEM private key after more than a KiB of other text, or straddling the
// boundary between two chunks of the scan, or deep in a large file, is
// not served.
func TestRejectsServingLatePEMPrivateKey(t *testing.T) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ed)
	if err != nil {
		t.Fatal(err)
	}
	block := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	ecBlock := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	ssh := pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: der})
	text := func(n int) []byte { return bytes.Repeat([]byte("release notes, nothing secret\n"), n/30+1)[:n] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	refused := map[string][]byte{
		"notes.txt":         join(text(2<<10), block),
		"0.7.0/README":      join(text(1<<10+1), ecBlock),
		"docs/setup.md":     join(text(40<<10), ssh, text(100)),
		"straddle.txt":      join(text(servePrivateKeyChunk-7), block),
		"deep/app.bz2":      join(text(3<<20), block, text(5000)),
		"release-notes.txt": join(text(servePrivateKeyChunk+30), ecBlock, text(servePrivateKeyChunk)),
	}
	served := map[string][]byte{
		// Words alone, and a public key, are not a private key.
		"about.txt": join(text(3<<10), []byte("keep the PRIVATE KEY offline; -----BEGIN PUBLIC KEY-----\n")),
	}
	checkServeRefuses(t, refused, served)
}

// The project's own private key files, as keygen writes them (PKCS#8 PEM,
// age-armored unless --unencrypted), are not served under any name, even
// pasted below other text; nor is a binary age file.
func TestRejectsServingKeygenKeyFile(t *testing.T) {
	res, err := Keygen(KeygenConfig{Out: filepath.Join(t.TempDir(), "release"), Unencrypted: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := os.ReadFile(res.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := keys.ParsePrivate(plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	marshalled, err := keys.MarshalPrivate(priv)
	if err != nil {
		t.Fatal(err)
	}
	// What keys.EncryptPrivate writes, with a cheaper scrypt work factor.
	r, err := age.NewScryptRecipient("test passphrase")
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	var armored, binary bytes.Buffer
	aw := armor.NewWriter(&armored)
	for _, dst := range []io.Writer{aw, &binary} {
		w, err := age.Encrypt(dst, r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(marshalled); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	if !keys.IsEncrypted(armored.Bytes()) {
		t.Fatal("the armored key is not what keys reads as encrypted")
	}
	notes := []byte(strings.Repeat("how to rotate the release key\n", 70))
	refused := map[string][]byte{
		"keys/release.txt":       plain,
		"keys/release.age":       armored.Bytes(),
		"keys/notes.txt":         append(append([]byte{}, notes...), plain...),
		"keys/notes-age.txt":     append(append([]byte{}, notes...), armored.Bytes()...),
		"keys/release.age.bin":   binary.Bytes(),
		"backup/release-key.pem": append(append([]byte{}, notes...), marshalled...),
	}
	pub, err := os.ReadFile(res.PublicPath)
	if err != nil {
		t.Fatal(err)
	}
	checkServeRefuses(t, refused, map[string][]byte{"keys/release.pub": pub})
}

// The scan of privateKeyIn sees a BEGIN line wherever the end of one of
// its chunks cuts it, the first or a later one.
func TestPrivateKeyInSeesEveryOffset(t *testing.T) {
	line := []byte("-----BEGIN EC PRIVATE KEY-----\n")
	// Chunks after the first start with the pemLineMax bytes kept.
	for k := range 3 {
		end := servePrivateKeyChunk + k*(servePrivateKeyChunk-pemLineMax)
		for off := end - len(line) - 5; off <= end+5; off++ {
			data := bytes.Repeat([]byte{'x'}, off)
			data = append(data, line...)
			data = append(data, bytes.Repeat([]byte{'y'}, servePrivateKeyChunk)...)
			if key, err := privateKeyIn(bytes.NewReader(data)); err != nil || !key {
				t.Fatalf("BEGIN line at %d (a chunk ends at %d): privateKeyIn = %v, %v; want true", off, end, key, err)
			}
		}
	}
}
