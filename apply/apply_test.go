package apply_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
)

func TestApplyReplacesTarget(t *testing.T) {
	f := newFixture(t)
	if err := os.Chmod(f.target, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := apply.Apply(t.Context(), f.opts()...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
	wantFile(t, f.target+".backup", f.old)
	fi, err := os.Stat(f.target)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o750 {
		t.Errorf("mode %v, want -rwxr-x---", fi.Mode())
	}
	if got := listDir(t, f.dir); len(got) != 2 {
		t.Errorf("target directory holds %v, want only app and app.backup", sortedKeys(got))
	}
	if n, m := f.repo.count("release.json"), f.repo.count("app.bz2"); n != 1 || m != 1 {
		t.Errorf("%d requests for release.json and %d for the payload, want 1 each", n, m)
	}
}

func TestApplyFromDirectory(t *testing.T) {
	f := newFixture(t)
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(f.repo.dir)}
	if err := apply.Apply(t.Context(), f.optsFrom(apply.SourceRepo(u.String()))...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
	if n := f.repo.count(""); n != 0 {
		t.Errorf("%d HTTP requests, want none", n)
	}
}

func TestApplyWithSource(t *testing.T) {
	f := newFixture(t)
	src, err := apply.DirSource(f.repo.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := apply.Apply(t.Context(), f.optsFrom(apply.WithSource(src))...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
}

func TestApplyTwoOfTwoKeys(t *testing.T) {
	f := newFixture(t)
	k2 := newKey(t)
	f.repo.publish(t, "2.0.0", "linux", "amd64", f.bin, f.key, k2)
	if err := apply.Apply(t.Context(), f.opts(apply.PublicKey(k2.pub), apply.Threshold(2))...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
}

func TestApplySameVersionDoesNothing(t *testing.T) {
	f := newFixture(t)
	before := listDir(t, f.dir)
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	if err := apply.Apply(t.Context(), f.opts(apply.CurrentVersion("2.0.0"), apply.Logger(logger))...); err != nil {
		t.Fatal(err)
	}
	sameDir(t, f.dir, before)
	if n := f.repo.count("app.bz2"); n != 0 {
		t.Errorf("payload fetched %d times, want 0", n)
	}
	if !strings.Contains(log.String(), "already at this version") {
		t.Errorf("log does not say the version is installed:\n%s", log.String())
	}
}

func TestApplyAllowDowngradeUnsafe(t *testing.T) {
	f := newFixture(t)
	if err := apply.Apply(t.Context(), f.opts(apply.CurrentVersion("3.0.0"), apply.AllowDowngradeUnsafe())...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
}

func TestApplyProgress(t *testing.T) {
	f := newFixture(t)
	var calls int
	var last, total int64
	progress := func(done, tot int64) {
		if done < last {
			t.Errorf("progress went back from %d to %d", last, done)
		}
		calls, last, total = calls+1, done, tot
	}
	if err := apply.Apply(t.Context(), f.opts(apply.Progress(progress))...); err != nil {
		t.Fatal(err)
	}
	if calls == 0 || last != int64(len(f.bin)) || total != int64(len(f.bin)) {
		t.Errorf("%d progress calls, last (%d, %d), want last (%d, %d)", calls, last, total, len(f.bin), len(f.bin))
	}
}

func TestApplyKeepsSymlinkToTarget(t *testing.T) {
	f := newFixture(t)
	link := filepath.Join(t.TempDir(), "app")
	if err := os.Symlink(f.target, link); err != nil {
		t.Fatal(err)
	}
	opts := append(f.opts(), apply.TargetFile(link))
	if err := apply.Apply(t.Context(), opts...); err != nil {
		t.Fatal(err)
	}
	if dest, err := os.Readlink(link); err != nil || dest != f.target {
		t.Errorf("link now points to %q (%v), want %s", dest, err, f.target)
	}
	wantFile(t, f.target, f.bin)
	wantFile(t, f.target+".backup", f.old)
}

func TestApplyReplacesOldBackup(t *testing.T) {
	f := newFixture(t)
	backup := filepath.Join(t.TempDir(), "kept")
	if err := os.WriteFile(backup, []byte("older backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := apply.Apply(t.Context(), f.opts(apply.BackupFile(backup))...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, backup, f.old)
	wantFile(t, f.target, f.bin)
	if got := listDir(t, filepath.Dir(backup)); len(got) != 1 {
		t.Errorf("backup directory holds %v, want only the backup", sortedKeys(got))
	}
}

func TestApplyUnsignedLegacyRepository(t *testing.T) {
	f := newFixture(t)
	// choria-io/go-updater's update-repo writes only these two members.
	f.repo.writeFile(t, "2.0.0/linux/amd64/release.json",
		[]byte(`{"binary": "app.bz2", "hash": "`+hexSHA256(f.bin)+`"}`))
	opts := []apply.Option{apply.SourceRepo(f.repo.url()), apply.Version("2.0.0"), apply.OS("linux"), apply.Arch("amd64"),
		apply.AllowUnsignedUnsafe(), apply.TargetFile(f.target)}
	if err := apply.Apply(t.Context(), opts...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)

	// The same repository without the opt-in is refused.
	if err := os.WriteFile(f.target, f.old, 0o755); err != nil {
		t.Fatal(err)
	}
	err := apply.Apply(t.Context(), f.opts()...)
	if !errors.Is(err, apply.ErrMetadata) {
		t.Errorf("got %v, want ErrMetadata", err)
	}
	wantFile(t, f.target, f.old)
}

func TestCheckReturnsVerifiedRelease(t *testing.T) {
	f := newFixture(t)
	before := listDir(t, f.dir)
	rel, err := apply.Check(t.Context(), f.opts(apply.CurrentVersion("1.0.0"))...)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != "2.0.0" || rel.Hash != f.rel.Hash || rel.Size != f.rel.Size {
		t.Errorf("got %+v, want %+v", rel, f.rel)
	}
	sameDir(t, f.dir, before)
	if n := f.repo.count("app.bz2"); n != 0 {
		t.Errorf("Check fetched the payload %d times", n)
	}
}

func TestConfigErrorsBeforeNetwork(t *testing.T) {
	f := newFixture(t)
	k2 := newKey(t)
	base := []apply.Option{apply.SourceRepo(f.repo.url()), apply.Version("2.0.0"), apply.OS("linux"), apply.Arch("amd64"), apply.TargetFile(f.target)}
	tests := []struct {
		name string
		opts []apply.Option
		want string
	}{
		{"no trust", base, "no trusted key"},
		{"unsigned with key", append(base, apply.AllowUnsignedUnsafe(), apply.PublicKey(f.key.pub)), "not both"},
		{"threshold over keys", append(base, apply.PublicKey(f.key.pub), apply.Threshold(2)), "threshold"},
		{"same key twice", append(base, apply.PublicKey(f.key.pub), apply.PublicKey(f.key.pub)), "twice"},
		{"bad key", append(base, apply.PublicKey([]byte("not a key"))), "PublicKey"},
		{"no version", []apply.Option{apply.SourceRepo(f.repo.url()), apply.PublicKey(f.key.pub), apply.TargetFile(f.target)}, "Version"},
		{"no repository", []apply.Option{apply.Version("2.0.0"), apply.PublicKey(f.key.pub), apply.TargetFile(f.target)}, "repository"},
		{"bad version", append(base, apply.PublicKey(f.key.pub), apply.Version("2.0/../..")), "version"},
		{"unknown platform", append(base, apply.PublicKey(f.key.pub), apply.OS("plan10")), "platform"},
		{"bad scheme", append(base, apply.PublicKey(f.key.pub), apply.SourceRepo("ftp://127.0.0.1/")), "want http"},
		{"missing target", append(base, apply.PublicKey(f.key.pub), apply.TargetFile(filepath.Join(f.dir, "nope"))), "target"},
		{"backup is target", append(base, apply.PublicKey(f.key.pub), apply.BackupFile(f.target)), "target itself"},
		{"source twice", append(base, apply.PublicKey(k2.pub), apply.WithSource(mustDirSource(t, f.repo.dir))), "both"},
		{"zero stall", append(base, apply.PublicKey(f.key.pub), apply.StallTimeout(0)), "StallTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := apply.Apply(context.Background(), tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "apply: ") {
				t.Errorf("got %v, want an error about %q", err, tt.want)
			}
			for _, s := range []error{apply.ErrSignature, apply.ErrChecksum, apply.ErrMetadata, apply.ErrTooLarge, apply.ErrNotFound, apply.ErrDowngrade} {
				if errors.Is(err, s) {
					t.Errorf("configuration error %v wraps %v", err, s)
				}
			}
		})
	}
	if n := f.repo.count(""); n != 0 {
		t.Errorf("%d requests made, want none before the configuration is valid", n)
	}
}

func mustDirSource(t testing.TB, dir string) apply.Source {
	t.Helper()
	s, err := apply.DirSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
