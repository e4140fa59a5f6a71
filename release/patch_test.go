package release_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

var hashC = strings.Repeat("3c", 32)

// patchJSON is one valid patch entry, with edits as in doc.
func patchJSON(edits ...string) string {
	ms := [][2]string{
		{"base_version", `"1.2.0"`}, {"base_hash", `"` + hashC + `"`}, {"base_size", `900`},
		{"file", `"app-from-1.2.0.bsdiff"`}, {"hash", `"` + hashB + `"`}, {"size", `77`},
		{"format", `"bsdiff40"`},
	}
	for i := 0; i+1 < len(edits); i += 2 {
		found := false
		for j := range ms {
			if ms[j][0] == edits[i] {
				ms[j][1], found = edits[i+1], true
			}
		}
		if !found {
			ms = append(ms, [2]string{edits[i], edits[i+1]})
		}
	}
	var parts []string
	for _, m := range ms {
		if m[1] != "" {
			parts = append(parts, fmt.Sprintf("%q: %s", m[0], m[1]))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func TestParseAcceptsPatches(t *testing.T) {
	second := patchJSON("base_version", `"1.1.0"`, "base_hash", `"`+hashA+`"`, "file", `"app-from-1.1.0.bsdiff"`, "size", `50`)
	r := mustParse(t, doc("patches", "["+patchJSON()+", "+second+"]"))
	want := release.Patch{BaseVersion: "1.2.0", BaseHash: hashC, BaseSize: 900, File: "app-from-1.2.0.bsdiff", Hash: hashB, Size: 77, Format: release.PatchFormat}
	if len(r.Patches) != 2 || r.Patches[0] != want {
		t.Fatalf("Patches = %+v", r.Patches)
	}
	if p, ok := r.PatchFrom(hashC, 900); !ok || p != want {
		t.Errorf("PatchFrom(base) = %+v, %v", p, ok)
	}
	if _, ok := r.PatchFrom(hashC, 901); ok {
		t.Error("PatchFrom took a patch for a base of another size")
	}
	if path, err := r.PatchPath(want); err != nil || path != "1.2.3/linux/amd64/app-from-1.2.0.bsdiff" {
		t.Errorf("PatchPath = %q, %v", path, err)
	}
	out, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if r2 := mustParse(t, out); fmt.Sprint(r2.Patches) != fmt.Sprint(r.Patches) {
		t.Errorf("round trip changed the patches: %+v", r2.Patches)
	}
	// Without patches, no member at all: releases signed before patches
	// existed keep their signing bytes.
	plain, err := mustParse(t, doc()).Marshal()
	if err != nil || bytes.Contains(plain, []byte("patches")) {
		t.Errorf("a release without patches has a patches member: %v\n%s", err, plain)
	}
}

func TestPatchFromTakesTheSmallest(t *testing.T) {
	r := mustParse(t, doc("patches", "["+patchJSON("size", `30`)+","+
		patchJSON("file", `"b"`, "size", `25`)+","+
		patchJSON("file", `"c"`, "size", `20`, "base_hash", `"`+hashA+`"`)+"]"))
	if p, ok := r.PatchFrom(hashC, 900); !ok || p.File != "b" {
		t.Errorf("PatchFrom = %+v, %v; want the 25-byte patch b", p, ok)
	}
}

func TestRejectsMalformedPatches(t *testing.T) {
	many := make([]string, limits.Patches+1)
	for i := range many {
		many[i] = patchJSON("base_version", fmt.Sprintf(`"1.0.%d"`, i), "base_size", fmt.Sprint(100+i), "file", fmt.Sprintf(`"p%d"`, i))
	}
	tests := map[string]string{
		"not an array":         patchJSON(),
		"null":                 `null`,
		"null entry":           `[null]`,
		"entry not an object":  `["app.bsdiff"]`,
		"missing member":       "[" + patchJSON("format", "") + "]",
		"unknown member":       "[" + patchJSON("url", `"http://evil.example/p"`) + "]",
		"case-folded member":   "[" + strings.Replace(patchJSON(), `"file"`, `"File"`, 1) + "]",
		"traversal":            "[" + patchJSON("file", `"../../../etc/passwd"`) + "]",
		"path":                 "[" + patchJSON("file", `"sub/app.bsdiff"`) + "]",
		"URL":                  "[" + patchJSON("file", `"https://evil.example/p"`) + "]",
		"backslash":            "[" + patchJSON("file", `"..\\app.bsdiff"`) + "]",
		"hidden":               "[" + patchJSON("file", `".app.bsdiff"`) + "]",
		"release.json":         "[" + patchJSON("file", `"release.json"`) + "]",
		"the payload":          "[" + patchJSON("file", `"app.bz2"`) + "]",
		"empty name":           "[" + patchJSON("file", `""`) + "]",
		"same file twice":      "[" + patchJSON() + "," + patchJSON("base_hash", `"`+hashA+`"`) + "]",
		"bad base version":     "[" + patchJSON("base_version", `"1.2"`) + "]",
		"own version as base":  "[" + patchJSON("base_version", `"1.2.3"`) + "]",
		"bad base hash":        "[" + patchJSON("base_hash", `"`+strings.ToUpper(hashC)+`"`) + "]",
		"bad hash":             "[" + patchJSON("hash", `"abc"`) + "]",
		"zero size":            "[" + patchJSON("size", `0`) + "]",
		"negative base size":   "[" + patchJSON("base_size", `-1`) + "]",
		"huge size":            "[" + patchJSON("size", fmt.Sprint(int64(limits.BinarySize)+1)) + "]",
		"size as string":       "[" + patchJSON("size", `"77"`) + "]",
		"fractional size":      "[" + patchJSON("size", `7.5`) + "]",
		"null member":          "[" + patchJSON("hash", `null`) + "]",
		"other format":         "[" + patchJSON("format", `"zstd-patch-from"`) + "]",
		"too many":             "[" + strings.Join(many, ",") + "]",
		"duplicate member key": "[" + strings.Replace(patchJSON(), `"size": 77`, `"size": 77, "size": 78`, 1) + "]",
	}
	for name, patches := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := release.Parse(doc("patches", patches))
			if !errors.Is(err, release.ErrMalformed) || r != nil {
				t.Errorf("Parse = %v, %v; want ErrMalformed and nil", r, err)
			}
		})
	}
}

