package apply_test

import (
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/trust"
)

// s3Denied answers as S3 does to a reader without list permission that
// asks for a missing key: 403 AccessDenied, not 404.
func s3Denied(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusForbidden)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
}

// Issue 14, fix 9: a repository in an S3 bucket read without list
// permission answers 403 for the next root, which it does not have. That
// ends the walk as a 404 does, with or without a rotation before it.
func TestSurvivesForbiddenRootProbe(t *testing.T) {
	t.Run("no new root", func(t *testing.T) {
		f := newRootFixture(t)
		f.repo.handle("/2.root.json", s3Denied)
		if err := apply.Apply(t.Context(), f.rootOpts(apply.CurrentVersion("1.0.0"))...); err != nil {
			t.Fatal(err)
		}
		wantFile(t, f.target, f.bin)
		if v := f.storedRoot(t); v != 1 {
			t.Errorf("store holds root %d, want 1", v)
		}
	})
	t.Run("after a rotation", func(t *testing.T) {
		f := newRootFixture(t)
		k2 := newKey(t)
		r2 := f.rotate(t, f.root1, func(d *trust.RootDraft) { d.Targets = role(1, k2) }, f.rootKey)
		f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, k2)
		f.repo.handle("/3.root.json", s3Denied)
		if err := apply.Apply(t.Context(), f.rootOpts(apply.CurrentVersion("1.0.0"))...); err != nil {
			t.Fatal(err)
		}
		wantFile(t, f.target, f.bin)
		wantFile(t, filepath.Join(f.store, "root.json"), r2)
		if n := f.repo.count("/3.root.json"); n != 1 {
			t.Errorf("3.root.json requested %d times, want 1", n)
		}
	})
}

// A 403 anywhere but the probe of the next root is an error wrapping
// ErrForbidden, never taken for a missing file: a refused release.json or
// channel stops the update.
func TestSurvivesForbiddenBeyondRootProbe(t *testing.T) {
	for _, path := range []string{"/2.0.0/linux/amd64/release.json", "/2.0.0/linux/amd64/app.bz2", "/channels/stable.json"} {
		t.Run(path, func(t *testing.T) {
			f := newRootFixture(t)
			f.writeChannel(t, "stable", "2.0.0", []string{"linux/amd64"}, 1, inAYear(), f.tsKey)
			f.repo.handle("/2.root.json", s3Denied)
			f.repo.handle(path, s3Denied)
			before := listDir(t, f.dir)
			err := apply.Apply(t.Context(), f.channelOpts("stable")...)
			wantRefused(t, f.fixture, before, err, apply.ErrForbidden)
			if errors.Is(err, apply.ErrNotFound) {
				t.Errorf("%v wraps ErrNotFound", err)
			}
		})
	}
}
