package apply

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/release"
)

// Source reads files of a repository. path is slash-separated, relative to
// the repository root. offset > 0 asks for the file from that byte on
// (resumption); a Source that cannot do that returns an error wrapping
// ErrRangeUnsupported. A missing file is an error wrapping ErrNotFound; a
// file the repository refuses to serve, one wrapping ErrForbidden.
//
// Apply does not trust a Source: it bounds, times and verifies everything a
// Source returns. A Source must stop when ctx is done, and must not follow
// paths outside its repository. Apply calls Open from one goroutine at a
// time.
type Source = reader.Source

// DirSource returns a Source reading the repository in the local directory
// dir. It opens files through os.Root, so no path and no symbolic link can
// lead outside dir, and it serves regular files only.
func DirSource(dir string) (Source, error) {
	s, err := reader.Dir(dir)
	return s, prefixed(err)
}

// HTTPSource returns a Source reading the repository at base, an http:// or
// https:// URL, with c (nil means a default client). c is not modified;
// requests go through a copy of it that:
//
//   - sends no cookies (its Jar is dropped);
//   - refuses a redirect that changes the scheme, https to http above all,
//     and stops after a few redirects;
//   - when c's Transport is an *http.Transport (or nil), bounds response
//     headers and asks for no transparent compression, on a clone of it.
//
// Only status 200 (206 for a resumed read) is success; 404 is an error
// wrapping ErrNotFound, any other status an error naming it. HTTPSource does
// not bound bodies or time: Apply does.
func HTTPSource(base string, c *http.Client) (Source, error) {
	s, err := reader.HTTP(base, c)
	return s, prefixed(err)
}

// The reads themselves are package reader's, the one reader of
// repositories that repotool uses too; apply gives them its bounds and
// its prefix.

func (c *config) params() *reader.Params {
	return &reader.Params{Stall: c.stall, MinRate: c.minRate, Progress: c.progress, Logger: c.logger}
}

// fetchSmall reads a metadata file of at most limit bytes (reader.Metadata).
func fetchSmall(ctx context.Context, c *config, src Source, path string, limit int64) ([]byte, error) {
	data, err := reader.Metadata(ctx, c.params(), src, path, limit)
	return data, prefixed(err)
}

// downloadAtRate streams and checks the payload of r into f
// (reader.Payload).
func downloadAtRate(ctx context.Context, c *config, src Source, r *release.Release, f io.Writer) error {
	c.logger.Debug("apply: downloading payload", logAttrs(r)...)
	return prefixed(reader.Payload(ctx, c.params(), src, r, f))
}

// prefixed gives err this package's prefix, unless it has it already.
func prefixed(err error) error {
	if err == nil || strings.HasPrefix(err.Error(), "apply: ") {
		return err
	}
	return fmt.Errorf("apply: %w", err)
}
