package repotool

import (
	"context"
	"crypto"
	"debug/elf"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

// rootRepo makes a repository with release 1.0.0 for linux/amd64, root 1
// and channel stable pointing to it.
func rootRepo(t *testing.T, c cast) string {
	t.Helper()
	repo := releaseRepo(t, "1.0.0", c.release)
	initRepo(t, repo, c)
	_, err := Promote(context.Background(), PromoteConfig{Repo: repo, Pin: pinFor(repo), Channel: "stable", Version: "1.0.0", Expires: inAWeek, Keys: []crypto.Signer{c.channel}})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// verifyRoot runs Verify against the root file pinned of repo and returns
// "OK path" or "FAIL path: error" per result.
func verifyRoot(t *testing.T, cfg VerifyConfig, pinned string) []string {
	t.Helper()
	var err error
	if cfg.Root, err = os.ReadFile(pinned); err != nil {
		t.Fatal(err)
	}
	results, err := Verify(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range results {
		if r.OK {
			lines = append(lines, "OK "+r.Path)
		} else {
			lines = append(lines, fmt.Sprintf("FAIL %s: %s", r.Path, r.Error))
		}
	}
	return lines
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("line %d: got\n%s\nwant\n%s", i, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestVerifyRootChain(t *testing.T) {
	c := newCast(t)
	repo := rootRepo(t, c)
	ctx := context.Background()
	for i := range 2 {
		if _, err := Rotate(ctx, RotateConfig{Repo: repo, Pin: pinFor(repo), Expires: inAYear.Add(time.Duration(i+1) * time.Hour), Keys: []crypto.Signer{c.root}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, pinned := range []string{"1.root.json", "2.root.json", "root.json"} {
		got := verifyRoot(t, VerifyConfig{Repo: repo}, filepath.Join(repo, pinned))
		wantLines(t, got, "OK 1.root.json", "OK 2.root.json", "OK 3.root.json", "OK 1.0.0/linux/amd64", "OK channels/stable.json")
	}
	results, err := Verify(ctx, VerifyConfig{Repo: repo, Root: readRoot(t, repo, "1.root.json").Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	last, ch := results[2], results[4]
	if last.Kind != KindRoot || last.Version != 3 || last.Expires.IsZero() || !results[0].Expires.IsZero() {
		t.Errorf("final root result %+v", last)
	}
	if ch.Kind != KindChannel || ch.Name != "stable" || ch.Release != "1.0.0" || ch.Version != 1 || ch.Expires.IsZero() {
		t.Errorf("channel result %+v", ch)
	}
}

func TestRejectsRevokedReleaseKeyAfterRotation(t *testing.T) {
	c := newCast(t)
	repo := rootRepo(t, c)
	newRelease := newSigner(t, keys.Ed25519)
	addRelease(t, repo, "1.1.0", elf.EM_X86_64, newRelease)
	_, err := Rotate(context.Background(), RotateConfig{Repo: repo, Pin: pinFor(repo), AddReleaseKeys: pubs(newRelease),
		RemoveReleaseKeys: []string{id(t, c.release)}, Keys: []crypto.Signer{c.root}})
	if err != nil {
		t.Fatal(err)
	}
	got := verifyRoot(t, VerifyConfig{Repo: repo}, filepath.Join(repo, "1.root.json"))
	wantLines(t, got, "OK 1.root.json", "OK 2.root.json",
		"FAIL 1.0.0/linux/amd64: release.json: signature not trusted: signature threshold not met: 0 of 1",
		"OK 1.1.0/linux/amd64",
		"FAIL channels/stable.json: points to 1.0.0/linux/amd64, which does not verify")
}

func TestRejectsExpiredChannel(t *testing.T) {
	c := newCast(t)
	repo := rootRepo(t, c)
	ch, err := channel.New("stable", "1.0.0", []string{"linux/amd64"}, 2, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := keys.NewSigner(c.channel)
	ch.Sign(s)
	data, _ := ch.Marshal()
	os.WriteFile(filepath.Join(repo, "channels/stable.json"), data, 0o644)
	got := verifyRoot(t, VerifyConfig{Repo: repo}, filepath.Join(repo, "root.json"))
	wantLines(t, got, "OK 1.root.json", "OK 1.0.0/linux/amd64", `FAIL channels/stable.json: trust metadata has expired: channel has expired: "stable" expired at`)
}

func TestRejectsChannelSignedByReleaseKey(t *testing.T) {
	c := newCast(t)
	repo := rootRepo(t, c)
	ch, _ := channel.New("stable", "1.0.0", []string{"linux/amd64"}, 2, inAWeek)
	s, _ := keys.NewSigner(c.release)
	ch.Sign(s)
	data, _ := ch.Marshal()
	os.WriteFile(filepath.Join(repo, "channels/stable.json"), data, 0o644)
	// And a channel under another name, pointing at a missing release.
	ch, _ = channel.New("beta", "2.0.0", []string{"linux/amd64"}, 1, inAWeek)
	s, _ = keys.NewSigner(c.channel)
	ch.Sign(s)
	data, _ = ch.Marshal()
	os.WriteFile(filepath.Join(repo, "channels/beta.json"), data, 0o644)
	got := verifyRoot(t, VerifyConfig{Repo: repo}, filepath.Join(repo, "root.json"))
	wantLines(t, got, "OK 1.root.json", "OK 1.0.0/linux/amd64",
		"FAIL channels/beta.json: points to 2.0.0/linux/amd64, which is missing",
		"FAIL channels/stable.json: signature not trusted: signature threshold not met: 0 of 1")
}

func TestRejectsBrokenRootChain(t *testing.T) {
	c := newCast(t)
	repo := rootRepo(t, c)
	ctx := context.Background()
	for i := range 2 {
		if _, err := Rotate(ctx, RotateConfig{Repo: repo, Pin: pinFor(repo), Expires: inAYear.Add(time.Duration(i+1) * time.Hour), Keys: []crypto.Signer{c.root}}); err != nil {
			t.Fatal(err)
		}
	}
	// Root 2 re-signed by a stranger: a mirror forging a rotation.
	stranger := newSigner(t, keys.Ed25519)
	prev := readRoot(t, repo, "1.root.json")
	d := trust.NextRoot(prev)
	d.Root = trust.RoleKeys{Keys: pubs(stranger), Threshold: 1}
	s, _ := keys.NewSigner(stranger)
	d.Sign(s)
	forged, _ := d.Marshal()
	os.WriteFile(filepath.Join(repo, "2.root.json"), forged, 0o644)
	got := verifyRoot(t, VerifyConfig{Repo: repo}, filepath.Join(repo, "1.root.json"))
	wantLines(t, got, "OK 1.root.json",
		"FAIL 2.root.json: root version 2 is not signed by a threshold of the root keys of version 1",
		"FAIL 3.root.json: not reached: the chain from the pinned root stops at version 1",
		"OK 1.0.0/linux/amd64", "OK channels/stable.json")

	// Pinning root 3 itself, the forged history fails but root 3 stands.
	got = verifyRoot(t, VerifyConfig{Repo: repo}, filepath.Join(repo, "3.root.json"))
	wantLines(t, got, "OK 1.root.json", "FAIL 2.root.json: root version 2 is not signed", "OK 3.root.json",
		"OK 1.0.0/linux/amd64", "OK channels/stable.json")
}

func TestRejectsPinnedRootNotInRepository(t *testing.T) {
	c, other := newCast(t), newCast(t)
	repo := rootRepo(t, c)
	elsewhere := t.TempDir()
	initRepo(t, elsewhere, other)
	got := verifyRoot(t, VerifyConfig{Repo: repo}, filepath.Join(elsewhere, "root.json"))
	wantLines(t, got, "FAIL 1.root.json: not the pinned root",
		"FAIL 1.0.0/linux/amd64: release.json: signature not trusted: signature threshold not met",
		"FAIL channels/stable.json: signature not trusted: signature threshold not met")
}

func TestRejectsStaleRootJSON(t *testing.T) {
	c := newCast(t)
	repo := rootRepo(t, c)
	if _, err := Rotate(context.Background(), RotateConfig{Repo: repo, Pin: pinFor(repo), Expires: inAYear.Add(time.Hour), Keys: []crypto.Signer{c.root}}); err != nil {
		t.Fatal(err)
	}
	one, _ := os.ReadFile(filepath.Join(repo, "1.root.json"))
	os.WriteFile(filepath.Join(repo, "root.json"), one, 0o644)
	got := verifyRoot(t, VerifyConfig{Repo: repo}, filepath.Join(repo, "1.root.json"))
	wantLines(t, got, "OK 1.root.json", "OK 2.root.json", "FAIL root.json: not a copy of 2.root.json, the newest root",
		"OK 1.0.0/linux/amd64", "OK channels/stable.json")
}

func TestRejectsExpiredFinalRoot(t *testing.T) {
	c := newCast(t)
	repo := rootRepo(t, c)
	d := trust.NextRoot(readRoot(t, repo, "root.json"))
	d.Expires = time.Now().Add(-time.Hour)
	s, _ := keys.NewSigner(c.root)
	d.Sign(s)
	data, _ := d.Marshal()
	os.WriteFile(filepath.Join(repo, "2.root.json"), data, 0o644)
	os.WriteFile(filepath.Join(repo, "root.json"), data, 0o644)
	got := verifyRoot(t, VerifyConfig{Repo: repo}, filepath.Join(repo, "1.root.json"))
	wantLines(t, got, "OK 1.root.json", "FAIL 2.root.json: root has expired: version 2 expired at",
		"OK 1.0.0/linux/amd64", "OK channels/stable.json")
}

func TestRejectsTooManyRotations(t *testing.T) {
	c := newCast(t)
	repo := t.TempDir()
	initRepo(t, repo, c)
	s, _ := keys.NewSigner(c.root)
	prev := readRoot(t, repo, "root.json")
	for v := 2; v <= limits.Rotations+2; v++ {
		d := trust.NextRoot(prev)
		d.Sign(s)
		data, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(repo, trust.RootFileName(int64(v))), data, 0o644)
		os.WriteFile(filepath.Join(repo, "root.json"), data, 0o644)
		if prev, err = prev.Update(data); err != nil {
			t.Fatal(err)
		}
	}
	got := verifyRoot(t, VerifyConfig{Repo: repo}, filepath.Join(repo, "1.root.json"))
	n := len(got)
	if n != limits.Rotations+2 || got[n-2] != fmt.Sprintf("OK %d.root.json", limits.Rotations+1) ||
		!strings.HasPrefix(got[n-1], fmt.Sprintf("FAIL %d.root.json: more than %d rotations", limits.Rotations+2, limits.Rotations)) {
		t.Fatalf("got %q", got)
	}

	// Mirror and the publisher's commands, whose pin is root 1, walk the
	// same chain and refuse it too, rather than stopping short.
	one, _ := os.ReadFile(filepath.Join(repo, "1.root.json"))
	_, err := Mirror(context.Background(), MirrorConfig{From: repo, To: t.TempDir(), Root: one})
	var me *MirrorError
	if !errors.As(err, &me) || me.Path != trust.RootFileName(limits.Rotations+2) || !errors.Is(err, ErrUnverified) || !errors.Is(err, trust.ErrTooManyRotations) {
		t.Errorf("mirror: %v; want a MirrorError for %s wrapping ErrUnverified and trust.ErrTooManyRotations", err, trust.RootFileName(limits.Rotations+2))
	}
	// Even with root.json behind (a rotation interrupted before it), which
	// a walk that stopped short would accept.
	behind, _ := os.ReadFile(filepath.Join(repo, trust.RootFileName(limits.Rotations+1)))
	os.WriteFile(filepath.Join(repo, "root.json"), behind, 0o644)
	if v, err := pinnedRootOf(t, repo, one); !errors.Is(err, trust.ErrTooManyRotations) {
		t.Errorf("pinned root: version %d, %v; want trust.ErrTooManyRotations", v, err)
	}
	_, err = Rotate(context.Background(), RotateConfig{Repo: repo, Pin: pinFor(repo), Expires: inAYear.Add(time.Hour), Keys: []crypto.Signer{c.root}})
	if !errors.Is(err, trust.ErrTooManyRotations) || !strings.Contains(err.Error(), "more than one walk verifies") {
		t.Errorf("rotate: %v; want trust.ErrTooManyRotations", err)
	}
	if exists(filepath.Join(repo, trust.RootFileName(limits.Rotations+3))) {
		t.Error("rotate wrote a root")
	}
}

func TestVerifyRootOverHTTP(t *testing.T) {
	c := newCast(t)
	repo := rootRepo(t, c)
	if _, err := Rotate(context.Background(), RotateConfig{Repo: repo, Pin: pinFor(repo), Expires: inAYear.Add(time.Hour), Keys: []crypto.Signer{c.root}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
	defer srv.Close()
	pinned := filepath.Join(repo, "1.root.json")
	got := verifyRoot(t, VerifyConfig{Repo: srv.URL, Channels: []string{"stable"}}, pinned)
	wantLines(t, got, "OK 1.root.json", "OK 2.root.json", "OK 1.0.0/linux/amd64", "OK channels/stable.json")
	got = verifyRoot(t, VerifyConfig{Repo: srv.URL, Channels: []string{"beta"}, Version: "1.0.0"}, pinned)
	wantLines(t, got, "OK 1.root.json", "OK 2.root.json", "OK 1.0.0/linux/amd64", "FAIL channels/beta.json: not found in the repository: GET http://")

	root, _ := os.ReadFile(pinned)
	if _, err := Verify(context.Background(), VerifyConfig{Repo: srv.URL, Root: root}); err == nil || !strings.Contains(err.Error(), "needs --version or --channel") {
		t.Errorf("err = %v", err)
	}
}

func TestVerifyRootRefusals(t *testing.T) {
	c := newCast(t)
	repo := rootRepo(t, c)
	root, _ := os.ReadFile(filepath.Join(repo, "root.json"))
	ctx := context.Background()
	tests := []struct {
		cfg  VerifyConfig
		kind error
		msg  string
	}{
		{VerifyConfig{Repo: repo, Root: root, Keys: pubs(c.release)}, nil, "keys or a root, not both"},
		{VerifyConfig{Repo: repo, Root: []byte(`{"signed":{}}`)}, nil, "the pinned root: malformed root"},
		{VerifyConfig{Repo: repo, Keys: pubs(c.release), Channels: []string{"stable"}}, nil, "only against a root"},
		{VerifyConfig{Repo: repo, Root: root, Version: "9.9.9"}, ErrNoRelease, "no release of version 9.9.9"},
		{VerifyConfig{Repo: repo, Root: root, Channels: []string{"../x"}}, nil, "invalid channel name"},
	}
	for _, tt := range tests {
		_, err := Verify(ctx, tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.msg) || (tt.kind != nil && !errors.Is(err, tt.kind)) {
			t.Errorf("err = %v, want %q", err, tt.msg)
		}
	}
}
