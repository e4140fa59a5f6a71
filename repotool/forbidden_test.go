package repotool

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// serveDenying serves dir over HTTP on 127.0.0.1, answering the paths in
// deny as S3 answers a reader without list permission asking for a
// missing key: 403 AccessDenied.
func serveDenying(t *testing.T, dir string, deny ...string) string {
	t.Helper()
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(deny, r.URL.Path) {
			files.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// pinnedRootOf runs pinnedRoot on the repository at url, read-only, from a
// pin holding the root data.
func pinnedRootOf(t *testing.T, url string, data []byte) (int64, error) {
	t.Helper()
	s, err := openStore(t.Context(), url, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, pinRootFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := loadPin("test", dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pinnedRoot(t.Context(), s, "test", p)
	if err != nil {
		return 0, err
	}
	return r.Version(), nil
}

// Issue 14, fix 9, for the publisher's walks: a 403 for the next root,
// which the repository does not have, ends the walk as a 404 does.
func TestSurvivesForbiddenRootProbe(t *testing.T) {
	repo, _, one := fullRepo(t) // roots 1 and 2
	url := serveDenying(t, repo, "/3.root.json")
	t.Run("verify", func(t *testing.T) {
		got := verifyRoot(t, VerifyConfig{Repo: url, Channels: []string{"stable"}}, filepath.Join(repo, "1.root.json"))
		wantLines(t, got, "OK 1.root.json", "OK 2.root.json", "OK 1.0.0/linux/amd64", "OK 1.0.0/linux/arm64", "OK channels/stable.json")
	})
	t.Run("mirror", func(t *testing.T) {
		dst := t.TempDir()
		res, err := Mirror(t.Context(), MirrorConfig{From: url, To: dst, Root: one, Versions: []string{"1.0.0"}, Channels: []string{"stable"}})
		if err != nil || res.Root != 2 {
			t.Fatalf("mirror: %+v, %v; want root 2", res, err)
		}
		if got, want := files(t, dst), files(t, repo); got["2.root.json"] != want["2.root.json"] || got["root.json"] != want["root.json"] {
			t.Error("the mirror does not hold root 2 as 2.root.json and root.json")
		}
	})
	t.Run("pinned root", func(t *testing.T) {
		if v, err := pinnedRootOf(t, url, one); err != nil || v != 2 {
			t.Fatalf("pinned root: version %d, %v; want 2", v, err)
		}
	})
}

// Refusing any other file is an error, not a missing file: a root the
// chain must hold (up to the pinned one, root.json), or a release.json.
func TestSurvivesForbiddenBeyondRootProbe(t *testing.T) {
	repo, _, one := fullRepo(t)
	two, err := os.ReadFile(filepath.Join(repo, "2.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("verify", func(t *testing.T) {
		url := serveDenying(t, repo, "/1.root.json", "/1.0.0/linux/arm64/release.json")
		got := verifyRoot(t, VerifyConfig{Repo: url, Channels: []string{"stable"}}, filepath.Join(repo, "2.root.json"))
		wantLines(t, got, "FAIL 1.root.json: the repository refused access: GET http://", "OK 2.root.json", "OK 1.0.0/linux/amd64",
			"FAIL 1.0.0/linux/arm64: the repository refused access: GET http://",
			"FAIL channels/stable.json: points to 1.0.0/linux/arm64, which does not verify")
		got = verifyRoot(t, VerifyConfig{Repo: serveDenying(t, repo, "/2.root.json"), Version: "1.0.0"}, filepath.Join(repo, "2.root.json"))
		wantLines(t, got, "OK 1.root.json", "FAIL 2.root.json: the repository refused access: GET http://", "OK 1.0.0/linux/amd64", "OK 1.0.0/linux/arm64")
	})
	t.Run("mirror", func(t *testing.T) {
		for _, name := range []string{"1.root.json", "2.root.json"} {
			url := serveDenying(t, repo, "/"+name)
			_, err := Mirror(t.Context(), MirrorConfig{From: url, To: t.TempDir(), Root: two, Versions: []string{"1.0.0"}})
			var me *MirrorError
			if !errors.As(err, &me) || me.Path != name || !errors.Is(err, ErrForbidden) {
				t.Errorf("%s refused: %v; want a MirrorError for it wrapping ErrForbidden", name, err)
			}
		}
	})
	t.Run("pinned root", func(t *testing.T) {
		for _, tc := range []struct{ deny, pinned string }{{"/1.root.json", string(one)}, {"/2.root.json", string(two)}, {"/root.json", string(one)}} {
			_, err := pinnedRootOf(t, serveDenying(t, repo, tc.deny), []byte(tc.pinned))
			if !errors.Is(err, ErrForbidden) || errors.Is(err, ErrPin) || !strings.Contains(err.Error(), "403") {
				t.Errorf("%s refused: %v; want ErrForbidden, not ErrPin", tc.deny, err)
			}
		}
	})
}
