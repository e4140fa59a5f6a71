package release_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// FuzzParse checks that Parse returns nil with every error, and that what it
// accepts survives Marshal and Parse with the same signing bytes.
func FuzzParse(f *testing.F) {
	f.Add(doc())
	f.Add(doc("x", `{"a": [1, -2, "\u00e9\"\\", null, true]}`, "signatures", `[{"keyid": "`+keyID+`", "sig": "00ff"}]`))
	f.Add([]byte(legacyDoc))
	f.Add(signedDoc(f, fixedKey(), "channel", `"stable"`))
	f.Add(doc("patches", "["+patchJSON()+"]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := release.Parse(data)
		if err != nil {
			if r != nil {
				t.Fatalf("Parse returned a release with error %v", err)
			}
			return
		}
		for _, p := range r.Patches {
			if err := release.ValidName(p.File); err != nil || p.File == r.Binary {
				t.Fatalf("accepted patch file %q: %v", p.File, err)
			}
			if _, err := r.PatchPath(p); err != nil {
				t.Fatalf("accepted patch has no path: %v", err)
			}
		}
		want, err := r.SigningBytes()
		if err != nil {
			t.Fatalf("accepted release has no signing bytes: %v", err)
		}
		if _, err := release.ParseLegacyUnsafe(data); err != nil {
			t.Fatalf("ParseLegacyUnsafe refuses what Parse accepts: %v", err)
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("accepted release does not marshal: %v", err)
		}
		r2, err := release.Parse(out)
		if err != nil {
			t.Fatalf("marshaled release does not parse: %v\n%s", err, out)
		}
		got, err := r2.SigningBytes()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("signing bytes changed in a round trip (%v):\n%s\n%s", err, want, got)
		}
		if len(r2.Signatures) != len(r.Signatures) {
			t.Fatalf("%d signatures became %d", len(r.Signatures), len(r2.Signatures))
		}
	})
}

// FuzzVerify checks that a release accepted against the fixed key is really
// signed by it over the canonical JSON of the document, and that flipping a
// byte of any signed member's value is rejected or changes nothing signed.
func FuzzVerify(f *testing.F) {
	priv := fixedKey()
	pub := priv.Public()
	k := trusting(f, 1, priv)
	id, err := keys.ID(pub)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signedDoc(f, priv), uint(0), byte(1))
	f.Add(signedDoc(f, priv, "notes", `{"b": [1, "\u00e9"], "a": null}`), uint(123), byte(0x20))
	f.Add(signedDoc(f, priv, "patches", "["+patchJSON()+"]"), uint(300), byte(1))
	f.Fuzz(func(t *testing.T, data []byte, pick uint, mask byte) {
		r, err := release.Parse(data)
		if err != nil {
			return
		}
		if _, err := r.Verify(k); err != nil {
			return
		}
		msg := canonicalWithoutSignatures(t, data)
		if sb, err := r.SigningBytes(); err != nil || !bytes.Equal(sb, msg) {
			t.Fatalf("signing bytes are not the canonical document (%v):\n%s\n%s", err, sb, msg)
		}
		signed := false
		for _, s := range r.Signatures {
			sig, err := hex.DecodeString(s.Sig)
			if err == nil && s.KeyID == id && keys.Verify(pub, msg, sig) == nil {
				signed = true
			}
		}
		if !signed {
			t.Fatal("accepted a release the trusted key did not sign")
		}

		spans := signedValueSpans(t, data)
		total := 0
		for _, s := range spans {
			total += s[1] - s[0]
		}
		if total == 0 {
			t.Fatal("accepted a release with no signed values")
		}
		n := int(pick % uint(total))
		pos := 0
		for _, s := range spans {
			if n < s[1]-s[0] {
				pos = s[0] + n
				break
			}
			n -= s[1] - s[0]
		}
		if mask == 0 {
			mask = 1
		}
		tampered := bytes.Clone(data)
		tampered[pos] ^= mask
		r2, err := release.Parse(tampered)
		if err != nil {
			return
		}
		if _, err := r2.Verify(k); err != nil {
			return
		}
		if got := canonicalWithoutSignatures(t, tampered); !bytes.Equal(got, msg) {
			t.Fatalf("flipping byte %d (%q) was accepted and changed the signed content:\n%s\n%s", pos, data[pos], msg, got)
		}
	})
}

// canonicalWithoutSignatures computes what should be signed without the
// release package: the canonical JSON of the document minus "signatures".
func canonicalWithoutSignatures(t *testing.T, data []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("accepted document is not a JSON object: %v", err)
	}
	delete(obj, "signatures")
	b, err := cjson.EncodeCanonical(obj)
	if err != nil {
		t.Fatalf("accepted document has no canonical form: %v", err)
	}
	return b
}

// signedValueSpans returns the byte ranges [start, end) of the values of all
// top-level members but "signatures".
func signedValueSpans(t *testing.T, data []byte) [][2]int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var spans [][2]int
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		start := int(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		end := int(dec.InputOffset())
		for start < end && bytes.IndexByte([]byte(" \t\r\n:"), data[start]) >= 0 {
			start++
		}
		if key != "signatures" {
			spans = append(spans, [2]int{start, end})
		}
	}
	return spans
}
