package repotool_test

import (
	"bytes"
	"crypto"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/repotool"
	"github.com/safeupdate/safeupdate/trust"
)

func rootCases() []diffCase {
	// rotateRootKey makes root 2 hand rotations to a new root key, signed
	// by the old and the new one, and returns the new one.
	rotateRootKey := func(w *world) crypto.Signer {
		k := genKey(w.t, keys.ECDSAP256)
		w.rotate(repotool.RotateConfig{AddRootKeys: pubKeys(k), RemoveRootKeys: []string{keyID(w, w.rootKey)}, Keys: []crypto.Signer{w.rootKey, k}})
		return k
	}
	// newReleaseKey makes root 2 replace alice by carol and signs 1.0.0
	// again for it.
	newReleaseKey := func(w *world) {
		carol := genKey(w.t, keys.Ed25519)
		w.rotate(repotool.RotateConfig{AddReleaseKeys: pubKeys(carol), RemoveReleaseKeys: []string{keyID(w, w.alice)}})
		w.add("1.0.0", "linux", "amd64", append([]crypto.Signer{carol}, w.signers()[1:]...)...)
	}
	expiredRoot1 := func(w *world) {
		d := trust.NewRootDraft(role(1, w.rootKey), role(w.threshold, w.alice, w.bob), role(1, w.tsKey), diffPast)
		w.root = w.signRoot(d, w.rootKey)
		w.writeRoot(1, w.root)
	}
	return []diffCase{
		{name: "rotation to a new release key", modes: rootOnly, build: newReleaseKey},
		{name: "rotation to a new root key, then another", modes: rootOnly, build: func(w *world) {
			k := rotateRootKey(w)
			w.rotate(repotool.RotateConfig{Expires: diffInAYear.Add(time.Hour), Keys: []crypto.Signer{k}})
		}},
		{name: "release signed by a revoked key", modes: rootOnly, want: clsSignature, build: func(w *world) {
			carol := genKey(w.t, keys.Ed25519)
			w.rotate(repotool.RotateConfig{AddReleaseKeys: pubKeys(carol), RemoveReleaseKeys: []string{keyID(w, w.alice)}})
		}},
		{name: "rotation signed only by the new root key", modes: rootOnly, want: clsSignature, build: func(w *world) {
			k := genKey(w.t, keys.ECDSAP256)
			w.writeRoot(2, w.nextRoot(w.root, func(d *trust.RootDraft) { d.Root = role(1, k) }, k))
		}},
		{name: "rotation signed only by the old root key", modes: rootOnly, want: clsSignature, build: func(w *world) {
			k := genKey(w.t, keys.ECDSAP256)
			w.writeRoot(2, w.nextRoot(w.root, func(d *trust.RootDraft) { d.Root = role(1, k) }, w.rootKey))
		}},
		{name: "rotation signed by one of two root keys", modes: rootOnly, want: clsSignature, build: func(w *world) {
			a, b := genKey(w.t, keys.Ed25519), genKey(w.t, keys.Ed25519)
			two := w.nextRoot(w.root, func(d *trust.RootDraft) { d.Root = role(2, w.rootKey, a, b) }, w.rootKey, a)
			w.writeRoot(2, two)
			w.writeRoot(3, w.nextRoot(two, nil, b))
		}},
		{name: "forged root 2 before a good root 3", modes: rootOnly, want: clsSignature, build: func(w *world) {
			w.rotate(repotool.RotateConfig{Expires: diffInAYear.Add(time.Hour)})
			w.rotate(repotool.RotateConfig{Expires: diffInAYear.Add(2 * time.Hour)})
			k := genKey(w.t, keys.Ed25519)
			w.write("2.root.json", w.nextRoot(w.root, func(d *trust.RootDraft) { d.Root = role(1, k) }, k))
		}},
		{name: "older root served as the next one", modes: rootOnly, want: clsSignature, build: func(w *world) {
			w.rotate(repotool.RotateConfig{Expires: diffInAYear.Add(time.Hour)})
			w.write("3.root.json", w.read("2.root.json"))
		}},
		{name: "root version skipped", modes: rootOnly, want: clsSignature, build: func(w *world) {
			w.writeRoot(2, w.nextRoot(w.root, func(d *trust.RootDraft) { d.Version = 3 }, w.rootKey))
		}},
		{name: "high-S ECDSA signature on a root", modes: rootOnly, want: clsSignature, build: func(w *world) {
			two := w.nextRoot(w.root, func(d *trust.RootDraft) { d.Expires = diffInAYear.Add(time.Hour) }, w.rootKey)
			sig := onlySignature(w, two)
			w.writeRoot(2, bytes.Replace(two, []byte(sig), []byte(highS(w, sig)), 1))
		}},
		{name: "pinned root expired", modes: rootOnly, want: clsExpired, build: expiredRoot1},
		{name: "newest root expired", modes: rootOnly, want: clsExpired, build: func(w *world) {
			w.writeRoot(2, w.nextRoot(w.root, func(d *trust.RootDraft) { d.Expires = diffPast }, w.rootKey))
		}},
		{name: "expired pinned root replaced by a fresh one", modes: rootOnly, build: func(w *world) {
			expiredRoot1(w)
			w.writeRoot(2, w.nextRoot(w.root, func(d *trust.RootDraft) { d.Expires = diffInAYear }, w.rootKey))
		}},
		{name: "as many rotations as a client walks", modes: rootOnly, build: func(w *world) {
			chain(w, limits.Rotations)
		}},
		{name: "more rotations than a client walks", modes: rootOnly, want: clsTooLarge, build: func(w *world) {
			chain(w, limits.Rotations+1)
		}},
		{name: "root over the size limit", modes: rootOnly, want: clsTooLarge, build: func(w *world) {
			two := w.nextRoot(w.root, nil, w.rootKey)
			w.write("2.root.json", append(two, bytes.Repeat([]byte(" "), limits.RootJSON)...))
		}},
		{name: "root not JSON", modes: rootOnly, want: clsMetadata, build: func(w *world) {
			w.write("2.root.json", []byte("<html>not found</html>"))
		}},
		{name: "duplicate member in a root", modes: rootOnly, want: clsMetadata, build: func(w *world) {
			two := w.nextRoot(w.root, nil, w.rootKey)
			w.write("2.root.json", bytes.Replace(two, []byte(`"signed"`), []byte(`"signed": {}, "signed"`), 1))
		}},
		{name: "lone surrogate escape in a root", modes: rootOnly, want: clsMetadata, build: func(w *world) {
			two := w.nextRoot(w.root, nil, w.rootKey)
			w.write("2.root.json", bytes.Replace(two, []byte(`"_type"`), []byte(`"x\ud800": 1, "_type"`), 1))
		}},
		{name: "pinned root of another repository", modes: rootOnly, want: clsSignature, build: func(w *world) {
			w.root = newWorld(w.t, true, w.threshold).root
		}},
		{name: "history rewritten after the pinned root", modes: rootOnly, build: func(w *world) {
			rewriteHistory(w, rotateRootKey(w))
		}, stateful: func(w *world) {
			// A client that kept root 3 refuses the release the forged
			// root 2 vouches for; one pinning root 1 cannot tell.
			wantStateful(w, target{version: "1.0.0", goos: "linux", goarch: "amd64"}, w.state, apply.ErrSignature)
		}},
		{name: "history rewritten under the pinned root", modes: rootOnly, want: clsSignature, build: func(w *world) {
			w.root = rewriteHistory(w, rotateRootKey(w))
		}},
		// Checks of files no client reads: Verify refuses, every client
		// installs. A new client bootstraps from 1.root.json or root.json,
		// and a gap holds every client below it at the next rotation, so a
		// publisher must hear of these; no installed client is affected.
		{name: "pinned root missing from the repository", modes: rootOnly, want: wantAudit, build: func(w *world) {
			w.remove("1.root.json")
		}},
		{name: "root.json older than the newest root", modes: rootOnly, want: wantAudit, build: func(w *world) {
			w.rotate(repotool.RotateConfig{Expires: diffInAYear.Add(time.Hour)})
			w.write("root.json", w.read("1.root.json"))
		}},
		{name: "gap in the root chain", modes: rootOnly, want: wantAudit, build: func(w *world) {
			w.rotate(repotool.RotateConfig{Expires: diffInAYear.Add(time.Hour)})
			w.rotate(repotool.RotateConfig{Expires: diffInAYear.Add(2 * time.Hour)})
			w.remove("2.root.json")
		}},
	}
}

