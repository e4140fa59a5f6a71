package release_test

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

var (
	hashA = strings.Repeat("1a", 32)
	hashB = strings.Repeat("2b", 32)
	keyID = strings.Repeat("ab", 32)
)

// members is the base release.json, in order; doc edits it.
var members = [][2]string{
	{"binary", `"app.bz2"`},
	{"hash", `"` + hashA + `"`},
	{"size", `1000`},
	{"version", `"1.2.3"`},
	{"os", `"linux"`},
	{"arch", `"amd64"`},
	{"compressed_hash", `"` + hashB + `"`},
	{"compressed_size", `500`},
	{"signatures", `[]`},
}

// doc returns a release.json made of the base members, where each pair of
// edits sets a member's raw JSON value (added before "signatures" when new)
// or removes the member when the value is "".
func doc(edits ...string) []byte {
	ms := append([][2]string{}, members...)
	for i := 0; i+1 < len(edits); i += 2 {
		name, raw := edits[i], edits[i+1]
		found := false
		for j := range ms {
			if ms[j][0] == name {
				ms[j][1], found = raw, true
			}
		}
		if !found {
			ms = append(ms[:len(ms)-1:len(ms)-1], [2]string{name, raw}, ms[len(ms)-1])
		}
	}
	var b strings.Builder
	b.WriteString("{")
	first := true
	for _, m := range ms {
		if m[1] == "" {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "\n  \"%s\": %s", m[0], m[1])
	}
	b.WriteString("\n}\n")
	return []byte(b.String())
}

