package blobrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"
)

var (
	// ErrNotFound reports a path (or bucket) that does not exist.
	ErrNotFound = errors.New("blobrepo: not found")
	// ErrForbidden reports a request the store refused for lack of
	// permission. S3 answers so for a missing key to a reader that may not
	// list the bucket, so it can also mean "not found".
	ErrForbidden = errors.New("blobrepo: permission denied")
	// ErrExists reports a CreateOnly write to a path that already exists.
	// Nothing was written.
	ErrExists = errors.New("blobrepo: already exists")
	// ErrPrecondition reports an IfMatch write whose token no longer matches
	// (the object changed or is gone), or a conditional write that lost a
	// race the store could not order. Nothing was written.
	ErrPrecondition = errors.New("blobrepo: precondition failed")
	// ErrInvalidPath reports a path refused before any I/O (see the package
	// documentation for the rules).
	ErrInvalidPath = errors.New("blobrepo: invalid path")
	// ErrRange reports a read from an offset past the end of the object.
	ErrRange = errors.New("blobrepo: offset past the end")
	// ErrTooMany reports a listing that went past MaxList entries.
	ErrTooMany = errors.New("blobrepo: too many entries")
	// ErrUnsupported reports a URL scheme or an option this store cannot
	// honour; the package refuses rather than silently weakening it.
	ErrUnsupported = errors.New("blobrepo: unsupported")
)

// MaxList is the most entries List reports before it fails with ErrTooMany.
// A repository holds a few files per release; a bucket listing past this is
// either not a repository or hostile.
const MaxList = 100_000

// maxKey is the longest key (prefix included) written or read: S3's limit.
const maxKey = 1024

// maxSegment is the longest path segment, a common file system limit.
const maxSegment = 255

// OpError reports a failed operation on one path of a store.
type OpError struct {
	Op   string // "get", "put", "attributes", "list", "delete" or "open"
	URL  string // the store's URL, without its query
	Path string // the path inside the store
	Err  error  // wraps ErrNotFound, ErrExists, ... when one applies
}

func (e *OpError) Error() string {
	return fmt.Sprintf("blobrepo: %s %s in %s: %v", e.Op, e.Path, e.URL, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// PutOptions are the conditions and metadata of one Put.
type PutOptions struct {
	// CreateOnly makes the write fail with ErrExists if the path exists.
	// It is atomic on every store (see the package documentation).
	CreateOnly bool
	// IfMatch, when not empty, makes the write replace the object only if
	// its current Attrs.Token equals this one; otherwise it fails with
	// ErrPrecondition. It cannot be combined with CreateOnly.
	IfMatch string
	// ContentType is stored with the object on the cloud stores (ignored
	// by file://). Empty lets the driver guess from the first bytes.
	ContentType string
}

// Attrs are the attributes of one stored object.
type Attrs struct {
	Size    int64
	ModTime time.Time
	// Token identifies this version of the object, for PutOptions.IfMatch:
	// the ETag on S3 and Azure, the generation on GCS, and on file:// a
	// mix of inode, modification time and size.
	Token string
}

// backend is one kind of store, given validated full keys.
type backend interface {
	get(ctx context.Context, key string, offset, limit int64) (io.ReadCloser, error)
	put(ctx context.Context, key string, r io.Reader, opts PutOptions) error
	attributes(ctx context.Context, key string) (Attrs, error)
	list(ctx context.Context, prefix string, fn func(key string) error) error
	delete(ctx context.Context, key string) error
	close() error
}

// Store is a repository in a bucket or directory. It is safe for concurrent
// use by several goroutines; concurrent writes to one path are ordered only
// by the conditions in PutOptions.
type Store struct {
	b      backend
	prefix string // "" or a valid path followed by "/"
	url    string // for messages
}

// Open opens the repository at repoURL: s3://bucket/prefix?query,
// gs://bucket/prefix, azblob://container/prefix or file:///abs/dir.
// Cloud credentials come from the drivers' usual environment variables.
// Open fails if the bucket or directory cannot be reached, so a typo is
// reported here rather than on the first write.
func Open(ctx context.Context, repoURL string) (*Store, error) {
	u, err := url.Parse(repoURL)
	if err != nil {
		return nil, fmt.Errorf("blobrepo: repository URL: %w", err)
	}
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	fail := func(err error) (*Store, error) {
		return nil, &OpError{Op: "open", URL: shown, Err: err}
	}
	var prefix string
	if p := strings.Trim(u.Path, "/"); p != "" && u.Scheme != "file" {
		if err := ValidPath(p); err != nil {
			return fail(fmt.Errorf("key prefix: %w", err))
		}
		prefix = p + "/"
	}
	var b backend
	switch u.Scheme {
	case "file":
		b, err = openDir(u)
	case "s3", "gs", "azblob":
		b, err = openBucket(ctx, u)
	default:
		err = fmt.Errorf("%w: scheme %q (want s3, gs, azblob or file)", ErrUnsupported, u.Scheme)
	}
	if err != nil {
		return fail(err)
	}
	return &Store{b: b, prefix: prefix, url: shown}, nil
}

func (s *Store) key(op, path string) (string, error) {
	if err := ValidPath(path); err != nil {
		return "", &OpError{Op: op, URL: s.url, Path: path, Err: err}
	}
	k := s.prefix + path
	if len(k) > maxKey {
		return "", &OpError{Op: op, URL: s.url, Path: path,
			Err: fmt.Errorf("%w: key longer than %d bytes", ErrInvalidPath, maxKey)}
	}
	return k, nil
}

func (s *Store) wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, URL: s.url, Path: path, Err: err}
}

