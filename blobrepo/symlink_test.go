package blobrepo

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// symlink makes link point at target.
func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// refused reports whether err is a refusal naming want; where this
// platform has no directory lock, an IfMatch write is refused earlier, as
// unsupported, which stops the write as well.
func refused(err error, opts PutOptions, want ...string) bool {
	if err == nil {
		return false
	}
	if opts.IfMatch != "" && !canLockDir {
		return errors.Is(err, ErrUnsupported)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			return false
		}
	}
	return true
}

// outsideFiles lists every file under dir with its content.
func outsideFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		files[p] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sameFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A symbolic link inside a file:// repository that leads outside it (a
// version directory linked elsewhere, a release.json linked to one of the
// publisher's files) must make a write or a delete fail, naming the link,
// with nothing outside the repository written, made or removed.
func TestRejectsWriteThroughSymlink(t *testing.T) {
	options := map[string]PutOptions{
		"plain":       {},
		"create-only": {CreateOnly: true},
		"if-match":    {IfMatch: "1-2-3"},
	}
	for name, opts := range options {
		t.Run("version directory/"+name, func(t *testing.T) {
			repo, outside := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("publisher's"), 0o600); err != nil {
				t.Fatal(err)
			}
			symlink(t, outside, filepath.Join(repo, "3.0.0"))
			before := outsideFiles(t, outside)
			s := openDirStore(t, repo)
			for _, key := range []string{"3.0.0/linux/amd64/app.bz2", "3.0.0/linux/amd64/release.json", "3.0.0/keep"} {
				err := s.Put(t.Context(), key, strings.NewReader("attacker's"), opts)
				if !refused(err, opts, "3.0.0 is a symbolic link leading out of the repository") {
					t.Errorf("Put(%s) error = %v, want one naming the link 3.0.0", key, err)
				}
			}
			if err := s.Delete(t.Context(), "3.0.0/keep"); err == nil || !strings.Contains(err.Error(), "3.0.0 is a symbolic link") {
				t.Errorf("Delete(3.0.0/keep) error = %v, want one naming the link 3.0.0", err)
			}
			if after := outsideFiles(t, outside); !sameFiles(before, after) {
				t.Errorf("files outside the repository changed: %v, were %v", after, before)
			}
			if _, err := os.Stat(filepath.Join(outside, "linux")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a directory was made outside the repository: %v", err)
			}
		})
		t.Run("final file/"+name, func(t *testing.T) {
			repo, outside := t.TempDir(), t.TempDir()
			secret := filepath.Join(outside, "secret")
			if err := os.WriteFile(secret, []byte("publisher's"), 0o600); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(repo, "3.0.0", "linux", "amd64", "release.json")
			symlink(t, secret, link)
			before := outsideFiles(t, outside)
			s := openDirStore(t, repo)
			key := "3.0.0/linux/amd64/release.json"
			err := s.Put(t.Context(), key, strings.NewReader("attacker's"), opts)
			if !refused(err, opts, key, "symbolic link") {
				t.Errorf("Put(%s) error = %v, want one naming the link", key, err)
			}
			if after := outsideFiles(t, outside); !sameFiles(before, after) {
				t.Errorf("files outside the repository changed: %v, were %v", after, before)
			}
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("the link was replaced: %v, %v", fi, err)
			}
		})
	}
}

// Reads of a file:// repository do not follow a link out of it either: a
// release.json linked to a file of the publisher's is neither read, nor
// listed, nor given a token.
func TestRejectsReadThroughSymlink(t *testing.T) {
	repo, outside := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(outside, "linux", "amd64"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "linux", "amd64", "release.json"), []byte("publisher's"), 0o600); err != nil {
		t.Fatal(err)
	}
	symlink(t, outside, filepath.Join(repo, "3.0.0"))
	s := openDirStore(t, repo)
	ctx := t.Context()
	key := "3.0.0/linux/amd64/release.json"
	if r, err := s.Get(ctx, key, 0, -1); err == nil || !strings.Contains(err.Error(), "3.0.0 is a symbolic link") {
		if r != nil {
			r.Close()
		}
		t.Errorf("Get(%s) error = %v, want one naming the link 3.0.0", key, err)
	}
	if a, err := s.Attributes(ctx, key); err == nil || !strings.Contains(err.Error(), "3.0.0 is a symbolic link") {
		t.Errorf("Attributes(%s) = %+v, %v, want an error naming the link 3.0.0", key, a, err)
	}
	var listed bytes.Buffer
	err := s.List(ctx, "3.0.0/", func(p string) error { listed.WriteString(p + " "); return nil })
	if listed.Len() != 0 || err == nil || !strings.Contains(err.Error(), "3.0.0 is a symbolic link") {
		t.Errorf("List(3.0.0/) listed %q, error %v; want nothing and an error naming the link 3.0.0", listed.String(), err)
	}
}
