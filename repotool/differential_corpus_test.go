package repotool_test

import (
	"bytes"
	"crypto"
	"crypto/elliptic"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
)

// Which worlds a case is built in.
const (
	bothModes = iota
	keysOnly
	rootOnly
)

// A diffCase is one repository of the corpus: the attack or oddity build
// makes of a fresh world, and the class every client that refuses must
// name ("" when all install). stateful, when set, checks afterwards a
// client with a history (a TrustStore, a CurrentVersion) that Verify,
// which has none, cannot stand for.
type diffCase struct {
	name      string
	modes     int
	threshold int // of the release keys; 0 means 1
	want      string
	build     func(w *world)
	stateful  func(w *world)
}

const rel1 = "1.0.0/linux/amd64"

// corpus is every attack the project's tests name (apply's attack,
// rotation, trust and channel tests; repotool's verify tests; release,
// channel, trust and keys tests), and odd but good repositories.
func corpus() []diffCase {
	return append(append(append(goodCases(), releaseCases()...), append(payloadCases(), append(rootCases(), channelCases()...)...)...), deltaCases()...)
}

func goodCases() []diffCase {
	return []diffCase{
		{name: "good release", build: nil},
		{name: "good release signed by two keys", threshold: 2},
		{name: "good zstd release", build: func(w *world) {
			w.addBinary(binary("zstd", 50000), "zstd", "1.1.0", "linux", "amd64", w.signers()...)
		}},
		{name: "good releases of other versions and platforms", build: func(w *world) {
			w.add("0.9.0", "linux", "amd64", w.signers()...)
			w.add("1.0.0", "darwin", "arm64", w.signers()...)
			w.add("1.0.0", "windows", "amd64", w.signers()...)
		}},
		{name: "signed member this version does not know", build: func(w *world) {
			w.signMember(rel1, "built_by", `{"ci": "x", "n": 3}`)
		}},
		{name: "extraneous files beside the release", build: func(w *world) {
			for _, name := range []string{rel1 + "/app", rel1 + "/extra.bz2", rel1 + "/app.bz2.sig", rel1 + "/install.sh", "index.html"} {
				w.write(name, []byte("never to be read"))
			}
		}},
		{name: "downgrade to an older release", build: func(w *world) {
			w.add("0.9.0", "linux", "amd64", w.signers()...)
		}, stateful: func(w *world) {
			// A client at 1.5.0 refuses 1.0.0: a check of the client's state.
			wantStateful(w, target{version: "1.0.0", goos: "linux", goarch: "amd64"}, "", apply.ErrDowngrade, apply.CurrentVersion("1.5.0"))
			if w.rootMode {
				wantStateful(w, target{channel: "stable", goos: "linux", goarch: "amd64"}, "", apply.ErrDowngrade, apply.CurrentVersion("1.5.0"))
			}
		}},
	}
}