// chain publishes n successors of the pinned root, each signed by the
// root key.
func chain(w *world, n int) {
	prev := w.root
	for v := int64(2); v <= int64(n)+1; v++ {
		prev = w.nextRoot(prev, nil, w.rootKey)
		w.writeRoot(v, prev)
	}
}

// rewriteHistory: root 2 (by Rotate) moved rotations to newRoot, root 3
// moves releases to a new key, and a client kept root 3 (in w.state).
// Then whoever holds the retired root key rewrites history: a root 2 of
// their own, signed by it, handing releases to their key, root 3 removed,
// and 1.0.0 signed by their key. It returns the root 3 it removed.
func rewriteHistory(w *world, newRoot crypto.Signer) []byte {
	k3 := genKey(w.t, keys.Ed25519)
	w.rotate(repotool.RotateConfig{AddReleaseKeys: pubKeys(k3), RemoveReleaseKeys: []string{keyID(w, w.alice)}, Threshold: 1, Keys: []crypto.Signer{newRoot}})
	root3 := w.read("3.root.json")
	w.add("1.0.0", "linux", "amd64", k3)
	w.state = w.t.TempDir()
	opts, _ := w.clientOpts(target{version: "1.0.0", goos: "linux", goarch: "amd64"}, apply.WithSource(mustDirSource(w)))
	if _, err := apply.Check(w.t.Context(), append(opts, apply.TrustStore(w.state))...); err != nil {
		w.t.Fatal(err)
	}
	evil := genKey(w.t, keys.Ed25519)
	w.writeRoot(2, w.nextRoot(w.root, func(d *trust.RootDraft) { d.Targets = role(1, evil) }, w.rootKey))
	w.remove("3.root.json")
	w.add("1.0.0", "linux", "amd64", evil)
	return root3
}

