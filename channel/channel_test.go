package channel_test

import (
	"bytes"
	"crypto"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

var (
	chNow     = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	chExpires = chNow.Add(7 * 24 * time.Hour)
)

type chKey struct {
	signer signature.Signer
	pub    crypto.PublicKey
	id     string
}

func chNewKey(t testing.TB, typ keys.Type) chKey {
	t.Helper()
	priv, err := keys.Generate(typ)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	id, err := keys.ID(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return chKey{signer: s, pub: priv.Public(), id: id}
}

// chRepo is a trust root with a root key, a release key and a channel key.
type chRepo struct {
	root           *trust.Root
	rootKey, rel   chKey
	channel, other chKey
}

func chSetup(t testing.TB) chRepo {
	t.Helper()
	c := chRepo{rootKey: chNewKey(t, keys.Ed25519), rel: chNewKey(t, keys.Ed25519),
		channel: chNewKey(t, keys.ECDSAP256), other: chNewKey(t, keys.Ed25519)}
	role := func(k chKey) trust.RoleKeys { return trust.RoleKeys{Keys: []crypto.PublicKey{k.pub}, Threshold: 1} }
	d := trust.NewRootDraft(role(c.rootKey), role(c.rel), role(c.channel), chNow.AddDate(1, 0, 0))
	if _, err := d.Sign(c.rootKey.signer); err != nil {
		t.Fatal(err)
	}
	data, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if c.root, err = trust.NewRoot(data); err != nil {
		t.Fatal(err)
	}
	return c
}

// chSigned writes a channel signed by ks.
func chSigned(t testing.TB, name string, seq int64, expires time.Time, ks ...chKey) []byte {
	t.Helper()
	c, err := channel.New(name, "0.7.0", []string{"linux/amd64", "darwin/arm64"}, seq, expires)
	if err != nil {
		t.Fatal(err)
	}
	return chSignBytes(t, c, ks...)
}

// chSignBytes signs c by ks and returns the file.
func chSignBytes(t testing.TB, c *channel.Channel, ks ...chKey) []byte {
	t.Helper()
	for _, k := range ks {
		if _, err := c.Sign(k.signer); err != nil {
			t.Fatal(err)
		}
	}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func chParse(t testing.TB, data []byte) *channel.Channel {
	t.Helper()
	c, err := channel.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChannelRoundTrip(t *testing.T) {
	r := chSetup(t)
	c := chParse(t, chSigned(t, "stable", 3, chExpires.Add(time.Millisecond), r.channel))
	if err := c.Verify(r.root.Timestamp(), chNow, "stable", 0); err != nil {
		t.Fatal(err)
	}
	if c.Name() != "stable" || c.Seq() != 3 || c.Release() != "0.7.0" || !c.Expires().Equal(chExpires) {
		t.Errorf("read %q %d %q %v", c.Name(), c.Seq(), c.Release(), c.Expires())
	}
	if got := c.Platforms(); !slices.Equal(got, []string{"darwin/arm64", "linux/amd64"}) {
		t.Errorf("platforms %v", got)
	}
	if !c.HasPlatform("linux", "amd64") || c.HasPlatform("linux", "arm64") {
		t.Error("HasPlatform is wrong")
	}
	if added, err := c.Sign(r.channel.signer); added || err != nil {
		t.Errorf("signing twice: added %v, %v", added, err)
	}
	if p, err := channel.Path("stable"); p != "channels/stable.json" || err != nil {
		t.Errorf("Path = %q, %v", p, err)
	}
}

func TestRejectsExpiredChannel(t *testing.T) {
	r := chSetup(t)
	c := chParse(t, chSigned(t, "stable", 1, chNow.Add(-time.Hour), r.channel))
	if err := c.Verify(r.root.Timestamp(), chNow, "stable", 0); !errors.Is(err, channel.ErrExpired) {
		t.Errorf("got %v, want ErrExpired", err)
	}
	c = chParse(t, chSigned(t, "stable", 1, chNow, r.channel))
	if err := c.Verify(r.root.Timestamp(), chNow, "stable", 0); !errors.Is(err, channel.ErrExpired) {
		t.Errorf("at the expiry instant: got %v, want ErrExpired", err)
	}
}

func TestRejectsReplayedChannel(t *testing.T) {
	r := chSetup(t)
	old := chParse(t, chSigned(t, "stable", 5, chExpires, r.channel))
	for _, tc := range []struct {
		lastSeen int64
		want     error
	}{{0, nil}, {4, nil}, {5, nil}, {6, channel.ErrReplay}, {1 << 40, channel.ErrReplay}} {
		err := old.Verify(r.root.Timestamp(), chNow, "stable", tc.lastSeen)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("version 5 after seeing %d: got %v, want %v", tc.lastSeen, err, tc.want)
		}
	}
}

func TestRejectsChannelForOtherName(t *testing.T) {
	r := chSetup(t)
	beta := chParse(t, chSigned(t, "beta", 9, chExpires, r.channel))
	if err := beta.Verify(r.root.Timestamp(), chNow, "stable", 0); !errors.Is(err, channel.ErrMismatch) {
		t.Errorf("got %v, want ErrMismatch", err)
	}
}

func TestRejectsChannelSignedByTargetsKey(t *testing.T) {
	r := chSetup(t)
	c := chParse(t, chSigned(t, "stable", 1, chExpires, r.rel, r.other))
	if err := c.Verify(r.root.Timestamp(), chNow, "stable", 0); !errors.Is(err, trust.ErrThreshold) {
		t.Errorf("got %v, want trust.ErrThreshold", err)
	}
	if err := c.Verify(r.root.Targets(), chNow, "stable", 0); err != nil {
		t.Errorf("the same file does verify with the key that signed it: %v", err)
	}
}

func TestRejectsUnsignedChannel(t *testing.T) {
	r := chSetup(t)
	c := chParse(t, chSigned(t, "stable", 1, chExpires))
	if err := c.Verify(r.root.Timestamp(), chNow, "stable", 0); !errors.Is(err, channel.ErrUnsigned) {
		t.Errorf("got %v, want ErrUnsigned", err)
	}
}

// tamper decodes data, lets f change it and encodes it again, keeping the
// signatures.
func tamper(t testing.TB, data []byte, f func(doc, signed map[string]any)) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	f(doc, doc["signed"].(map[string]any))
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRejectsTamperedChannel(t *testing.T) {
	r := chSetup(t)
	data := chSigned(t, "stable", 2, chExpires, r.channel)
	for name, f := range map[string]func(doc, signed map[string]any){
		"release":        func(_, s map[string]any) { s["release"] = "0.6.0" },
		"expiry":         func(_, s map[string]any) { s["expires"] = "2039-01-01T00:00:00Z" },
		"version":        func(_, s map[string]any) { s["version"] = json.Number("99") },
		"platforms":      func(_, s map[string]any) { s["platforms"] = []any{"linux/amd64"} },
		"added a member": func(_, s map[string]any) { s["note"] = "unsigned" },
	} {
		c := chParse(t, tamper(t, data, f))
		if err := c.Verify(r.root.Timestamp(), chNow, "stable", 0); !errors.Is(err, trust.ErrThreshold) {
			t.Errorf("%s: got %v, want trust.ErrThreshold", name, err)
		}
	}
}

func TestChannelKeepsUnknownMembersSigned(t *testing.T) {
	r := chSetup(t)
	data := tamper(t, chSigned(t, "stable", 2, chExpires), func(_, s map[string]any) {
		s["notes"] = map[string]any{"url": "https://example.com/<notes>", "size": json.Number("12")}
	})
	c := chParse(t, data)
	if _, err := c.Sign(r.channel.signer); err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"https://example.com/<notes>"`)) {
		t.Errorf("the unknown member was not kept:\n%s", out)
	}
	if err := chParse(t, out).Verify(r.root.Timestamp(), chNow, "stable", 0); err != nil {
		t.Error(err)
	}
}

func TestRejectsMalformedChannel(t *testing.T) {
	r := chSetup(t)
	data := chSigned(t, "stable", 2, chExpires, r.channel)
	sig := func(d map[string]any) map[string]any { return d["signatures"].([]any)[0].(map[string]any) }
	for name, f := range map[string]func(doc, signed map[string]any){
		"null signed":         func(d, _ map[string]any) { d["signed"] = nil },
		"null signatures":     func(d, _ map[string]any) { d["signatures"] = nil },
		"null release":        func(_, s map[string]any) { s["release"] = nil },
		"null platform":       func(_, s map[string]any) { s["platforms"] = []any{nil} },
		"null in unknown":     func(_, s map[string]any) { s["x"] = nil },
		"null keyid":          func(d, _ map[string]any) { sig(d)["keyid"] = nil },
		"wrong _type":         func(_, s map[string]any) { s["_type"] = "root" },
		"no _type":            func(_, s map[string]any) { delete(s, "_type") },
		"path as name":        func(_, s map[string]any) { s["name"] = "../stable" },
		"upper-case name":     func(_, s map[string]any) { s["name"] = "Stable" },
		"version 0":           func(_, s map[string]any) { s["version"] = json.Number("0") },
		"version a string":    func(_, s map[string]any) { s["version"] = "2" },
		"version too big":     func(_, s map[string]any) { s["version"] = json.Number("99999999999999999999") },
		"expires offset":      func(_, s map[string]any) { s["expires"] = "2030-01-08T00:00:00+01:00" },
		"expires fractions":   func(_, s map[string]any) { s["expires"] = "2030-01-08T00:00:00.1Z" },
		"release not semver":  func(_, s map[string]any) { s["release"] = "1.0" },
		"release a path":      func(_, s map[string]any) { s["release"] = "../0.7.0" },
		"unknown platform":    func(_, s map[string]any) { s["platforms"] = []any{"linux/z80"} },
		"platform not split":  func(_, s map[string]any) { s["platforms"] = []any{"linux"} },
		"platform twice":      func(_, s map[string]any) { s["platforms"] = []any{"linux/amd64", "linux/amd64"} },
		"no platforms":        func(_, s map[string]any) { s["platforms"] = []any{} },
		"platforms a string":  func(_, s map[string]any) { s["platforms"] = "linux/amd64" },
		"extra top member":    func(d, _ map[string]any) { d["extra"] = "x" },
		"signature keyid":     func(d, _ map[string]any) { sig(d)["keyid"] = "ABC" },
		"signature not hex":   func(d, _ map[string]any) { sig(d)["sig"] = "zz" },
		"signature extra":     func(d, _ map[string]any) { sig(d)["x"] = "y" },
		"signature twice":     func(d, _ map[string]any) { d["signatures"] = append(d["signatures"].([]any), sig(d)) },
		"signatures not list": func(d, _ map[string]any) { d["signatures"] = map[string]any{} },
	} {
		c, err := channel.Parse(tamper(t, data, f))
		if !errors.Is(err, channel.ErrMalformed) || c != nil {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	dup := bytes.Replace(data, []byte(`"signed": {`), []byte(`"signed": {"name": "beta",`), 1)
	for name, in := range map[string][]byte{
		"duplicate key": dup,
		"float":         bytes.Replace(data, []byte(`"version": 2`), []byte(`"version": 2.0`), 1),
		"trailing data": append(bytes.Clone(data), '1'),
		"not an object": []byte(`"stable"`),
		"deep":          []byte(strings.Repeat(`{"a":`, 100)),
	} {
		if _, err := channel.Parse(in); !errors.Is(err, channel.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	big := append(bytes.Clone(data), bytes.Repeat([]byte(" "), limits.ChannelJSON)...)
	if _, err := channel.Parse(big); !errors.Is(err, channel.ErrTooLarge) {
		t.Errorf("too large: got %v, want ErrTooLarge", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, channel, version string
		platforms              []string
		seq                    int64
	}{
		{"bad name", "a/b", "1.0.0", []string{"linux/amd64"}, 1},
		{"bad version", "stable", "latest", []string{"linux/amd64"}, 1},
		{"no platforms", "stable", "1.0.0", nil, 1},
		{"unknown platform", "stable", "1.0.0", []string{"linux/amd65"}, 1},
		{"duplicate platform", "stable", "1.0.0", []string{"linux/amd64", "linux/amd64"}, 1},
		{"version 0", "stable", "1.0.0", []string{"linux/amd64"}, 0},
	} {
		if c, err := channel.New(tc.channel, tc.version, tc.platforms, tc.seq, chExpires); err == nil || c != nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
}
