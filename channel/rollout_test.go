package channel_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/trust"
)

// chStaged writes a channel of release 0.7.0 offered to ppm parts per
// million of clients, signed by ks.
func chStaged(t testing.TB, seq int64, ppm int64, ks ...chKey) []byte {
	t.Helper()
	c, err := channel.NewStaged("stable", "0.7.0", []string{"linux/amd64"}, seq, chExpires, ppm)
	if err != nil {
		t.Fatal(err)
	}
	return chSignBytes(t, c, ks...)
}

func TestStagedChannelRoundTrip(t *testing.T) {
	r := chSetup(t)
	data := chStaged(t, 3, 200_000, r.channel)
	if !bytes.Contains(data, []byte(`"_type": "channel-2"`)) || !bytes.Contains(data, []byte(`"rollout_ppm": 200000`)) {
		t.Errorf("a 20%% rollout is not written as channel-2 with rollout_ppm:\n%s", data)
	}
	c := chParse(t, data)
	if err := c.Verify(r.root.Timestamp(), chNow, "stable", 0); err != nil {
		t.Fatal(err)
	}
	if c.Rollout() != 200_000 {
		t.Errorf("Rollout() = %d, want 200000", c.Rollout())
	}
	paused := chParse(t, chStaged(t, 4, 0, r.channel))
	if paused.Rollout() != 0 || paused.Offers("any machine") {
		t.Errorf("a paused rollout: Rollout() = %d, offered %v", paused.Rollout(), paused.Offers("any machine"))
	}
	full := chStaged(t, 5, channel.Full, r.channel)
	if bytes.Contains(full, []byte("rollout_ppm")) || !bytes.Contains(full, []byte(`"_type": "channel"`)) {
		t.Errorf("a full rollout is not written as a plain channel:\n%s", full)
	}
	if c := chParse(t, full); c.Rollout() != channel.Full || !c.Offers("any machine") {
		t.Errorf("a full rollout: Rollout() = %d", c.Rollout())
	}
	if c := chParse(t, chSigned(t, "stable", 1, chExpires, r.channel)); c.Rollout() != channel.Full {
		t.Errorf("a channel without a rollout: Rollout() = %d, want Full", c.Rollout())
	}
	for _, ppm := range []int64{-1, channel.Full + 1} {
		if c, err := channel.NewStaged("stable", "0.7.0", []string{"linux/amd64"}, 1, chExpires, ppm); err == nil || c != nil {
			t.Errorf("NewStaged with %d ppm: no error", ppm)
		}
	}
}

// An old client ignores members of "signed" it does not know: had the
// rollout been one more member of a "channel", it would update every
// machine. It must refuse the file instead, and keep reading full ones.
func TestRejectsPartialRolloutInOldClients(t *testing.T) {
	r := chSetup(t)
	for _, ppm := range []int64{0, 10_000, 500_000, channel.Full - 1} {
		data := chStaged(t, 2, ppm, r.channel)
		if c := chParse(t, data); c.Rollout() != ppm {
			t.Fatalf("Rollout() = %d, want %d", c.Rollout(), ppm)
		}
		if got, err := format1Accepts(data, r.root.Timestamp(), "stable", chNow); err == nil {
			t.Errorf("a client of format 1 accepts a %s%% rollout as an update of every machine to %s", channel.FormatRollout(ppm), got)
		}
	}
	full := chStaged(t, 3, channel.Full, r.channel)
	if got, err := format1Accepts(full, r.root.Timestamp(), "stable", chNow); err != nil || got != "0.7.0" {
		t.Errorf("a client of format 1 does not read a full rollout: %q, %v", got, err)
	}
}

// A mirror that edits the rollout (to 100%, or to push a bad release to
// more machines) breaks the signature, whatever form the edit takes.
func TestRejectsEditedRollout(t *testing.T) {
	r := chSetup(t)
	data := chStaged(t, 2, 10_000, r.channel)
	for name, f := range map[string]func(doc, signed map[string]any){
		"raised":      func(_, s map[string]any) { s["rollout_ppm"] = json.Number("500000") },
		"lowered":     func(_, s map[string]any) { s["rollout_ppm"] = json.Number("0") },
		"made full":   func(_, s map[string]any) { s["_type"] = "channel"; delete(s, "rollout_ppm") },
		"almost full": func(_, s map[string]any) { s["rollout_ppm"] = json.Number("999999") },
	} {
		c := chParse(t, tamper(t, data, f))
		if err := c.Verify(r.root.Timestamp(), chNow, "stable", 0); !errors.Is(err, trust.ErrThreshold) {
			t.Errorf("%s: got %v, want trust.ErrThreshold", name, err)
		}
	}
}