// TestOldClientsIgnorePatches shows that a release with patches stays
// readable where patches mean nothing: a safeupdate client from before
// patches, which keeps "patches" as an unknown but signed member, verifies
// the same signature over the same bytes (and downloads the payload, which
// the client side's tests show), and a go-updater client, which decodes
// binary and hash only, sees them as they always were.
func TestOldClientsIgnorePatches(t *testing.T) {
	priv := mustKey(t)
	data := signedDoc(t, priv, "patches", "["+patchJSON()+"]")
	newer := mustParse(t, data)
	if len(newer.Patches) != 1 {
		t.Fatalf("patches not parsed:\n%s", data)
	}
	older, err := release.ParseAsOlderClient(data)
	if err != nil {
		t.Fatal(err)
	}
	if older.Patches != nil {
		t.Fatal("test bug: the older client's view has patches")
	}
	a, _ := newer.SigningBytes()
	b, _ := older.SigningBytes()
	if !bytes.Equal(a, b) {
		t.Fatalf("signing bytes differ between clients:\n%s\n%s", a, b)
	}
	if _, err := older.Verify(trusting(t, 1, priv)); err != nil {
		t.Errorf("an older client does not verify a release with patches: %v", err)
	}
	if out, err := older.Marshal(); err != nil || !bytes.Equal(out, data) {
		t.Errorf("an older client rewrites the release differently: %v\n%s\n%s", err, out, data)
	}
	var goUpdater struct {
		Binary string `json:"binary"`
		Hash   string `json:"hash"`
	}
	if err := json.Unmarshal(data, &goUpdater); err != nil || goUpdater.Binary != "app.bz2" || goUpdater.Hash != hashA {
		t.Errorf("go-updater's view: %+v, %v", goUpdater, err)
	}
	var shape map[string]json.RawMessage
	if err := json.Unmarshal(data, &shape); err != nil || string(shape["binary"]) != `"app.bz2"` || string(shape["hash"]) != `"`+hashA+`"` {
		t.Errorf("binary and hash are no longer plain strings: %s %s", shape["binary"], shape["hash"])
	}
}

func TestRejectsTamperedPatchEntry(t *testing.T) {
	priv := mustKey(t)
	k := trusting(t, 1, priv)
	data := signedDoc(t, priv, "patches", "["+patchJSON()+"]")
	for name, tampered := range map[string]string{
		"patch hash": strings.Replace(string(data), hashB+`",
      "size": 77`, hashA+`",
      "size": 77`, 1),
		"patch size":    strings.Replace(string(data), `"size": 77`, `"size": 78`, 1),
		"base hash":     strings.Replace(string(data), hashC, hashA, 1),
		"file":          strings.Replace(string(data), `app-from-1.2.0.bsdiff`, `evil.bsdiff`, 1),
		"patch dropped": strings.Replace(string(data), `"patches"`, `"patches_"`, 1),
	} {
		if tampered == string(data) {
			t.Fatalf("%s: test bug: nothing replaced\n%s", name, data)
		}
		r, err := release.Parse([]byte(tampered))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := r.Verify(k); err == nil {
			t.Errorf("%s: a tampered patch entry verifies", name)
		}
	}
	// A mirror adds a patch entry to a release signed without one.
	plain := signedDoc(t, priv)
	added := strings.Replace(string(plain), `"signatures"`, `"patches": [`+patchJSON()+`],
  "signatures"`, 1)
	r, err := release.Parse([]byte(added))
	if err != nil || len(r.Patches) != 1 {
		t.Fatalf("test bug: %v", err)
	}
	if _, err := r.Verify(k); !errors.Is(err, trust.ErrThreshold) {
		t.Errorf("an unsigned patch entry added by a mirror: Verify = %v, want trust.ErrThreshold", err)
	}
}
