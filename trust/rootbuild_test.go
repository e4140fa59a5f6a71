package trust_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/safeupdate/safeupdate/trust"
)

// TestRootReadByGoTUF proves other TUF implementations accept what
// RootDraft writes: go-tuf's own parser and VerifyDelegate, for both key
// types, and that go-tuf refuses it once a signature is missing.
func TestRootReadByGoTUF(t *testing.T) {
	c := rtCast(t)
	d := trust.NewRootDraft(rtRole(2, c.a, c.b), rtRole(2, c.t1, c.t2), rtRole(1, c.s), rtExpires)
	data := rtSign(t, d, c.a, c.b)
	meta, err := new(metadata.Metadata[metadata.RootType]).FromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := meta.VerifyDelegate(metadata.ROOT, meta); err != nil {
		t.Fatalf("go-tuf refuses our root: %v", err)
	}
	if meta.Signed.Version != 1 || !meta.Signed.Expires.Equal(rtExpires) || meta.Signed.Roles["targets"].Threshold != 2 {
		t.Errorf("go-tuf reads version %d, expires %v", meta.Signed.Version, meta.Signed.Expires)
	}
	if got := meta.Signed.Roles["snapshot"].KeyIDs; !slices.Equal(got, []string{c.s.id}) {
		t.Errorf("snapshot keys %v, want the timestamp key", got)
	}
	meta.Signatures = meta.Signatures[:1]
	if err := meta.VerifyDelegate(metadata.ROOT, meta); err == nil {
		t.Error("go-tuf accepts one signature of two, so the check above proves nothing")
	}
	// And go-tuf's own signatures verify with NewRoot.
	tufMeta, err := new(metadata.Metadata[metadata.RootType]).FromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	tufMeta.Signatures = nil
	for _, k := range []rtKey{c.a, c.b} {
		if _, err := tufMeta.Sign(k.signer); err != nil {
			t.Fatal(err)
		}
	}
	signedByTUF, err := tufMeta.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trust.NewRoot(signedByTUF); err != nil {
		t.Fatalf("a root signed by go-tuf: %v", err)
	}
}

