package blobrepo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/safeupdate/safeupdate/internal/fileurl"
	"github.com/safeupdate/safeupdate/internal/localfile"
)

// dirStore is the file:// backend. Keys map to files under the directory;
// temporary files start with "." so that no valid path can name or list
// them.
//
// Every access, read or write, goes through root, an os.Root of the
// directory: a symbolic link inside the repository that leads outside it
// (a version directory linked elsewhere, a release.json linked to a file of
// the publisher's) makes the operation fail instead of reading or writing
// outside. Links that stay inside are followed, as os.Root does.
type dirStore struct {
	root *os.Root // the directory, opened once
}

// tempPrefix and tempSuffix surround a random name: temporary files.
const tempPrefix, tempSuffix = ".blobrepo-", ".tmp"

func openDir(u *url.URL) (backend, error) {
	if u.RawQuery != "" {
		return nil, fmt.Errorf("%w: file URL query %q", ErrUnsupported, u.RawQuery)
	}
	p, err := fileurl.Dir(u)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: directory %s (create it first)", ErrNotFound, p)
		}
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", p)
	}
	root, err := os.OpenRoot(filepath.Clean(p))
	if err != nil {
		return nil, err
	}
	return &dirStore{root: root}, nil
}

// escaped explains err, from an operation of the root on key: os.Root
// refuses a name that leads outside the directory, with an error callers
// cannot test for, so this looks for the first symbolic link on the way
// that the root will not follow and names it. Other errors are returned
// as they are.
func (d *dirStore) escaped(key string, err error) error {
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) {
		return err
	}
	p := ""
	for seg := range strings.SplitSeq(key, "/") {
		p = path.Join(p, seg)
		fi, lerr := d.root.Lstat(filepath.FromSlash(p))
		if lerr != nil {
			break
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if _, serr := d.root.Stat(filepath.FromSlash(p)); serr != nil && !errors.Is(serr, fs.ErrNotExist) {
			return fmt.Errorf("%s is a symbolic link leading out of the repository; refusing to follow it (%w)", p, err)
		}
	}
	return err
}

func notFound(err error) error {
	// ENOTDIR: a path below a file, which is no object either.
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	}
	return err
}

func (d *dirStore) get(ctx context.Context, key string, offset, limit int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Examined before it is opened: opening a FIFO planted in the
	// repository would block until a writer came.
	f, fi, err := localfile.OpenIn(d.root, filepath.FromSlash(key))
	if errors.Is(err, localfile.ErrNotRegular) {
		return nil, fmt.Errorf("%w: not a regular file", ErrNotFound)
	}
	if err != nil {
		return nil, notFound(d.escaped(key, err))
	}
	if err == nil && offset > 0 && offset >= fi.Size() {
		f.Close()
		return endOfObject(offset, fi.Size())
	}
	if err == nil && offset > 0 {
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	if limit < 0 {
		return f, nil
	}
	return &limitedFile{Reader: io.LimitReader(f, limit), f: f}, nil
}

// endOfObject is what a read at offset >= size returns: nothing at the end,
// ErrRange past it.
func endOfObject(offset, size int64) (io.ReadCloser, error) {
	if offset > size {
		return nil, fmt.Errorf("%w: offset %d, size %d", ErrRange, offset, size)
	}
	return io.NopCloser(strings.NewReader("")), nil
}

type limitedFile struct {
	io.Reader
	f *os.File
}

func (l *limitedFile) Close() error { return l.f.Close() }

// ctxReader stops a copy when its context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (d *dirStore) put(ctx context.Context, key string, r io.Reader, opts PutOptions) error {
	if opts.IfMatch != "" && !canLockDir {
		return fmt.Errorf("%w: IfMatch on a file:// store on %s (no directory lock)", ErrUnsupported, runtime.GOOS)
	}
	dir, base, err := d.openParent(key, true)
	if err != nil {
		return err
	}
	defer dir.Close()
	// A link at the final name is refused, for a clear message: the
	// rename would replace the link, not write through it, and link(2)
	// and the IfMatch check go through dir, which does not follow it out.
	if fi, err := dir.Lstat(base); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symbolic link; refusing to write through it or replace it", key)
	}
	tmp, name, err := createTemp(dir)
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		tmp.Close() // a second Close only returns an error
		if !renamed {
			dir.Remove(name)
		}
	}()
	if _, err := io.Copy(tmp, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("upload aborted, nothing written: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if opts.CreateOnly {
		// link(2) fails if final exists, atomically, across processes.
		if err := dir.Link(name, base); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%w (%w)", ErrExists, err)
			}
			return fmt.Errorf("%w: CreateOnly needs hard links, which failed here: %w", ErrUnsupported, err)
		}
		return syncDir(dir)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	if opts.IfMatch != "" {
		fi, err := dir.Stat(base)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w: object is gone (%w)", ErrPrecondition, err)
			}
			return d.escaped(key, err)
		}
		if t := fileToken(fi); t != opts.IfMatch {
			return fmt.Errorf("%w: token is %s, not %s", ErrPrecondition, t, opts.IfMatch)
		}
	}
	if err := dir.Rename(name, base); err != nil {
		return err
	}
	renamed = true
	return syncDir(dir)
}