// Get reads path from offset. A limit >= 0 reads at most limit bytes; a
// negative limit reads to the end. The caller must close the reader. A
// missing path fails with an error wrapping ErrNotFound; an offset equal to
// the size reads nothing, and one past it fails with ErrRange, alike on
// every store. Nothing read is verified: the caller checks sizes and hashes.
func (s *Store) Get(ctx context.Context, path string, offset, limit int64) (io.ReadCloser, error) {
	k, err := s.key("get", path)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, s.wrap("get", path, fmt.Errorf("negative offset %d", offset))
	}
	r, err := s.b.get(ctx, k, offset, limit)
	return r, s.wrap("get", path, err)
}

// Put writes r to path. The object becomes visible only once r has been
// read to EOF and the store has committed it; if r fails or ctx is
// cancelled first, nothing is written under path. See PutOptions for the
// conditions, which the store checks atomically with the commit.
func (s *Store) Put(ctx context.Context, path string, r io.Reader, opts PutOptions) error {
	k, err := s.key("put", path)
	if err != nil {
		return err
	}
	if opts.CreateOnly && opts.IfMatch != "" {
		return s.wrap("put", path, fmt.Errorf("%w: CreateOnly and IfMatch together", ErrUnsupported))
	}
	return s.wrap("put", path, s.b.put(ctx, k, r, opts))
}

// Attributes returns the size and version token of path, or an error
// wrapping ErrNotFound.
func (s *Store) Attributes(ctx context.Context, path string) (Attrs, error) {
	k, err := s.key("attributes", path)
	if err != nil {
		return Attrs{}, err
	}
	a, err := s.b.attributes(ctx, k)
	return a, s.wrap("attributes", path, err)
}

// List calls fn with every path that starts with prefix (a plain string
// prefix such as "1.2.0/" or ""), in byte order, after the whole listing has
// been read. It stops at the first error fn returns and returns it wrapped.
// Zero-size "directory marker" keys ending in "/" are skipped; any other key
// that is not a valid path fails the listing with ErrInvalidPath, and more
// than MaxList paths fail it with ErrTooMany.
func (s *Store) List(ctx context.Context, prefix string, fn func(path string) error) error {
	if prefix != "" {
		if err := ValidPath(strings.TrimSuffix(prefix, "/")); err != nil {
			return s.wrap("list", prefix, err)
		}
	}
	var paths []string
	err := s.b.list(ctx, s.prefix+prefix, func(key string) error {
		if strings.HasSuffix(key, "/") {
			return nil
		}
		p := strings.TrimPrefix(key, s.prefix)
		if err := ValidPath(p); err != nil {
			return fmt.Errorf("listed key %q: %w", key, err)
		}
		if len(paths) == MaxList {
			return fmt.Errorf("%w: more than %d under %q", ErrTooMany, MaxList, prefix)
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return s.wrap("list", prefix, err)
	}
	slices.Sort(paths)
	for _, p := range paths {
		if err := fn(p); err != nil {
			return s.wrap("list", prefix, err)
		}
	}
	return nil
}

// Delete removes path, or fails with an error wrapping ErrNotFound.
func (s *Store) Delete(ctx context.Context, path string) error {
	k, err := s.key("delete", path)
	if err != nil {
		return err
	}
	return s.wrap("delete", path, s.b.delete(ctx, k))
}

// Close releases the store's clients. The Store must not be used after.
func (s *Store) Close() error {
	return s.wrap("close", "", s.b.close())
}

// String returns the store's URL without its query.
func (s *Store) String() string { return s.url }