func TestMissingSignaturesOfflineRotation(t *testing.T) {
	c := rtCast(t)
	r1, err := trust.NewRoot(rtSign(t, trust.NewRootDraft(rtRole(2, c.a, c.b), rtRole(1, c.t1), rtRole(1, c.s), rtExpires), c.a, c.b))
	if err != nil {
		t.Fatal(err)
	}
	d := trust.NextRoot(r1)
	d.Root = rtRole(2, c.b, c.t3) // A retires, T3 joins
	data := rtSign(t, d)
	check := func(step string, prevNeed int, prevUnsigned []string, nextNeed int, nextUnsigned []string) {
		t.Helper()
		m, err := trust.MissingSignatures(r1, data)
		if err != nil {
			t.Fatal(err)
		}
		if m.Previous.Signatures != prevNeed || !slices.Equal(m.Previous.Unsigned, prevUnsigned) ||
			m.Next.Signatures != nextNeed || !slices.Equal(m.Next.Unsigned, nextUnsigned) {
			t.Errorf("%s: missing %+v", step, m)
		}
		if m.Complete() != (prevNeed == 0 && nextNeed == 0) {
			t.Errorf("%s: Complete() = %v", step, m.Complete())
		}
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	check("unsigned", 2, sorted(c.a.id, c.b.id), 2, sorted(c.b.id, c.t3.id))
	// One signer at a time, each reading the file the last one wrote.
	for i, k := range []rtKey{c.b, c.a, c.t3} {
		pd, err := trust.ParseRootDraft(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r1.Update(data); !errors.Is(err, trust.ErrThreshold) {
			t.Fatalf("step %d: an incomplete root was accepted: %v", i, err)
		}
		data = rtSign(t, pd, k)
	}
	check("signed by all three", 0, nil, 0, nil)
	if _, err := r1.Update(data); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.MissingSignatures(nil, data); err != nil {
		t.Errorf("without a previous root: %v", err)
	}
	if _, err := trust.MissingSignatures(r1, rtSign(t, trust.NextRoot(r1))); err != nil {
		t.Errorf("an unsigned successor: %v", err)
	}
	d3 := trust.NextRoot(r1)
	d3.Version = 3
	if _, err := trust.MissingSignatures(r1, rtSign(t, d3)); !errors.Is(err, trust.ErrRootVersion) {
		t.Errorf("version 3 after 1: got %v, want ErrRootVersion", err)
	}
}

func TestRootDraftSign(t *testing.T) {
	c := rtCast(t)
	d := trust.NewRootDraft(rtRole(1, c.a), rtRole(1, c.t1), rtRole(1, c.s), rtExpires.Add(1500*time.Millisecond))
	if added, err := d.Sign(c.a.signer); !added || err != nil {
		t.Fatalf("first signature: %v %v", added, err)
	}
	if added, err := d.Sign(c.a.signer); added || err != nil {
		t.Errorf("signing twice with one key: added %v, %v", added, err)
	}
	data, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r, err := trust.NewRoot(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := rtExpires.Add(time.Second); !r.Expires().Equal(want) {
		t.Errorf("expires %v, want %v (whole seconds)", r.Expires(), want)
	}
	d.Targets = rtRole(1, c.t2)
	if _, err := d.Sign(c.b.signer); !errors.Is(err, trust.ErrDraftChanged) {
		t.Errorf("Sign after an edit: got %v, want ErrDraftChanged", err)
	}
	if _, err := d.Marshal(); !errors.Is(err, trust.ErrDraftChanged) {
		t.Errorf("Marshal after an edit: got %v, want ErrDraftChanged", err)
	}
}

func TestRootDraftRefusesBadRoles(t *testing.T) {
	c := rtCast(t)
	for _, tc := range []struct {
		name                     string
		root, targets, timestamp trust.RoleKeys
		version                  int64
	}{
		{"no targets keys", rtRole(1, c.a), rtRole(1), rtRole(1, c.s), 1},
		{"threshold above keys", rtRole(2, c.a), rtRole(1, c.t1), rtRole(1, c.s), 1},
		{"threshold 0", rtRole(1, c.a), rtRole(0, c.t1), rtRole(1, c.s), 1},
		{"one key twice", rtRole(1, c.a, c.a), rtRole(1, c.t1), rtRole(1, c.s), 1},
		{"version 0", rtRole(1, c.a), rtRole(1, c.t1), rtRole(1, c.s), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := trust.NewRootDraft(tc.root, tc.targets, tc.timestamp, rtExpires)
			d.Version = tc.version
			if _, err := d.Sign(c.a.signer); err == nil {
				t.Error("Sign accepted the draft")
			}
			if _, err := d.Marshal(); err == nil {
				t.Error("Marshal accepted the draft")
			}
		})
	}
}

// FuzzNewRoot checks, for any bytes: no panic; a nil root exactly when an
// error is returned; an accepted root is one go-tuf also verifies, reports
// complete signatures, and cannot follow itself.
func FuzzNewRoot(f *testing.F) {
	c := rtCast(f)
	_, data := rtFirst(f, c)
	f.Add(data)
	f.Add(rtSign(f, trust.NewRootDraft(rtRole(2, c.a, c.b), rtRole(2, c.t1, c.t2), rtRole(1, c.s), rtExpires), c.a, c.b))
	f.Add(bytes.Replace(data, []byte(`"keyval": {`), []byte(`"keyval": null, "x": {`), 1))
	f.Add(bytes.Replace(data, []byte(`"targets": {`), []byte(`"targets": null, "y": {`), 1))
	f.Add([]byte(`{"signed":null,"signatures":[]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := trust.NewRoot(in)
		if (r == nil) == (err == nil) {
			t.Fatalf("root %v with error %v", r, err)
		}
		if d, err := trust.ParseRootDraft(in); (d == nil) == (err == nil) {
			t.Fatalf("draft %v with error %v", d, err)
		}
		if r == nil {
			return
		}
		meta, err := new(metadata.Metadata[metadata.RootType]).FromBytes(in)
		if err != nil {
			t.Fatalf("accepted, but go-tuf cannot parse it: %v", err)
		}
		if err := meta.VerifyDelegate(metadata.ROOT, meta); err != nil {
			t.Fatalf("accepted, but go-tuf does not verify it: %v", err)
		}
		if !bytes.Equal(r.Bytes(), in) {
			t.Fatal("Bytes differ from the input")
		}
		if m, err := trust.MissingSignatures(nil, in); err != nil || !m.Complete() {
			t.Fatalf("accepted, but signatures are missing: %+v %v", m, err)
		}
		if _, err := r.Update(in); !errors.Is(err, trust.ErrRootVersion) {
			t.Fatalf("a root followed itself: %v", err)
		}
		for _, k := range []*trust.Keys{r.RootKeys(), r.Targets(), r.Snapshot(), r.Timestamp()} {
			if k.Threshold() < 1 || k.Threshold() > len(k.IDs()) {
				t.Fatalf("threshold %d of %d keys", k.Threshold(), len(k.IDs()))
			}
			for _, id := range k.IDs() {
				if _, ok := meta.Signed.Keys[id]; !ok {
					t.Fatalf("role key %s is not in keys", id)
				}
			}
		}
	})
}
