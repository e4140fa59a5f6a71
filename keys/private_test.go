package keys_test

import (
	"bytes"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
)

// fastScrypt keeps age's passphrase encryption cheap for the test.
func fastScrypt(t testing.TB) {
	t.Cleanup(keys.SetScryptWorkFactorForTest(10))
}

func passphrase(p string) func() ([]byte, error) {
	return func() ([]byte, error) { return []byte(p), nil }
}

func TestEncryptedPrivateKeyRoundTrip(t *testing.T) {
	fastScrypt(t)
	for _, typ := range allTypes {
		t.Run(string(typ), func(t *testing.T) {
			priv, err := keys.Generate(typ)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := keys.EncryptPrivate(priv, []byte("correct horse"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(enc, []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")) || !keys.IsEncrypted(enc) {
				t.Fatalf("not an armored age file:\n%s", enc)
			}
			plain, err := keys.MarshalPrivate(priv)
			if err != nil {
				t.Fatal(err)
			}
			// No part of the private key is readable in the file.
			if bytes.Contains(enc, []byte("PRIVATE KEY")) || bytes.Contains(enc, plain[28:60]) {
				t.Fatal("encrypted file contains the plain key")
			}
			calls := 0
			got, err := keys.ParsePrivate(enc, func() ([]byte, error) { calls++; return []byte("correct horse"), nil })
			if err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Fatalf("passphrase asked %d times, want once", calls)
			}
			if !equalPublic(got.Public(), priv.Public()) {
				t.Fatal("decrypted key differs")
			}
		})
	}
}

func TestParsePrivateDoesNotAskForUnencryptedKey(t *testing.T) {
	priv, _ := keys.Generate(keys.Ed25519)
	plain, err := keys.MarshalPrivate(priv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = keys.ParsePrivate(plain, func() ([]byte, error) {
		t.Fatal("passphrase asked for an unencrypted key")
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRejectsWrongPassphrase(t *testing.T) {
	fastScrypt(t)
	priv, _ := keys.Generate(keys.Ed25519)
	enc, err := keys.EncryptPrivate(priv, []byte("right"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := keys.ParsePrivate(enc, passphrase("wrong"))
	if !errors.Is(err, keys.ErrWrongPassphrase) || got != nil {
		t.Fatalf("ParsePrivate = %v, %v; want ErrWrongPassphrase", got, err)
	}
}

func TestEncryptedKeyWithoutPassphrase(t *testing.T) {
	fastScrypt(t)
	priv, _ := keys.Generate(keys.ECDSAP256)
	enc, err := keys.EncryptPrivate(priv, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	for name, pass := range map[string]func() ([]byte, error){
		"nil func":     nil,
		"func fails":   func() ([]byte, error) { return nil, errors.New("no terminal") },
		"empty answer": passphrase(""),
	} {
		got, err := keys.ParsePrivate(enc, pass)
		if !errors.Is(err, keys.ErrNoPassphrase) || got != nil {
			t.Errorf("%s: ParsePrivate = %v, %v; want ErrNoPassphrase", name, got, err)
		}
	}
	if _, err := keys.EncryptPrivate(priv, nil); err == nil {
		t.Error("EncryptPrivate accepted an empty passphrase")
	}
}

func TestRejectsTamperedEncryptedKey(t *testing.T) {
	fastScrypt(t)
	priv, _ := keys.Generate(keys.Ed25519)
	enc, err := keys.EncryptPrivate(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(enc), "\n")
	// Flip one base64 character of the body (the line before the footer).
	body := []byte(lines[len(lines)-3])
	if body[0] == 'A' {
		body[0] = 'B'
	} else {
		body[0] = 'A'
	}
	lines[len(lines)-3] = string(body)
	got, err := keys.ParsePrivate([]byte(strings.Join(lines, "\n")), passphrase("pw"))
	if err == nil || got != nil {
		t.Fatalf("tampered age file accepted: %v", err)
	}
}

// TestParsesOpenSSLKeys loads keys made by the real openssl binary, signs
// with them, and has openssl verify the signatures with its own view of the
// public key: the format has no private parts.
func TestParsesOpenSSLKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  []string
		typ  keys.Type
	}{
		{"ed25519 genpkey", []string{"genpkey", "-algorithm", "ed25519"}, keys.Ed25519},
		{"p256 ecparam -noout", []string{"ecparam", "-name", "prime256v1", "-genkey", "-noout"}, keys.ECDSAP256},
		{"p256 ecparam with EC PARAMETERS", []string{"ecparam", "-name", "prime256v1", "-genkey"}, keys.ECDSAP256},
		{"p256 genpkey", []string{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}, keys.ECDSAP256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			openssl(t, dir, append(tc.gen, "-out", "key.pem")...)
			data, err := os.ReadFile(filepath.Join(dir, "key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(tc.name, "EC PARAMETERS") && !bytes.HasPrefix(data, []byte("-----BEGIN EC PARAMETERS-----")) {
				t.Fatalf("openssl did not write the EC PARAMETERS block first:\n%s", data)
			}
			priv, err := keys.ParsePrivate(data, nil)
			if err != nil {
				t.Fatal(err)
			}
			if typ, err := keys.TypeOf(priv.Public()); err != nil || typ != tc.typ {
				t.Fatalf("TypeOf = %q, %v; want %q", typ, err, tc.typ)
			}

			// openssl's public key is ours.
			osslPub, err := keys.ParsePublic(openssl(t, dir, "pkey", "-in", "key.pem", "-pubout"))
			if err != nil {
				t.Fatal(err)
			}
			if !equalPublic(osslPub, priv.Public()) {
				t.Fatal("openssl derives another public key")
			}

			// We sign, openssl verifies with the public key we wrote.
			msg := []byte(`{"binary":"app.bz2","version":"1.0.0"}`)
			signer, err := keys.NewSigner(priv)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := keys.Sign(signer, msg)
			if err != nil {
				t.Fatal(err)
			}
			pubPEM, err := keys.MarshalPublic(priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, "pub.pem", pubPEM)
			writeFile(t, dir, "msg", msg)
			writeFile(t, dir, "sig", sig)
			opensslVerify(t, dir, tc.typ, "sig")

			// openssl signs, we verify.
			osslSig := opensslSign(t, dir, tc.typ)
			if tc.typ == keys.ECDSAP256 && sOf(t, osslSig).Cmp(halfOrder) > 0 {
				// openssl does not make low-S signatures; its high-S
				// ones are refused and their low-S form is accepted.
				if err := keys.Verify(priv.Public(), msg, osslSig); !errors.Is(err, keys.ErrBadSignature) {
					t.Fatalf("openssl's high-S signature: err = %v, want ErrBadSignature", err)
				}
				if osslSig, err = otherS(osslSig); err != nil {
					t.Fatal(err)
				}
			}
			if err := keys.Verify(priv.Public(), msg, osslSig); err != nil {
				t.Fatalf("openssl's signature refused: %v", err)
			}

			// openssl also refuses a signature over other bytes.
			other, err := keys.Sign(signer, []byte("other bytes"))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, "other.sig", other)
			if err := opensslVerifyErr(t, dir, tc.typ, "other.sig"); err == nil {
				t.Fatal("openssl accepted a signature over other bytes: the test cannot fail")
			}
		})
	}
}

func opensslVerifyArgs(typ keys.Type, sigFile string) []string {
	if typ == keys.Ed25519 {
		return []string{"pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg", "-sigfile", sigFile}
	}
	return []string{"dgst", "-sha256", "-verify", "pub.pem", "-signature", sigFile, "msg"}
}

func opensslVerify(t *testing.T, dir string, typ keys.Type, sigFile string) {
	t.Helper()
	out := openssl(t, dir, opensslVerifyArgs(typ, sigFile)...)
	if !bytes.Contains(out, []byte("Verified OK")) && !bytes.Contains(out, []byte("Signature Verified Successfully")) {
		t.Fatalf("openssl did not verify: %s", out)
	}
}

func opensslVerifyErr(t *testing.T, dir string, typ keys.Type, sigFile string) error {
	cmd := execOpenSSL(t, dir, opensslVerifyArgs(typ, sigFile)...)
	return cmd.Run()
}

func opensslSign(t *testing.T, dir string, typ keys.Type) []byte {
	t.Helper()
	if typ == keys.Ed25519 {
		return openssl(t, dir, "pkeyutl", "-sign", "-inkey", "key.pem", "-rawin", "-in", "msg")
	}
	return openssl(t, dir, "dgst", "-sha256", "-sign", "key.pem", "msg")
}

func TestRejectsOpenSSLEncryptedPEM(t *testing.T) {
	dir := t.TempDir()
	openssl(t, dir, "genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:x", "-out", "pkcs8.pem")
	openssl(t, dir, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "plain.pem")
	openssl(t, dir, "ec", "-in", "plain.pem", "-aes256", "-passout", "pass:x", "-out", "sec1.pem")
	for _, name := range []string{"pkcs8.pem", "sec1.pem"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := keys.ParsePrivate(data, passphrase("x"))
		if !errors.Is(err, keys.ErrEncryptedPEM) || got != nil {
			t.Errorf("%s: ParsePrivate = %v, %v; want ErrEncryptedPEM", name, got, err)
		}
	}
}

func TestRejectsUnsupportedPrivateKeys(t *testing.T) {
	dir := t.TempDir()
	openssl(t, dir, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", "rsa.pem")
	openssl(t, dir, "pkey", "-in", "rsa.pem", "-traditional", "-out", "rsa-traditional.pem")
	openssl(t, dir, "ecparam", "-name", "secp384r1", "-genkey", "-out", "p384-sec1.pem")
	openssl(t, dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "p384-pkcs8.pem")
	openssl(t, dir, "genpkey", "-algorithm", "ed448", "-out", "ed448.pem")
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	valid, err := keys.MarshalPrivate(mustGenerate(t, keys.Ed25519))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		isErr error
	}{
		{"rsa pkcs8", read("rsa.pem"), keys.ErrUnsupportedKey},
		{"rsa traditional", read("rsa-traditional.pem"), keys.ErrNotPEM},
		{"p384 sec1", read("p384-sec1.pem"), keys.ErrUnsupportedKey},
		{"p384 pkcs8", read("p384-pkcs8.pem"), keys.ErrUnsupportedKey},
		{"ed448", read("ed448.pem"), nil},
		{"public key only", openssl(t, dir, "pkey", "-in", "ed448.pem", "-pubout"), keys.ErrNotPEM},
		{"oversized", append(bytes.Clone(valid), bytes.Repeat([]byte("\n"), limits.KeyFile)...), nil},
		{"garbage DER", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keys.ParsePrivate(tc.data, nil)
			if err == nil || got != nil {
				t.Fatalf("ParsePrivate = %v, %v; want an error", got, err)
			}
			if tc.isErr != nil && !errors.Is(err, tc.isErr) {
				t.Fatalf("err = %v, want %v", err, tc.isErr)
			}
			if !strings.HasPrefix(err.Error(), "keys: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func mustGenerate(t testing.TB, typ keys.Type) crypto.Signer {
	t.Helper()
	k, err := keys.Generate(typ)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzParsePrivate feeds arbitrary key files to ParsePrivate. Encrypted
// files get no passphrase: a mutated age header could ask for scrypt work
// that would stall the fuzzer, and age's own parser is fuzzed upstream.
func FuzzParsePrivate(f *testing.F) {
	fastScrypt(f)
	for _, typ := range allTypes {
		p, err := keys.MarshalPrivate(mustGenerate(f, typ))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	if p, err := os.ReadFile("testdata/p256-openssl.pem"); err == nil {
		f.Add(p)
	}
	enc, err := keys.EncryptPrivate(mustGenerate(f, keys.Ed25519), []byte("pw"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Fuzz(func(t *testing.T, data []byte) {
		priv, err := keys.ParsePrivate(data, nil)
		if err != nil {
			if priv != nil {
				t.Fatalf("ParsePrivate returned a key with error %v", err)
			}
			if keys.IsEncrypted(data) && len(data) <= limits.KeyFile && !errors.Is(err, keys.ErrNoPassphrase) {
				t.Fatalf("encrypted file without passphrase: err = %v, want ErrNoPassphrase", err)
			}
			return
		}
		if keys.IsEncrypted(data) {
			t.Fatal("encrypted file parsed without a passphrase")
		}
		if _, err := keys.TypeOf(priv.Public()); err != nil {
			t.Fatalf("ParsePrivate accepted a key TypeOf refuses: %v", err)
		}
		// An accepted key signs, and its signature verifies.
		s, err := keys.NewSigner(priv)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := keys.Sign(s, data)
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.Verify(priv.Public(), data, sig); err != nil {
			t.Fatalf("accepted key makes signatures that do not verify: %v", err)
		}
	})
}