func releaseCases() []diffCase {
	stranger := func(w *world) crypto.Signer { return genKey(w.t, keys.Ed25519) }
	return []diffCase{
		{name: "unsigned release", want: clsSignature, build: func(w *world) { w.add("1.0.0", "linux", "amd64") }},
		{name: "release signed by an unknown key", want: clsSignature, build: func(w *world) {
			w.add("1.0.0", "linux", "amd64", stranger(w))
		}},
		{name: "too few signatures", threshold: 2, want: clsSignature, build: func(w *world) {
			w.add("1.0.0", "linux", "amd64", w.alice)
		}},
		{name: "a pinned key and an unknown key toward the threshold", threshold: 2, want: clsSignature, build: func(w *world) {
			w.add("1.0.0", "linux", "amd64", w.alice, stranger(w))
		}},
		{name: "one key's signature twice toward the threshold", threshold: 2, want: clsSignature, build: func(w *world) {
			r := w.add("1.0.0", "linux", "amd64", w.alice)
			r.Signatures = append(r.Signatures, r.Signatures...)
			w.writeRaw(rel1, r)
		}},
		{name: "signed field changed", want: clsSignature, build: func(w *world) {
			r := w.release(rel1)
			r.Size++
			w.writeRaw(rel1, r)
		}},
		{name: "another release's signature", want: clsSignature, build: func(w *world) {
			other := w.add("0.9.0", "linux", "amd64", w.signers()...)
			w.remove("0.9.0/linux/amd64/release.json")
			r := w.release(rel1)
			r.Signatures = other.Signatures
			w.writeRaw(rel1, r)
		}},
		{name: "signature over the file rather than its canonical bytes", want: clsSignature, build: func(w *world) {
			r := w.release(rel1)
			r.Signatures = nil
			asServed, err := r.Marshal()
			if err != nil {
				w.t.Fatal(err)
			}
			r.Signatures = []release.Signature{signBytes(w, w.alice, asServed)}
			w.writeRaw(rel1, r)
		}},
		{name: "high-S ECDSA signature", want: clsSignature, build: func(w *world) {
			r := w.add("1.0.0", "linux", "amd64", w.bob)
			r.Signatures[0].Sig = highS(w, r.Signatures[0].Sig)
			w.writeRaw(rel1, r)
		}},
		{name: "P1363 ECDSA signature", want: clsSignature, build: func(w *world) {
			r := w.add("1.0.0", "linux", "amd64", w.bob)
			r.Signatures[0].Sig = p1363(w, r.Signatures[0].Sig)
			w.writeRaw(rel1, r)
		}},
		{name: "signature not hex", want: clsMetadata, build: func(w *world) {
			r := w.release(rel1)
			r.Signatures[0].Sig = "zz"
			w.writeRaw(rel1, r)
		}},
		{name: "more signatures than the limit", want: clsMetadata, build: func(w *world) {
			r := w.release(rel1)
			for len(r.Signatures) <= limits.Signatures {
				r.Signatures = append(r.Signatures, r.Signatures[0])
			}
			w.writeRaw(rel1, r)
		}},
		{name: "member added to a signed release", want: clsSignature, build: func(w *world) {
			w.replace(rel1+"/release.json", "{", `{"mirror": "was here",`)
		}},
		{name: "release.json of another version", want: clsMetadata, build: func(w *world) { w.copyDir(rel1, "2.0.0/linux/amd64") }},
		{name: "release.json of another os", want: clsMetadata, build: func(w *world) { w.copyDir(rel1, "1.0.0/darwin/amd64") }},
		{name: "release.json of another arch", want: clsMetadata, build: func(w *world) { w.copyDir(rel1, "1.0.0/linux/arm64") }},
		{name: "another platform's release in its place", want: clsMetadata, build: func(w *world) {
			w.add("1.0.0", "linux", "arm64", w.signers()...)
			w.write(rel1+"/release.json", w.read("1.0.0/linux/arm64/release.json"))
			w.write(rel1+"/app.bz2", w.read("1.0.0/linux/arm64/app.bz2"))
			if err := os.RemoveAll(w.path("1.0.0/linux/arm64")); err != nil {
				w.t.Fatal(err)
			}
		}},
		{name: "binary with a path", want: clsMetadata, build: func(w *world) {
			w.add("0.9.0", "linux", "amd64", w.signers()...)
			r := w.release(rel1)
			r.Binary, r.Signatures = "../../../0.9.0/linux/amd64/app.bz2", nil
			signRelease(w.t, r, w.signers()...)
			w.writeRaw(rel1, r)
		}},
		{name: "size over the limit, signed", want: clsMetadata, build: func(w *world) {
			r := w.release(rel1)
			r.Size, r.Signatures = limits.BinarySize+1, nil
			signRelease(w.t, r, w.signers()...)
			w.writeRaw(rel1, r)
		}},
		{name: "duplicate version member", want: clsMetadata, build: func(w *world) {
			w.replace(rel1+"/release.json", `"version": "1.0.0"`, `"version": "1.0.0", "version": "9.9.9"`)
		}},
		{name: "duplicate member with the same value", want: clsMetadata, build: func(w *world) {
			w.replace(rel1+"/release.json", `"version": "1.0.0"`, `"version": "1.0.0", "version": "1.0.0"`)
		}},
		{name: "duplicate signatures member", want: clsMetadata, build: func(w *world) {
			w.replace(rel1+"/release.json", `"signatures": [`, `"signatures": [], "signatures": [`)
		}},
		{name: "size with an exponent", want: clsMetadata, build: func(w *world) {
			w.replace(rel1+"/release.json", `"size": 20000`, `"size": 2e4`)
		}},
		{name: "size with a fraction", want: clsMetadata, build: func(w *world) {
			w.replace(rel1+"/release.json", `"size": 20000`, `"size": 20000.0`)
		}},
		{name: "lone surrogate escape in a signed member", want: clsMetadata, build: func(w *world) {
			w.signMember(rel1, "note", `"\ufffd"`)
			w.replace(rel1+"/release.json", "\ufffd", `\ud800`)
		}},
		{name: "lone surrogate escape in binary", want: clsMetadata, build: func(w *world) {
			w.replace(rel1+"/release.json", `"binary": "app.bz2"`, `"binary": "app\udc00.bz2"`)
		}},
		{name: "release.json not JSON", want: clsMetadata, build: func(w *world) {
			w.write(rel1+"/release.json", []byte("<html>not found</html>"))
		}},
		{name: "release.json over the size limit", want: clsTooLarge, build: func(w *world) {
			data := w.read(rel1 + "/release.json")
			w.write(rel1+"/release.json", append(data, bytes.Repeat([]byte(" "), limits.ReleaseJSON)...))
		}},
	}
}