func channelCases() []diffCase {
	stable := "channels/stable.json"
	all := []string{"linux/amd64"}
	return []diffCase{
		{name: "channel promoted again", modes: rootOnly, build: func(w *world) {
			w.add("1.1.0", "linux", "amd64", w.signers()...)
			w.promote("stable", "1.1.0")
		}},
		{name: "channel member this version does not know, signed", modes: rootOnly, build: func(w *world) {
			c := channelWithMember(w, w.read(stable))
			w.write(stable, w.signChannel(c, w.tsKey))
		}},
		{name: "replayed channel", modes: rootOnly, build: func(w *world) {
			old := w.read(stable)
			w.add("1.1.0", "linux", "amd64", w.signers()...)
			w.promote("stable", "1.1.0")
			w.state = w.t.TempDir()
			opts, _ := w.clientOpts(target{channel: "stable", goos: "linux", goarch: "amd64"}, apply.WithSource(mustDirSource(w)))
			if _, err := apply.Check(w.t.Context(), append(opts, apply.TrustStore(w.state))...); err != nil {
				w.t.Fatal(err)
			}
			w.write(stable, old)
		}, stateful: func(w *world) {
			wantStateful(w, target{channel: "stable", goos: "linux", goarch: "amd64"}, w.state, apply.ErrReplay)
		}},
		{name: "expired channel", modes: rootOnly, want: clsExpired, build: func(w *world) {
			w.write(stable, w.channelFile("stable", "1.0.0", all, 2, diffPast, w.tsKey))
		}},
		{name: "unsigned channel", modes: rootOnly, want: clsSignature, build: func(w *world) {
			w.write(stable, w.channelFile("stable", "1.0.0", all, 2, diffInAWeek))
		}},
		{name: "channel signed by a release key", modes: rootOnly, want: clsSignature, build: func(w *world) {
			w.write(stable, w.channelFile("stable", "1.0.0", all, 2, diffInAWeek, w.alice))
		}},
		{name: "channel signed by the root key", modes: rootOnly, want: clsSignature, build: func(w *world) {
			w.write(stable, w.channelFile("stable", "1.0.0", all, 2, diffInAWeek, w.rootKey))
		}},
		{name: "channel signed by an unknown key", modes: rootOnly, want: clsSignature, build: func(w *world) {
			w.write(stable, w.channelFile("stable", "1.0.0", all, 2, diffInAWeek, genKey(w.t, keys.Ed25519)))
		}},
		{name: "channel signed by the retired channel key", modes: rootOnly, want: clsSignature, build: func(w *world) {
			k := genKey(w.t, keys.Ed25519)
			w.rotate(repotool.RotateConfig{AddChannelKeys: pubKeys(k), RemoveChannelKeys: []string{keyID(w, w.tsKey)}})
		}},
		{name: "high-S ECDSA channel signature", modes: rootOnly, want: clsSignature, build: func(w *world) {
			data := w.read(stable)
			sig := onlySignature(w, data)
			w.write(stable, bytes.Replace(data, []byte(sig), []byte(highS(w, sig)), 1))
		}},
		{name: "member added to a signed channel", modes: rootOnly, want: clsSignature, build: func(w *world) {
			w.replace(stable, `"_type"`, `"mirror": "was here", "_type"`)
		}},
		{name: "channel signed for another name", modes: rootOnly, want: clsMetadata, build: func(w *world) {
			w.write(stable, w.channelFile("beta", "1.0.0", all, 2, diffInAWeek, w.tsKey))
		}},
		{name: "channel not JSON", modes: rootOnly, want: clsMetadata, build: func(w *world) {
			w.write(stable, []byte("<html>not found</html>"))
		}},
		{name: "duplicate member in a channel", modes: rootOnly, want: clsMetadata, build: func(w *world) {
			w.replace(stable, `"release"`, `"release": "0.1.0", "release"`)
		}},
		{name: "lone surrogate escape in a channel", modes: rootOnly, want: clsMetadata, build: func(w *world) {
			w.replace(stable, `"_type"`, `"x\udfff": 1, "_type"`)
		}},
		{name: "channel over the size limit", modes: rootOnly, want: clsTooLarge, build: func(w *world) {
			w.write(stable, append(w.read(stable), bytes.Repeat([]byte(" "), limits.ChannelJSON)...))
		}},
		{name: "channel pointing to a missing version", modes: rootOnly, want: clsNotFound, build: func(w *world) {
			w.write(stable, w.channelFile("stable", "2.0.0", all, 2, diffInAWeek, w.tsKey))
		}},
		{name: "channel listing a platform without a release", modes: rootOnly, want: clsNotFound, build: func(w *world) {
			w.write(stable, w.channelFile("stable", "1.0.0", []string{"linux/amd64", "linux/arm64"}, 2, diffInAWeek, w.tsKey))
		}},
		{name: "channel pointing to a tampered release", modes: rootOnly, want: clsChecksum, build: func(w *world) {
			z := w.read(rel1 + "/app.bz2")
			z[len(z)/2] ^= 1
			w.write(rel1+"/app.bz2", z)
		}},
	}
}
