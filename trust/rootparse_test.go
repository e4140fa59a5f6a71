package trust_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

// rtDoc decodes a root as generic JSON to be tampered with.
func rtDoc(t testing.TB, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// rtResign replaces doc's signatures with fresh ones by ks over its signed
// part, so that only the tampering can be the reason for a refusal.
func rtResign(t testing.TB, doc map[string]any, ks ...rtKey) []byte {
	t.Helper()
	msg, err := cjson.EncodeCanonical(doc["signed"])
	if err != nil {
		t.Fatal(err)
	}
	sigs := []any{}
	for _, k := range ks {
		sig, err := keys.Sign(k.signer, msg)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, map[string]any{"keyid": k.id, "sig": hex.EncodeToString(sig)})
	}
	doc["signatures"] = sigs
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func rtSigned(doc map[string]any) map[string]any { return doc["signed"].(map[string]any) }

func rtObj(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

// rtAddKey lists k in doc's keys and in role, as a key of its own id.
func rtAddKey(t testing.TB, doc map[string]any, role string, k *metadata.Key) string {
	t.Helper()
	id, err := k.ID()
	if err != nil {
		t.Fatal(err)
	}
	rtObj(rtSigned(doc), "keys")[id] = map[string]any{"keytype": k.Type, "scheme": k.Scheme, "keyval": map[string]any{"public": k.Value.PublicKey}}
	r := rtObj(rtSigned(doc), "roles", role)
	r["keyids"] = append(r["keyids"].([]any), id)
	return id
}

func TestRejectsShortEd25519KeyInRoot(t *testing.T) {
	c := rtCast(t)
	_, data := rtFirst(t, c)
	for _, n := range []int{0, 31, 33, 64} {
		doc := rtDoc(t, data)
		pub := make([]byte, n)
		rand.Read(pub)
		rtAddKey(t, doc, trust.RoleTargets, &metadata.Key{Type: "ed25519", Scheme: "ed25519", Value: metadata.KeyVal{PublicKey: hex.EncodeToString(pub)}})
		r, err := trust.NewRoot(rtResign(t, doc, c.a))
		if !errors.Is(err, trust.ErrMalformedRoot) || r != nil {
			t.Fatalf("ed25519 key of %d bytes: got %v, want ErrMalformedRoot", n, err)
		}
		if !errors.Is(err, keys.ErrUnsupportedKey) && !strings.Contains(err.Error(), "bytes") {
			t.Errorf("%d bytes: the error does not say why: %v", n, err)
		}
	}
}

func TestRejectsNullFieldsInRoot(t *testing.T) {
	c := rtCast(t)
	_, data := rtFirst(t, c)
	for _, tc := range []struct {
		name string
		set  func(doc map[string]any)
	}{
		{"signed", func(d map[string]any) { d["signed"] = nil }},
		{"signatures", func(d map[string]any) { d["signatures"] = nil }},
		{"a signature", func(d map[string]any) { d["signatures"].([]any)[0] = nil }},
		{"a signature's sig", func(d map[string]any) { d["signatures"].([]any)[0].(map[string]any)["sig"] = nil }},
		{"roles", func(d map[string]any) { rtSigned(d)["roles"] = nil }},
		{"role root", func(d map[string]any) { rtObj(rtSigned(d), "roles")["root"] = nil }},
		{"role keyids", func(d map[string]any) { rtObj(rtSigned(d), "roles", "targets")["keyids"] = nil }},
		{"a keyid", func(d map[string]any) { rtObj(rtSigned(d), "roles", "root")["keyids"].([]any)[0] = nil }},
		{"keys", func(d map[string]any) { rtSigned(d)["keys"] = nil }},
		{"a key", func(d map[string]any) { rtObj(rtSigned(d), "keys")[c.a.id] = nil }},
		{"keyval", func(d map[string]any) { rtObj(rtSigned(d), "keys", c.a.id)["keyval"] = nil }},
		{"public", func(d map[string]any) { rtObj(rtSigned(d), "keys", c.a.id, "keyval")["public"] = nil }},
		{"expires", func(d map[string]any) { rtSigned(d)["expires"] = nil }},
		{"version", func(d map[string]any) { rtSigned(d)["version"] = nil }},
		{"an unknown member", func(d map[string]any) { rtSigned(d)["x-extra"] = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := rtDoc(t, data)
			tc.set(doc)
			tampered := rtResign(t, doc, c.a)
			if tc.name == "signatures" || strings.HasPrefix(tc.name, "a signature") {
				doc = rtDoc(t, data)
				tc.set(doc)
				tampered, _ = json.Marshal(doc)
			}
			r, err := trust.NewRoot(tampered)
			if !errors.Is(err, trust.ErrMalformedRoot) || r != nil || !strings.Contains(err.Error(), "null") {
				t.Fatalf("got %v, want ErrMalformedRoot naming the null", err)
			}
			if _, err := trust.ParseRootDraft(tampered); !errors.Is(err, trust.ErrMalformedRoot) {
				t.Errorf("ParseRootDraft: got %v", err)
			}
		})
	}
}

func TestRejectsMalformedRoot(t *testing.T) {
	c := rtCast(t)
	_, data := rtFirst(t, c)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384PEM, err := cryptoutils.MarshalPublicKeyToPEM(p384.Public())
	if err != nil {
		t.Fatal(err)
	}
	edPub := c.t2.pub // an ECDSA key, to be relabelled
	edPEM, err := cryptoutils.MarshalPublicKeyToPEM(edPub)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tamper func(d map[string]any)
	}{
		{"a fifth role", func(d map[string]any) {
			rtObj(rtSigned(d), "roles")["mirrors"] = map[string]any{"keyids": []any{c.a.id}, "threshold": json.Number("1")}
		}},
		{"a missing role", func(d map[string]any) { delete(rtObj(rtSigned(d), "roles"), "snapshot") }},
		{"threshold 0", func(d map[string]any) { rtObj(rtSigned(d), "roles", "targets")["threshold"] = json.Number("0") }},
		{"threshold above keys", func(d map[string]any) { rtObj(rtSigned(d), "roles", "targets")["threshold"] = json.Number("2") }},
		{"negative threshold", func(d map[string]any) { rtObj(rtSigned(d), "roles", "root")["threshold"] = json.Number("-1") }},
		{"key under another id", func(d map[string]any) {
			keysObj := rtObj(rtSigned(d), "keys")
			keysObj[c.b.id] = keysObj[c.t1.id]
			delete(keysObj, c.t1.id)
			rtObj(rtSigned(d), "roles", "targets")["keyids"] = []any{c.b.id}
		}},
		{"role names a missing key", func(d map[string]any) { rtObj(rtSigned(d), "roles", "targets")["keyids"] = []any{c.b.id} }},
		{"role names a key twice", func(d map[string]any) { rtObj(rtSigned(d), "roles", "targets")["keyids"] = []any{c.t1.id, c.t1.id} }},
		{"a key in no role", func(d map[string]any) {
			k, _ := keys.TUFKey(c.b.pub)
			id, _ := k.ID()
			rtObj(rtSigned(d), "keys")[id] = map[string]any{"keytype": k.Type, "scheme": k.Scheme, "keyval": map[string]any{"public": k.Value.PublicKey}}
		}},
		{"ecdsa P-384 key", func(d map[string]any) {
			rtAddKey(t, d, "targets", &metadata.Key{Type: "ecdsa", Scheme: "ecdsa-sha2-nistp384", Value: metadata.KeyVal{PublicKey: string(p384PEM)}})
		}},
		{"ecdsa keytype spelled the spec's way", func(d map[string]any) {
			rtAddKey(t, d, "targets", &metadata.Key{Type: "ecdsa-sha2-nistp256", Scheme: "ecdsa-sha2-nistp256", Value: metadata.KeyVal{PublicKey: string(edPEM)}})
		}},
		{"rsa keytype", func(d map[string]any) {
			rtAddKey(t, d, "targets", &metadata.Key{Type: "rsa", Scheme: "rsassa-pss-sha256", Value: metadata.KeyVal{PublicKey: string(edPEM)}})
		}},
		{"upper-case ed25519 hex", func(d map[string]any) {
			rtAddKey(t, d, "targets", &metadata.Key{Type: "ed25519", Scheme: "ed25519", Value: metadata.KeyVal{PublicKey: strings.ToUpper(hex.EncodeToString(c.t3.pub.(ed25519.PublicKey)))}})
		}},
		{"unknown member in signed", func(d map[string]any) { rtSigned(d)["x-note"] = "hello" }},
		{"unknown member in a role", func(d map[string]any) { rtObj(rtSigned(d), "roles", "root")["paths"] = []any{} }},
		{"unknown member in a key", func(d map[string]any) { rtObj(rtSigned(d), "keys", c.a.id)["x"] = "y" }},
		{"member name in another case", func(d map[string]any) { s := rtSigned(d); s["Version"] = s["version"]; delete(s, "version") }},
		{"unknown top-level member", func(d map[string]any) { d["extra"] = json.Number("1") }},
		{"wrong _type", func(d map[string]any) { rtSigned(d)["_type"] = "targets" }},
		{"spec_version 2", func(d map[string]any) { rtSigned(d)["spec_version"] = "2.0.0" }},
		{"version 0", func(d map[string]any) { rtSigned(d)["version"] = json.Number("0") }},
		{"expires with an offset", func(d map[string]any) { rtSigned(d)["expires"] = "2031-01-01T12:00:00+01:00" }},
		{"expires with fractions", func(d map[string]any) { rtSigned(d)["expires"] = "2031-01-01T12:00:00.5Z" }},
		{"expires not a time", func(d map[string]any) { rtSigned(d)["expires"] = "2031-13-01T12:00:00Z" }},
		{"signed is an array", func(d map[string]any) { d["signed"] = []any{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := rtDoc(t, data)
			tc.tamper(doc)
			r, err := trust.NewRoot(rtResign(t, doc, c.a))
			if !errors.Is(err, trust.ErrMalformedRoot) || r != nil {
				t.Fatalf("got %v, want ErrMalformedRoot", err)
			}
			t.Log(err)
		})
	}
}

func TestRejectsNonCanonicalRootJSON(t *testing.T) {
	c := rtCast(t)
	_, data := rtFirst(t, c)
	dupKey := bytes.Replace(data, []byte(`"signed": {`), []byte(`"signed": {"version": 1,`), 1)
	float := bytes.Replace(data, []byte(`"version": 1`), []byte(`"version": 1.0`), 1)
	for name, in := range map[string][]byte{
		"duplicate key":      dupKey,
		"float":              float,
		"trailing data":      append(bytes.Clone(data), "{}"...),
		"too large":          append(bytes.Clone(data), bytes.Repeat([]byte(" "), limits.RootJSON)...),
		"not an object":      []byte(`[]`),
		"invalid UTF-8":      append([]byte(`{"signed":"`), 0xff, '"', '}'),
		"deeply nested":      []byte(strings.Repeat("[", 10000)),
		"missing signatures": []byte(`{"signed":{"_type":"root","expires":"2031-01-01T00:00:00Z"}}`),
	} {
		if r, err := trust.NewRoot(in); !errors.Is(err, trust.ErrMalformedRoot) || r != nil {
			t.Errorf("%s: got %v, want ErrMalformedRoot", name, err)
		}
	}
}