func payloadCases() []diffCase {
	payload := rel1 + "/app.bz2"
	return []diffCase{
		{name: "flipped payload byte", want: clsChecksum, build: func(w *world) {
			z := w.read(payload)
			z[len(z)/2] ^= 1
			w.write(payload, z)
		}},
		{name: "payload of another binary", want: clsChecksum, build: func(w *world) {
			// Smaller, so that it is not also longer than signed.
			w.addBinary(binary("another", 5000), "", "1.0.0", "linux", "arm64", w.signers()...)
			w.write(payload, w.read("1.0.0/linux/arm64/app.bz2"))
			if err := os.RemoveAll(w.path("1.0.0/linux/arm64")); err != nil {
				w.t.Fatal(err)
			}
		}},
		{name: "payload not bzip2", want: clsChecksum, build: func(w *world) {
			w.write(payload, bytes.Repeat([]byte("x"), len(w.read(payload))))
		}},
		{name: "truncated payload", want: clsChecksum, build: func(w *world) {
			z := w.read(payload)
			w.write(payload, z[:len(z)/2])
		}},
		{name: "empty payload", want: clsChecksum, build: func(w *world) { w.write(payload, nil) }},
		{name: "payload longer than signed", want: clsTooLarge, build: func(w *world) {
			w.write(payload, append(w.read(payload), make([]byte, 100)...))
		}},
		{name: "missing payload", want: clsNotFound, build: func(w *world) { w.remove(payload) }},
		{name: "signed compressed size larger than the payload", want: clsChecksum, build: func(w *world) {
			w.resign(rel1, func(r *release.Release) { r.CompressedSize += 10 }, w.signers()...)
		}},
		{name: "signed size larger than the binary", want: clsChecksum, build: func(w *world) {
			w.resign(rel1, func(r *release.Release) { r.Size += 1000 }, w.signers()...)
		}},
		{name: "signed hash of another binary", want: clsChecksum, build: func(w *world) {
			w.resign(rel1, func(r *release.Release) { r.Hash = hexSum([]byte("another binary")) }, w.signers()...)
		}},
		{name: "decompression bomb", want: clsTooLarge, build: func(w *world) {
			w.addBinary(make([]byte, 4<<20), "", "1.0.0", "linux", "amd64", w.signers()...)
			w.resign(rel1, func(r *release.Release) { r.Size = 4096 }, w.signers()...)
		}},
		{name: "payload named app", want: clsMetadata, build: func(w *world) { w.rename(rel1, "app") }},
		{name: "payload named app.BZ2", want: clsMetadata, build: func(w *world) { w.rename(rel1, "app.BZ2") }},
		{name: "payload named app.bzip2", want: clsMetadata, build: func(w *world) { w.rename(rel1, "app.bzip2") }},
		{name: "bzip2 payload named app.zst", want: clsChecksum, build: func(w *world) { w.rename(rel1, "app.zst") }},
		{name: "zstd window larger than clients allow", want: clsTooLarge, build: func(w *world) {
			bin := binary("big window", 12<<20)
			w.publishPayload(rel1, "app.zst", bin, zstdData(w, bin, zstd.WithWindowSize(64<<20)))
		}},
	}
}