// openParent opens, as a root of its own, the directory of key inside the
// repository (making it first when create), and returns it with the key's
// last segment. Every later step of a write or a delete names a file of
// this one directory: the lock, the temporary file, the link or rename and
// the fsync all see the same directory, which cannot lead outside.
func (d *dirStore) openParent(key string, create bool) (*os.Root, string, error) {
	parent, base := path.Split(key)
	parent = strings.TrimSuffix(parent, "/")
	if parent == "" {
		dir, err := d.root.OpenRoot(".")
		return dir, base, err
	}
	if create {
		if err := d.root.MkdirAll(filepath.FromSlash(parent), 0o755); err != nil {
			return nil, "", d.escaped(key, err)
		}
	}
	dir, err := d.root.OpenRoot(filepath.FromSlash(parent))
	if err != nil {
		return nil, "", d.escaped(key, err)
	}
	return dir, base, nil
}

// createTemp creates a new temporary file in dir, with a random name that
// no valid path can name (it starts with a dot). O_EXCL: a name someone
// planted is never opened.
func createTemp(dir *os.Root) (*os.File, string, error) {
	name := tempPrefix + rand.Text() + tempSuffix
	f, err := dir.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", err
	}
	return f, name, nil
}

func (d *dirStore) attributes(ctx context.Context, key string) (Attrs, error) {
	if err := ctx.Err(); err != nil {
		return Attrs{}, err
	}
	fi, err := d.root.Stat(filepath.FromSlash(key))
	if err != nil {
		return Attrs{}, notFound(d.escaped(key, err))
	}
	if !fi.Mode().IsRegular() {
		return Attrs{}, fmt.Errorf("%w: not a regular file", ErrNotFound)
	}
	return Attrs{Size: fi.Size(), ModTime: fi.ModTime(), Token: fileToken(fi)}, nil
}

func (d *dirStore) list(ctx context.Context, prefix string, fn func(string) error) error {
	// Walk from the deepest directory the prefix names, not the root.
	start := "."
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = prefix[:i]
	}
	err := fs.WalkDir(d.root.FS(), start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return d.escaped(p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".") && p != start {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(p, prefix) {
			return nil
		}
		return fn(p)
	})
	return err
}

func (d *dirStore) delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, base, err := d.openParent(key, false)
	if err != nil {
		return notFound(err)
	}
	defer dir.Close()
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	fi, err := dir.Lstat(base)
	if err != nil {
		return notFound(err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: not a regular file", ErrNotFound)
	}
	if err := dir.Remove(base); err != nil {
		return notFound(err)
	}
	return syncDir(dir)
}

func (d *dirStore) close() error { return d.root.Close() }