// fixedKey is a deterministic Ed25519 key, so that signed seed corpora stay
// valid.
func fixedKey() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(0x40 + i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func newSigner(t testing.TB, priv crypto.Signer) signature.Signer {
	t.Helper()
	s, err := keys.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func trusting(t testing.TB, threshold int, privs ...crypto.Signer) *trust.Keys {
	t.Helper()
	var pubs []crypto.PublicKey
	for _, p := range privs {
		pubs = append(pubs, p.Public())
	}
	k, err := trust.NewKeys(pubs, threshold)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustParse(t testing.TB, data []byte) *release.Release {
	t.Helper()
	r, err := release.Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, data)
	}
	return r
}

// signedDoc returns doc(edits...) signed by priv, marshaled.
func signedDoc(t testing.TB, priv crypto.Signer, edits ...string) []byte {
	t.Helper()
	r := mustParse(t, doc(edits...))
	if _, err := r.Sign(newSigner(t, priv)); err != nil {
		t.Fatal(err)
	}
	out, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseAcceptsValidRelease(t *testing.T) {
	r := mustParse(t, doc("signatures", `[{"keyid": "`+keyID+`", "sig": "00ff"}]`))
	want := release.Release{
		Binary: "app.bz2", Hash: hashA, Size: 1000, Version: "1.2.3", OS: "linux", Arch: "amd64",
		CompressedHash: hashB, CompressedSize: 500,
		Signatures: []release.Signature{{KeyID: keyID, Sig: "00ff"}},
	}
	if fmt.Sprint(*r) != fmt.Sprint(want) {
		t.Fatalf("Parse = %+v\nwant    %+v", *r, want)
	}
	// Signatures may be absent or empty: Verify is what refuses that.
	for _, d := range [][]byte{doc(), doc("signatures", "")} {
		if r := mustParse(t, d); len(r.Signatures) != 0 {
			t.Fatalf("signatures = %v", r.Signatures)
		}
	}
	// White space anywhere JSON allows it, and unknown members of any type.
	mustParse(t, []byte(" \t\r\n"+string(doc("extra", ` { "a" : [ 1 , -2 , true , null , "s" ] } `))+"\n\n"))
}

func TestRejectsMalformedRelease(t *testing.T) {
	sigEntry := func(entry string) []string { return []string{"signatures", "[" + entry + "]"} }
	goodSig := `"keyid": "` + keyID + `", "sig": "00ff"`
	for _, tc := range []struct {
		name  string
		edits []string
	}{
		// null fields and missing fields
		{"binary null", []string{"binary", "null"}},
		{"hash null", []string{"hash", "null"}},
		{"size null", []string{"size", "null"}},
		{"version null", []string{"version", "null"}},
		{"os null", []string{"os", "null"}},
		{"arch null", []string{"arch", "null"}},
		{"compressed_hash null", []string{"compressed_hash", "null"}},
		{"compressed_size null", []string{"compressed_size", "null"}},
		{"signatures null", []string{"signatures", "null"}},
		{"binary missing", []string{"binary", ""}},
		{"hash missing", []string{"hash", ""}},
		{"size missing", []string{"size", ""}},
		{"version missing", []string{"version", ""}},
		{"os missing", []string{"os", ""}},
		{"arch missing", []string{"arch", ""}},
		{"compressed_hash missing", []string{"compressed_hash", ""}},
		{"compressed_size missing", []string{"compressed_size", ""}},
		// wrong types
		{"binary a number", []string{"binary", `5`}},
		{"binary an array", []string{"binary", `["app.bz2"]`}},
		{"size a string", []string{"size", `"1000"`}},
		{"size a bool", []string{"size", `true`}},
		{"size an object", []string{"size", `{}`}},
		{"version a number", []string{"version", `1`}},
		{"os a bool", []string{"os", `false`}},
		{"signatures an object", []string{"signatures", `{}`}},
		{"signatures a string", []string{"signatures", `"x"`}},
		{"signature entry a string", sigEntry(`"x"`)},
		{"keyid a number", sigEntry(`"keyid": 1, "sig": "00"`)},
		// binary is a plain file name
		{"binary with slash", []string{"binary", `"bin/app.bz2"`}},
		{"binary absolute", []string{"binary", `"/usr/bin/app"`}},
		{"binary with backslash", []string{"binary", `"bin\\app.bz2"`}},
		{"binary dot dot", []string{"binary", `".."`}},
		{"binary dot dot slash", []string{"binary", `"../app.bz2"`}},
		{"binary a URL", []string{"binary", `"https://evil.example/app.bz2"`}},
		{"binary a scheme-relative URL", []string{"binary", `"//evil.example/app.bz2"`}},
		{"binary with NUL", []string{"binary", `"app\u0000.bz2"`}},
		{"binary with newline", []string{"binary", `"app\n.bz2"`}},
		{"binary with leading dot", []string{"binary", `".app.bz2"`}},
		{"binary dot", []string{"binary", `"."`}},
		{"binary release.json", []string{"binary", `"release.json"`}},
		{"binary empty", []string{"binary", `""`}},
		{"binary with percent escape", []string{"binary", `"..%2fapp"`}},
		{"binary too long", []string{"binary", `"` + strings.Repeat("a", limits.NameLength+1) + `"`}},
		// hashes
		{"hash upper case", []string{"hash", `"` + strings.ToUpper(hashA) + `"`}},
		{"hash short", []string{"hash", `"` + hashA[:63] + `"`}},
		{"hash long", []string{"hash", `"` + hashA + `0"`}},
		{"hash not hex", []string{"hash", `"` + strings.Repeat("zz", 32) + `"`}},
		{"hash empty", []string{"hash", `""`}},
		{"compressed_hash not hex", []string{"compressed_hash", `"` + strings.Repeat("g", 64) + `"`}},
		{"compressed_hash empty", []string{"compressed_hash", `""`}},
		// sizes
		{"size negative", []string{"size", `-1`}},
		{"size zero", []string{"size", `0`}},
		{"size over the limit", []string{"size", fmt.Sprint(int64(limits.BinarySize) + 1)}},
		{"compressed_size negative", []string{"compressed_size", `-500`}},
		{"compressed_size zero", []string{"compressed_size", `0`}},
		{"compressed_size over the limit", []string{"compressed_size", fmt.Sprint(int64(limits.BinarySize) + 1)}},
		{"size overflows int64", []string{"size", `999999999999999999999`}},
		// version and platform
		{"version two parts", []string{"version", `"1.2"`}},
		{"version with path", []string{"version", `"../1.2.3"`}},
		{"version empty", []string{"version", `""`}},
		{"unknown os", []string{"os", `"plan10"`}},
		{"unknown arch", []string{"arch", `"z80"`}},
		{"os with slash", []string{"os", `"linux/amd64"`}},
		{"os and arch swapped", []string{"os", `"amd64"`, "arch", `"linux"`}},
		{"os upper case", []string{"os", `"Linux"`}},
		{"arch empty", []string{"arch", `""`}},
		// signature entries
		{"signature with unknown member", sigEntry(`{` + goodSig + `, "cert": "x"}`)},
		{"signature member in other case", sigEntry(`{"KeyID": "` + keyID + `", "sig": "00ff"}`)},
		{"signature member twice in two cases", sigEntry(`{` + goodSig + `, "SIG": "0000"}`)},
		{"signature keyid not hex", sigEntry(`{"keyid": "` + strings.Repeat("x", 64) + `", "sig": "00"}`)},
		{"signature keyid short", sigEntry(`{"keyid": "abcd", "sig": "00"}`)},
		{"signature keyid missing", sigEntry(`{"sig": "00"}`)},
		{"signature sig missing", sigEntry(`{"keyid": "` + keyID + `"}`)},
		{"signature sig not hex", sigEntry(`{"keyid": "` + keyID + `", "sig": "zz"}`)},
		{"signature sig upper case", sigEntry(`{"keyid": "` + keyID + `", "sig": "00FF"}`)},
		{"signature sig odd length", sigEntry(`{"keyid": "` + keyID + `", "sig": "0ff"}`)},
		{"signature sig base64", sigEntry(`{"keyid": "` + keyID + `", "sig": "AP8="}`)},
		{"signature sig huge", sigEntry(`{"keyid": "` + keyID + `", "sig": "` + strings.Repeat("00", 600) + `"}`)},
		{"signature entry null", sigEntry(`null`)},
		{"too many signatures", sigEntry(strings.TrimSuffix(strings.Repeat(`{`+goodSig+`},`, limits.Signatures+1), ","))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := doc(tc.edits...)
			r, err := release.Parse(data)
			if !errors.Is(err, release.ErrMalformed) || r != nil {
				t.Fatalf("Parse = %v, %v; want ErrMalformed\n%s", r, err, data)
			}
		})
	}
}

// legacyDoc is what choria-io/go-updater's update-repo writes.
const legacyDoc = `{"binary": "choria.bz2", "hash": "` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `"}`

func TestParseLegacyUnsafe(t *testing.T) {
	r, err := release.ParseLegacyUnsafe([]byte(legacyDoc))
	if err != nil {
		t.Fatal(err)
	}
	if r.Binary != "choria.bz2" || r.Hash != "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" ||
		r.Size != 0 || r.CompressedSize != 0 || r.Version != "" || len(r.Signatures) != 0 {
		t.Fatalf("ParseLegacyUnsafe = %+v", *r)
	}
	// The signed format reads as a legacy one too.
	if _, err := release.ParseLegacyUnsafe(doc()); err != nil {
		t.Fatal(err)
	}
	if r, err := release.Parse([]byte(legacyDoc)); !errors.Is(err, release.ErrMalformed) || r != nil {
		t.Fatalf("Parse accepted go-updater's unsigned format: %v", err)
	}
	// Legacy is not lax about what is still dangerous.
	for name, data := range map[string]string{
		"path in binary":   `{"binary": "../choria.bz2", "hash": "` + hashA + `"}`,
		"bad hash":         `{"binary": "choria.bz2", "hash": "abc"}`,
		"duplicate binary": `{"binary": "choria.bz2", "binary": "x", "hash": "` + hashA + `"}`,
		"negative size":    `{"binary": "choria.bz2", "hash": "` + hashA + `", "size": -1}`,
		"bad version":      `{"binary": "choria.bz2", "hash": "` + hashA + `", "version": "../1"}`,
		"version, no os":   `{"binary": "choria.bz2", "hash": "` + hashA + `", "version": "1.0.0"}`,
	} {
		if r, err := release.ParseLegacyUnsafe([]byte(data)); !errors.Is(err, release.ErrMalformed) || r != nil {
			t.Errorf("%s: ParseLegacyUnsafe = %v, %v; want ErrMalformed", name, r, err)
		}
	}
}

func TestExpect(t *testing.T) {
	r := mustParse(t, doc())
	if err := r.Expect("1.2.3", "linux", "amd64"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, version, os, arch string }{
		{"version", "1.2.4", "linux", "amd64"},
		{"version with v prefix", "v1.2.3", "linux", "amd64"},
		{"os", "1.2.3", "darwin", "amd64"},
		{"arch", "1.2.3", "linux", "arm64"},
		{"everything", "0.1.0", "windows", "386"},
	} {
		if err := r.Expect(tc.version, tc.os, tc.arch); !errors.Is(err, release.ErrMismatch) {
			t.Errorf("%s: err = %v, want ErrMismatch", tc.name, err)
		}
	}
}

func TestPaths(t *testing.T) {
	r := mustParse(t, doc())
	for _, tc := range []struct {
		got  func() (string, error)
		want string
	}{
		{func() (string, error) { return release.Dir("1.2.3", "linux", "amd64") }, "1.2.3/linux/amd64"},
		{func() (string, error) { return release.Path("1.2.3", "linux", "amd64") }, "1.2.3/linux/amd64/release.json"},
		{r.PayloadPath, "1.2.3/linux/amd64/app.bz2"},
	} {
		got, err := tc.got()
		if err != nil || got != tc.want {
			t.Errorf("got %q, %v; want %q", got, err, tc.want)
		}
	}
	for _, args := range [][3]string{{"../1.0.0", "linux", "amd64"}, {"1.0.0", "..", "amd64"}, {"1.0.0", "linux", "../x"}} {
		if p, err := release.Path(args[0], args[1], args[2]); err == nil {
			t.Errorf("Path%q = %q, want an error", args, p)
		}
	}
	r.Binary = "../escape"
	if p, err := r.PayloadPath(); err == nil {
		t.Errorf("PayloadPath with binary %q = %q", r.Binary, p)
	}
}

func TestSignAndVerify(t *testing.T) {
	for _, typ := range []keys.Type{keys.Ed25519, keys.ECDSAP256} {
		t.Run(string(typ), func(t *testing.T) {
			priv, err := keys.Generate(typ)
			if err != nil {
				t.Fatal(err)
			}
			r := mustParse(t, doc())
			added, err := r.Sign(newSigner(t, priv))
			if err != nil || !added {
				t.Fatalf("Sign = %v, %v", added, err)
			}
			id, _ := keys.ID(priv.Public())
			ids, err := r.Verify(trusting(t, 1, priv))
			if err != nil || len(ids) != 1 || ids[0] != id {
				t.Fatalf("Verify = %v, %v; want [%s]", ids, err, id)
			}
			out, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := mustParse(t, out).Verify(trusting(t, 1, priv)); err != nil {
				t.Fatalf("marshaled release does not verify: %v", err)
			}
		})
	}
}

func TestVerifyThresholdTwoOfThree(t *testing.T) {
	a, b, c := mustKey(t), mustKey(t), mustKey(t)
	k := trusting(t, 2, a, b, c)
	r := mustParse(t, doc())
	r.Sign(newSigner(t, a))
	if _, err := r.Verify(k); !errors.Is(err, trust.ErrThreshold) {
		t.Fatalf("one of three keys met a threshold of 2: %v", err)
	}
	r.Sign(newSigner(t, c))
	if ids, err := r.Verify(k); err != nil || len(ids) != 2 {
		t.Fatalf("Verify = %v, %v; want two keys", ids, err)
	}
}

func mustKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := keys.Generate(keys.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVerifyRefusesUnsigned(t *testing.T) {
	for name, data := range map[string][]byte{"empty list": doc(), "no member": doc("signatures", "")} {
		ids, err := mustParse(t, data).Verify(trusting(t, 1, mustKey(t)))
		if !errors.Is(err, release.ErrUnsigned) || ids != nil {
			t.Errorf("%s: Verify = %v, %v; want ErrUnsigned", name, ids, err)
		}
	}
}

func TestRejectsWrongKey(t *testing.T) {
	r := mustParse(t, signedDoc(t, mustKey(t)))
	ids, err := r.Verify(trusting(t, 1, mustKey(t)))
	if !errors.Is(err, trust.ErrThreshold) || ids != nil {
		t.Fatalf("Verify = %v, %v; want trust.ErrThreshold", ids, err)
	}
}

// TestRejectsSignatureOverOtherBytes moves a genuine signature by the
// trusted key onto a document it was not made for.
func TestRejectsSignatureOverOtherBytes(t *testing.T) {
	priv := mustKey(t)
	k := trusting(t, 1, priv)
	s := newSigner(t, priv)
	id, _ := keys.ID(priv.Public())
	signed := mustParse(t, signedDoc(t, priv))
	whole, _ := signed.Marshal()
	withSig := func(msg []byte) []release.Signature {
		sig, err := keys.Sign(s, msg)
		if err != nil {
			t.Fatal(err)
		}
		return []release.Signature{{KeyID: id, Sig: hex.EncodeToString(sig)}}
	}
	for _, tc := range []struct {
		name string
		edit []string
		sigs []release.Signature
	}{
		{"signature of another version", []string{"version", `"1.2.4"`}, signed.Signatures},
		{"signature of another platform", []string{"os", `"darwin"`}, signed.Signatures},
		{"signature over the whole file", nil, withSig(whole)},
		{"signature over non-canonical JSON", nil, withSig(doc("signatures", ""))},
		{"signature over nothing", nil, withSig(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustParse(t, doc(tc.edit...))
			r.Signatures = tc.sigs
			if ids, err := r.Verify(k); !errors.Is(err, trust.ErrThreshold) || ids != nil {
				t.Fatalf("Verify = %v, %v; want trust.ErrThreshold", ids, err)
			}
		})
	}
}

// TestRejectsAddedUnsignedField checks that unknown members are signed: a
// mirror can neither add, change nor drop one.
func TestRejectsAddedUnsignedField(t *testing.T) {
	priv := mustKey(t)
	k := trusting(t, 1, priv)
	data := signedDoc(t, priv, "channel", `"stable"`)
	r := mustParse(t, data)
	if _, err := r.Verify(k); err != nil {
		t.Fatalf("signed release with an unknown member: %v", err)
	}
	if !bytes.Contains(data, []byte(`"channel": "stable"`)) {
		t.Fatalf("Marshal dropped the unknown member:\n%s", data)
	}
	for name, tampered := range map[string]string{
		"added member":        strings.Replace(string(data), "{", `{"url": "https://evil.example/app.bz2",`, 1),
		"added empty member":  strings.Replace(string(data), "{", `{"":null,`, 1),
		"changed member":      strings.Replace(string(data), `"stable"`, `"beta"`, 1),
		"dropped member":      strings.Replace(string(data), `"channel": "stable",`, "", 1),
		"changed known field": strings.Replace(string(data), `"app.bz2"`, `"evil.bz2"`, 1),
		"changed size":        strings.Replace(string(data), `1000`, `1001`, 1),
	} {
		if tampered == string(data) {
			t.Fatalf("%s: test bug: nothing replaced", name)
		}
		r, err := release.Parse([]byte(tampered))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ids, err := r.Verify(k); !errors.Is(err, trust.ErrThreshold) {
			t.Errorf("%s: Verify = %v, %v; want trust.ErrThreshold", name, ids, err)
		}
	}
}

func TestMarshalParseRoundTrip(t *testing.T) {
	r := mustParse(t, doc(
		"notes", `{"z": [1, -2, "say \"hi\" \\ \u00e9 <b>&amp;", null, false], "a": {}}`,
		"a_first", `[]`,
		"signatures", `[{"keyid": "`+keyID+`", "sig": "00ff"}]`))
	want, err := r.SigningBytes()
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r2 := mustParse(t, out)
	got, err := r2.SigningBytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("signing bytes changed in a round trip:\n%s\n%s", want, got)
	}
	if len(r2.Signatures) != 1 || r2.Signatures[0] != r.Signatures[0] {
		t.Fatalf("signatures changed: %v", r2.Signatures)
	}
	out2, err := r2.Marshal()
	if err != nil || !bytes.Equal(out, out2) {
		t.Fatalf("Marshal is not stable: %v\n%s\n%s", err, out, out2)
	}
}

func TestMarshalRefusesInvalidRelease(t *testing.T) {
	r := mustParse(t, doc())
	r.Binary = "../../bin/sh"
	if out, err := r.Marshal(); err == nil {
		t.Fatalf("Marshal wrote a release with binary %q:\n%s", r.Binary, out)
	}
}

func TestSignTwiceIsNoOp(t *testing.T) {
	for _, typ := range []keys.Type{keys.Ed25519, keys.ECDSAP256} {
		t.Run(string(typ), func(t *testing.T) {
			priv, _ := keys.Generate(typ)
			s := newSigner(t, priv)
			r := mustParse(t, doc())
			if added, err := r.Sign(s); !added || err != nil {
				t.Fatalf("first Sign = %v, %v", added, err)
			}
			first := r.Signatures[0]
			if added, err := r.Sign(s); added || err != nil {
				t.Fatalf("second Sign = %v, %v; want false, nil", added, err)
			}
			if len(r.Signatures) != 1 || r.Signatures[0] != first {
				t.Fatalf("signatures after signing twice: %v", r.Signatures)
			}
			// Another key adds a second entry.
			if added, err := r.Sign(newSigner(t, mustKey(t))); !added || err != nil || len(r.Signatures) != 2 {
				t.Fatalf("Sign by a second key = %v, %v, %d entries", added, err, len(r.Signatures))
			}
		})
	}
}

func TestSignReplacesInvalidSignatureBySameKey(t *testing.T) {
	priv := mustKey(t)
	id, _ := keys.ID(priv.Public())
	r := mustParse(t, doc("signatures", `[{"keyid": "`+id+`", "sig": "00ff"}]`))
	if added, err := r.Sign(newSigner(t, priv)); !added || err != nil {
		t.Fatalf("Sign = %v, %v", added, err)
	}
	if len(r.Signatures) != 1 || r.Signatures[0].Sig == "00ff" {
		t.Fatalf("invalid signature kept: %v", r.Signatures)
	}
	if _, err := r.Verify(trusting(t, 1, priv)); err != nil {
		t.Fatal(err)
	}
}

// goldenSigningBytes is the canonical JSON of doc("notes", ...) below,
// written out by hand from the OLPC canonical JSON rules.
const goldenSigningBytes = `{"arch":"amd64","binary":"app.bz2",` +
	`"compressed_hash":"2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b","compressed_size":500,` +
	`"hash":"1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a",` +
	`"notes":{"a":true,"z":[1,"say \"hi\" \\ é <b>"]},"os":"linux","size":1000,"version":"1.2.3"}`

func TestSigningBytesGolden(t *testing.T) {
	r := mustParse(t, doc("notes", `{"z": [1, "say \"hi\" \\ \u00e9 \u003cb>"], "a": true}`))
	got, err := r.SigningBytes()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != goldenSigningBytes {
		t.Fatalf("signing bytes:\n%s\nwant\n%s", got, goldenSigningBytes)
	}
	// Signing changes the document, not the signing bytes, and Ed25519
	// signs exactly these bytes (pure Ed25519, no pre-hash).
	priv := fixedKey()
	if _, err := r.Sign(newSigner(t, priv)); err != nil {
		t.Fatal(err)
	}
	again, _ := r.SigningBytes()
	if !bytes.Equal(again, got) || bytes.Contains(again, []byte("signatures")) {
		t.Fatalf("signing bytes changed after signing:\n%s", again)
	}
	if want := hex.EncodeToString(ed25519.Sign(priv, []byte(goldenSigningBytes))); r.Signatures[0].Sig != want {
		t.Fatalf("signature %s, want pure Ed25519 over the golden bytes %s", r.Signatures[0].Sig, want)
	}
}
