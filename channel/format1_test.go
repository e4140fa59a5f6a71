package channel_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/platform"
	"github.com/safeupdate/safeupdate/internal/strictjson"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// format1Accepts is the channel reader of the clients already deployed
// before staged rollouts (channel.Parse and Verify at commit da621b9),
// frozen here and never to be edited: it stands for those clients, so
// tests can show what they do with what today's publisher writes. It
// returns the release such a client would install.
//
// Its one rule that matters for rollouts: members of "signed" it does not
// know are ignored, and the _type must be "channel".
func format1Accepts(data []byte, v trust.Verifier, name string, now time.Time) (string, error) {
	if len(data) > limits.ChannelJSON {
		return "", errors.New("too large")
	}
	if err := strictjson.Check(data); err != nil {
		return "", err
	}
	doc, err := strictjson.Decode(data)
	if err != nil {
		return "", err
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return "", errors.New("want a JSON object")
	}
	for m := range top {
		if m != "signed" && m != "signatures" {
			return "", fmt.Errorf("unknown top-level member %q", m)
		}
	}
	signed, ok := top["signed"].(map[string]any)
	if !ok {
		return "", errors.New(`"signed" is missing or not an object`)
	}
	str := func(m string) string { s, _ := signed[m].(string); return s }
	if typ := str("_type"); typ != "channel" {
		return "", fmt.Errorf("_type is %q, not %q", typ, "channel")
	}
	if !regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`).MatchString(str("name")) {
		return "", errors.New("bad name")
	}
	seq, ok := signed["version"].(interface{ Int64() (int64, error) })
	if !ok {
		return "", errors.New("bad version")
	}
	if n, err := seq.Int64(); err != nil || n < 1 {
		return "", errors.New("bad version")
	}
	expires, err := time.Parse(time.RFC3339, str("expires"))
	if err != nil || !strings.HasSuffix(str("expires"), "Z") {
		return "", errors.New("bad expires")
	}
	if err := release.ValidVersion(str("release")); err != nil {
		return "", err
	}
	list, _ := signed["platforms"].([]any)
	if len(list) == 0 {
		return "", errors.New("no platforms")
	}
	for _, p := range list {
		s, _ := p.(string)
		goos, goarch, _ := strings.Cut(s, "/")
		if !platform.Known(goos, goarch) {
			return "", fmt.Errorf("platform %q", s)
		}
	}
	sigList, _ := top["signatures"].([]any)
	var sigs []trust.Signature
	for _, e := range sigList {
		obj, _ := e.(map[string]any)
		id, _ := obj["keyid"].(string)
		hx, _ := obj["sig"].(string)
		b, err := hex.DecodeString(hx)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, trust.Signature{KeyID: id, Sig: b})
	}
	if len(sigs) == 0 {
		return "", errors.New("unsigned")
	}
	msg, err := cjson.EncodeCanonical(signed)
	if err != nil {
		return "", err
	}
	if _, err := v.Verify(msg, sigs); err != nil {
		return "", err
	}
	if str("name") != name {
		return "", errors.New("another name")
	}
	if !now.Before(expires) {
		return "", errors.New("expired")
	}
	return str("release"), nil
}
