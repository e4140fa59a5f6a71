package blobrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// dirStore is the file:// backend. Keys map to files under root; temporary
// files start with "." so that no valid path can name or list them.
type dirStore struct {
	root string
}

const tempPattern = ".blobrepo-*.tmp"

func openDir(u *url.URL) (backend, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("file URL host %q: want file:///absolute/dir", u.Host)
	}
	if u.RawQuery != "" {
		return nil, fmt.Errorf("%w: file URL query %q", ErrUnsupported, u.RawQuery)
	}
	p := u.Path
	if runtime.GOOS == "windows" && len(p) > 2 && p[0] == '/' && p[2] == ':' {
		p = p[1:] // file:///C:/dir
	}
	p = filepath.FromSlash(p)
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("file URL path %q is not absolute", u.Path)
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
	return &dirStore{root: filepath.Clean(p)}, nil
}

func (d *dirStore) file(key string) string {
	return filepath.Join(d.root, filepath.FromSlash(key))
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
	f, err := os.Open(d.file(key))
	if err != nil {
		return nil, notFound(err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w: not a regular file", ErrNotFound)
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
	final := d.file(key)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return err
	}
	name, renamed := tmp.Name(), false
	defer func() {
		tmp.Close() // a second Close only returns an error
		if !renamed {
			os.Remove(name)
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
		if err := os.Link(name, final); err != nil {
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
		fi, err := os.Stat(final)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w: object is gone (%w)", ErrPrecondition, err)
			}
			return err
		}
		if t := fileToken(fi); t != opts.IfMatch {
			return fmt.Errorf("%w: token is %s, not %s", ErrPrecondition, t, opts.IfMatch)
		}
	}
	if err := os.Rename(name, final); err != nil {
		return err
	}
	renamed = true
	return syncDir(dir)
}

func (d *dirStore) attributes(ctx context.Context, key string) (Attrs, error) {
	if err := ctx.Err(); err != nil {
		return Attrs{}, err
	}
	fi, err := os.Stat(d.file(key))
	if err != nil {
		return Attrs{}, notFound(err)
	}
	if !fi.Mode().IsRegular() {
		return Attrs{}, fmt.Errorf("%w: not a regular file", ErrNotFound)
	}
	return Attrs{Size: fi.Size(), ModTime: fi.ModTime(), Token: fileToken(fi)}, nil
}

func (d *dirStore) list(ctx context.Context, prefix string, fn func(string) error) error {
	// Walk from the deepest directory the prefix names, not the root.
	start := d.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = d.file(prefix[:i])
	}
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), ".") && p != start {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		return fn(key)
	})
	return err
}

func (d *dirStore) delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	final := d.file(key)
	dir := filepath.Dir(final)
	if _, err := os.Stat(dir); err != nil {
		return notFound(err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	fi, err := os.Lstat(final)
	if err != nil {
		return notFound(err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: not a regular file", ErrNotFound)
	}
	if err := os.Remove(final); err != nil {
		return notFound(err)
	}
	return syncDir(dir)
}

func (d *dirStore) close() error { return nil }
