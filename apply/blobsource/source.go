package blobsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"syscall"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/blobrepo"
	"github.com/safeupdate/safeupdate/internal/fileurl"
)

// Source reads a repository in a bucket or a local directory; it is an
// apply.Source. It is safe for concurrent use. Close it when done.
type Source struct {
	store    *blobrepo.Store // s3, gs, azblob
	borrowed bool            // store is the caller's (FromStore): Close leaves it
	dir      apply.Source    // file
	url      string          // for messages: no query
}

var _ apply.Source = (*Source)(nil)

// Open opens the repository at repoURL: s3://bucket/prefix?query,
// gs://bucket/prefix?query, azblob://container/prefix?query or
// file:///absolute/dir (see the package documentation for the query
// parameters and where credentials come from). For the clouds it fails if
// the bucket cannot be reached or does not exist, so a wrong URL or missing
// credentials are reported here, before an update starts.
//
// Nothing is read from the repository yet, and nothing Open returns is
// trusted: apply verifies every byte it later reads through the Source.
func Open(ctx context.Context, repoURL string) (*Source, error) {
	u, err := url.Parse(repoURL)
	if err != nil {
		return nil, fmt.Errorf("blobsource: repository URL: %w", err)
	}
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	switch u.Scheme {
	case "s3", "gs", "azblob":
		st, err := blobrepo.Open(ctx, repoURL)
		if err != nil {
			return nil, fmt.Errorf("blobsource: %w", err)
		}
		return &Source{store: st, url: st.String()}, nil
	case "file":
		dir, err := fileurl.Dir(u)
		if err != nil {
			return nil, fmt.Errorf("blobsource: repository %w", err)
		}
		ds, err := apply.DirSource(dir)
		if err != nil {
			return nil, fmt.Errorf("blobsource: %w", err)
		}
		return &Source{dir: ds, url: shown}, nil
	case "http", "https":
		return nil, fmt.Errorf("blobsource: repository URL %s: for http and https use apply.SourceRepo", shown)
	}
	return nil, fmt.Errorf("blobsource: repository URL %s: scheme %q: want s3, gs, azblob or file", shown, u.Scheme)
}

// FromStore returns a Source reading the opened store st, which stays the
// caller's: closing the Source leaves st open. repotool reads the buckets
// it writes through it, so that it reads them exactly as clients do.
func FromStore(st *blobrepo.Store) *Source {
	return &Source{store: st, borrowed: true, url: st.String()}
}

// Open returns the object at path (slash-separated, relative to the URL's
// prefix) from byte offset on. path is checked before any request
// (blobrepo.ValidPath, and for file:// the rules of apply.DirSource). An
// offset equal to the object's size reads nothing; past it, the error wraps
// blobrepo.ErrRange. A missing object is an error wrapping
// apply.ErrNotFound. The bytes are not verified here: apply does that.
func (s *Source) Open(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("blobsource: %s: negative offset %d", path, offset)
	}
	if s.dir != nil {
		return s.openDir(ctx, path, offset)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blobsource: %w", err)
	}
	rc, err := s.store.Get(ctx, path, offset, -1)
	switch {
	case err == nil:
		return rc, nil
	case errors.Is(err, blobrepo.ErrNotFound):
		return nil, fmt.Errorf("%w: %w", apply.ErrNotFound, err)
	case errors.Is(err, blobrepo.ErrForbidden):
		return nil, fmt.Errorf("%w: %w", apply.ErrForbidden, err)
	case errors.Is(err, blobrepo.ErrRange):
		return nil, fmt.Errorf("blobsource: cannot resume %s in %s at byte %d: the object is shorter now, so it changed since the download began (%w)", path, s.url, offset, err)
	}
	return nil, fmt.Errorf("blobsource: %w", err)
}

// openDir reads from the local directory, and, like the buckets, refuses
// an offset past the end of the file rather than reading nothing.
func (s *Source) openDir(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	rc, err := s.dir.Open(ctx, path, offset)
	if errors.Is(err, syscall.ENOTDIR) && !errors.Is(err, apply.ErrNotFound) {
		// A path below a file: no object either, as in a bucket.
		return nil, fmt.Errorf("%w: %w", apply.ErrNotFound, err)
	}
	if err != nil || offset == 0 {
		return rc, err
	}
	f, ok := rc.(interface{ Stat() (fs.FileInfo, error) })
	if !ok {
		return rc, nil
	}
	fi, err := f.Stat()
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("blobsource: %w", err)
	}
	if offset > fi.Size() {
		rc.Close()
		err := fmt.Errorf("%w: offset %d, size %d", blobrepo.ErrRange, offset, fi.Size())
		return nil, fmt.Errorf("blobsource: cannot resume %s in %s at byte %d: the file is shorter now, so it changed since the download began (%w)", path, s.url, offset, err)
	}
	return rc, nil
}

// Close releases the store's clients. The Source must not be used after.
func (s *Source) Close() error {
	if s.store == nil || s.borrowed {
		return nil
	}
	if err := s.store.Close(); err != nil {
		return fmt.Errorf("blobsource: %w", err)
	}
	return nil
}

// String returns the repository URL without its query.
func (s *Source) String() string { return s.url }