// wantStateful fails unless a client of tg with the TrustStore store (a
// fresh one when "") and more options refuses with want.
func wantStateful(w *world, tg target, store string, want error, more ...apply.Option) {
	w.t.Helper()
	opts, _ := w.clientOpts(tg, apply.WithSource(mustDirSource(w)), more...)
	if store != "" {
		opts = append(opts, apply.TrustStore(store))
	}
	_, err := apply.Check(w.t.Context(), opts...)
	if !errors.Is(err, want) {
		w.t.Errorf("%s: a client with a history got %v, want %v", tg, err, want)
	} else {
		w.t.Logf("%s: a client with a history refuses, as Verify, which has none, cannot: %v", tg, err)
	}
}

func mustDirSource(w *world) apply.Source {
	w.t.Helper()
	s, err := apply.DirSource(w.dir)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func keyID(w *world, k crypto.Signer) string {
	w.t.Helper()
	id, err := keys.ID(k.Public())
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// signBytes is a signature by k over msg, whatever msg is.
func signBytes(w *world, k crypto.Signer, msg []byte) release.Signature {
	w.t.Helper()
	s, err := keys.NewSigner(k)
	if err != nil {
		w.t.Fatal(err)
	}
	sig, err := keys.Sign(s, msg)
	if err != nil {
		w.t.Fatal(err)
	}
	return release.Signature{KeyID: keyID(w, k), Sig: hex.EncodeToString(sig)}
}

// ecdsaRS decodes a hex ASN.1 ECDSA signature.
func ecdsaRS(w *world, sig string) (r, s *big.Int) {
	w.t.Helper()
	der, err := hex.DecodeString(sig)
	if err != nil {
		w.t.Fatal(err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		w.t.Fatal(err)
	}
	return rs.R, rs.S
}

// highS re-encodes the ECDSA signature (r, s) as (r, n-s), which
// crypto/ecdsa accepts too.
func highS(w *world, sig string) string {
	w.t.Helper()
	r, s := ecdsaRS(w, sig)
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, new(big.Int).Sub(elliptic.P256().Params().N, s)})
	if err != nil {
		w.t.Fatal(err)
	}
	return hex.EncodeToString(der)
}

// p1363 re-encodes an ECDSA signature as r||s, 32 bytes each.
func p1363(w *world, sig string) string {
	r, s := ecdsaRS(w, sig)
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return hex.EncodeToString(out)
}

// rootSignature is the hex of the one signature of a root or channel file.
func onlySignature(w *world, data []byte) string {
	w.t.Helper()
	_, rest, ok := bytes.Cut(data, []byte(`"sig": "`))
	if !ok {
		_, rest, ok = bytes.Cut(data, []byte(`"sig":"`))
	}
	sig, _, _ := bytes.Cut(rest, []byte(`"`))
	if !ok || len(sig) == 0 || bytes.Count(data, []byte(`"sig"`)) != 1 {
		w.t.Fatalf("no single signature in:\n%s", data)
	}
	return string(sig)
}

// channelWithMember is the channel file data with a member this version
// does not know added to what it signs, parsed (its signature no longer
// holds, and Sign replaces it).
func channelWithMember(w *world, data []byte) *channel.Channel {
	w.t.Helper()
	edited := bytes.Replace(data, []byte(`"_type"`), []byte(`"built_by": "ci", "_type"`), 1)
	c, err := channel.Parse(edited)
	if err != nil {
		w.t.Fatal(err)
	}
	if !strings.Contains(string(edited), "built_by") {
		w.t.Fatal("no member added")
	}
	return c
}

func zstdData(w *world, data []byte, opts ...zstd.EOption) []byte {
	w.t.Helper()
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b, opts...)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		w.t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		w.t.Fatal(err)
	}
	return b.Bytes()
}
