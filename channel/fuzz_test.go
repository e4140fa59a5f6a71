package channel_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/keys"
)

// FuzzChannelParse checks, for any bytes: no panic; a nil channel exactly
// when an error is returned; an accepted channel survives Marshal and Parse
// with the same signed bytes; and one that Verify accepts carries a
// signature by the channel key over the canonical JSON of its "signed"
// member, checked here without the package's own code.
func FuzzChannelParse(f *testing.F) {
	r := chSetup(f)
	good := chSigned(f, "stable", 4, chExpires, r.channel)
	f.Add(good)
	f.Add(chSigned(f, "beta", 1, chExpires, r.rel, r.channel))
	f.Add(chStaged(f, 2, 10_000, r.channel))
	f.Add(bytes.Replace(good, []byte(`"release"`), []byte(`"release": null, "x"`), 1))
	f.Add([]byte(`{"signed":{},"signatures":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := channel.Parse(in)
		if (c == nil) == (err == nil) {
			t.Fatalf("channel %v with error %v", c, err)
		}
		if c == nil {
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("an accepted channel does not marshal: %v", err)
		}
		again, err := channel.Parse(out)
		if err != nil {
			t.Fatalf("Marshal's output does not parse: %v", err)
		}
		m1, err1 := c.SigningBytes()
		m2, err2 := again.SigningBytes()
		if err1 != nil || err2 != nil || !bytes.Equal(m1, m2) {
			t.Fatal("the signed bytes changed through Marshal")
		}
		if c.Verify(r.root.Timestamp(), chNow, c.Name(), 0) != nil {
			return
		}
		var doc struct {
			Signed     json.RawMessage
			Signatures []struct{ KeyID, Sig string }
		}
		if err := json.Unmarshal(in, &doc); err != nil {
			t.Fatal(err)
		}
		var signed any
		dec := json.NewDecoder(bytes.NewReader(doc.Signed))
		dec.UseNumber()
		if err := dec.Decode(&signed); err != nil {
			t.Fatal(err)
		}
		msg, err := cjson.EncodeCanonical(signed)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range doc.Signatures {
			sig, _ := hex.DecodeString(s.Sig)
			if s.KeyID == r.channel.id && keys.Verify(r.channel.pub, msg, sig) == nil {
				return
			}
		}
		t.Fatal("Verify accepted a channel the channel key did not sign")
	})
}