// A signed format has one encoding: a rollout is present exactly in a
// channel-2, as an integer below Full.
func TestRejectsNonCanonicalRollout(t *testing.T) {
	r := chSetup(t)
	staged := chStaged(t, 2, 10_000, r.channel)
	plain := chSigned(t, "stable", 2, chExpires, r.channel)
	for name, in := range map[string][]byte{
		"rollout in a channel":   tamper(t, plain, func(_, s map[string]any) { s["rollout_ppm"] = json.Number("10000") }),
		"full in a channel":      tamper(t, plain, func(_, s map[string]any) { s["rollout_ppm"] = json.Number("1000000") }),
		"channel-2 without":      tamper(t, staged, func(_, s map[string]any) { delete(s, "rollout_ppm") }),
		"channel-2 at full":      tamper(t, staged, func(_, s map[string]any) { s["rollout_ppm"] = json.Number("1000000") }),
		"over full":              tamper(t, staged, func(_, s map[string]any) { s["rollout_ppm"] = json.Number("2000000") }),
		"negative":               tamper(t, staged, func(_, s map[string]any) { s["rollout_ppm"] = json.Number("-1") }),
		"a string":               tamper(t, staged, func(_, s map[string]any) { s["rollout_ppm"] = "10000" }),
		"a percentage string":    tamper(t, staged, func(_, s map[string]any) { s["rollout_ppm"] = "1%" }),
		"an object":              tamper(t, staged, func(_, s map[string]any) { s["rollout_ppm"] = map[string]any{} }),
		"a decimal":              bytes.Replace(staged, []byte(`"rollout_ppm": 10000`), []byte(`"rollout_ppm": 10000.0`), 1),
		"an exponent":            bytes.Replace(staged, []byte(`"rollout_ppm": 10000`), []byte(`"rollout_ppm": 1e4`), 1),
		"a leading zero":         bytes.Replace(staged, []byte(`"rollout_ppm": 10000`), []byte(`"rollout_ppm": 010000`), 1),
		"twice":                  bytes.Replace(staged, []byte(`"rollout_ppm": 10000`), []byte(`"rollout_ppm": 10000, "rollout_ppm": 900000`), 1),
		"another _type":          tamper(t, staged, func(_, s map[string]any) { s["_type"] = "channel-3" }),
		"channel-2 upper-case":   tamper(t, staged, func(_, s map[string]any) { s["_type"] = "Channel-2" }),
		"null rollout":           tamper(t, staged, func(_, s map[string]any) { s["rollout_ppm"] = nil }),
		"rollout in a channel 0": tamper(t, plain, func(_, s map[string]any) { s["rollout_ppm"] = json.Number("0") }),
	} {
		if c, err := channel.Parse(in); !errors.Is(err, channel.ErrMalformed) || c != nil {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseRollout(t *testing.T) {
	for _, tc := range []struct {
		in  string
		ppm int64
	}{
		{"0", 0}, {"100", channel.Full}, {"100.0", channel.Full}, {"20", 200_000}, {"0.5", 5000},
		{"12.3456", 123_456}, {"0.0001", 1}, {"99.9999", 999_999}, {"1", 10_000},
	} {
		got, err := channel.ParseRollout(tc.in)
		if err != nil || got != tc.ppm {
			t.Errorf("ParseRollout(%q) = %d, %v; want %d", tc.in, got, err, tc.ppm)
		}
	}
	for _, in := range []string{"", "-1", "100.0001", "101", "0.00001", "1e2", "20%", ".5", "5.", " 5", "0x10", "+5", "1,5", "NaN", "Inf", "99999999999999999999"} {
		if got, err := channel.ParseRollout(in); err == nil {
			t.Errorf("ParseRollout(%q) = %d, want an error", in, got)
		}
	}
	for ppm, want := range map[int64]string{0: "0", channel.Full: "100", 200_000: "20", 5000: "0.5", 123_456: "12.3456", 1: "0.0001", 120_000: "12"} {
		if got := channel.FormatRollout(ppm); got != want {
			t.Errorf("FormatRollout(%d) = %q, want %q", ppm, got, want)
		}
		if back, err := channel.ParseRollout(want); err != nil || back != ppm {
			t.Errorf("ParseRollout(FormatRollout(%d)) = %d, %v", ppm, back, err)
		}
	}
}

// rolloutIDs are n distinct rollout ids, as machine names.
func rolloutIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("host-%05d.example.net", i)
	}
	return ids
}

// Over 10,000 ids the share offered the release is within one percentage
// point of the rollout.
func TestRolloutShareMatchesPercentage(t *testing.T) {
	ids := rolloutIDs(10_000)
	for _, pct := range []int64{1, 10, 50, 99} {
		in := 0
		for _, id := range ids {
			if channel.InRollout(id, "stable", "2.1.0", pct*10_000) {
				in++
			}
		}
		share := float64(in) / float64(len(ids)) * 100
		if share < float64(pct)-1 || share > float64(pct)+1 {
			t.Errorf("rollout %d%%: %d of %d ids (%.2f%%) are in", pct, in, len(ids), share)
		}
	}
	for _, id := range ids[:100] {
		if channel.InRollout(id, "stable", "2.1.0", 0) || !channel.InRollout(id, "stable", "2.1.0", channel.Full) {
			t.Fatalf("%s: 0 must offer to no one and Full to everyone", id)
		}
	}
}

// A client in at p stays in at every p' > p for the same release, and
// decides the same way every time.
func TestRolloutIsMonotonic(t *testing.T) {
	steps := []int64{0, 1, 5000, 10_000, 100_000, 200_000, 500_000, 990_000, 999_999, channel.Full}
	for _, id := range rolloutIDs(2000) {
		was := false
		for _, ppm := range steps {
			in := channel.InRollout(id, "stable", "2.1.0", ppm)
			if was && !in {
				t.Fatalf("%s is in at a smaller rollout but out at %d ppm", id, ppm)
			}
			if in != channel.InRollout(id, "stable", "2.1.0", ppm) {
				t.Fatalf("%s decides two ways at %d ppm", id, ppm)
			}
			was = in
		}
	}
}

// Two releases (or two channels) at the same rollout pick different
// machines: the same ones are not always first.
func TestRolloutPicksOtherMachinesForOtherReleases(t *testing.T) {
	ids := rolloutIDs(10_000)
	pick := func(name, version string) map[string]bool {
		m := make(map[string]bool)
		for _, id := range ids {
			if channel.InRollout(id, name, version, 100_000) {
				m[id] = true
			}
		}
		return m
	}
	a := pick("stable", "2.1.0")
	for _, other := range [][2]string{{"stable", "2.2.0"}, {"beta", "2.1.0"}} {
		b := pick(other[0], other[1])
		both := 0
		for id := range a {
			if b[id] {
				both++
			}
		}
		// Independent 10% subsets share about 1% of the fleet (100 ids);
		// the same subset would share all of a (about 1000).
		if both > 200 {
			t.Errorf("10%% of %s %s and of stable 2.1.0 share %d of %d machines", other[0], other[1], both, len(a))
		}
	}
}

// The mapping is part of the format, so a later client decides as this
// one does for channels already signed: it is checked here against the
// documented formula, computed without the package's code.
func TestRolloutMappingIsTheDocumentedOne(t *testing.T) {
	for _, id := range rolloutIDs(200) {
		sum := sha256.Sum256([]byte("safeupdate rollout v1\x00" + id + "\x00stable\x002.1.0"))
		place := new(big.Int).SetBytes(sum[:8])
		bucket := place.Mul(place, big.NewInt(channel.Full)).Rsh(place, 64).Int64()
		if channel.InRollout(id, "stable", "2.1.0", bucket) || !channel.InRollout(id, "stable", "2.1.0", bucket+1) {
			t.Fatalf("%s: its place is %d ppm, but InRollout decides otherwise around it", id, bucket)
		}
	}
}
