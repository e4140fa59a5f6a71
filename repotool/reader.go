package repotool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/safeupdate/safeupdate/apply/blobsource"
	"github.com/safeupdate/safeupdate/blobrepo"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/trust"
)

// repotool reads repositories with package reader, the one reader that
// clients (package apply) use too: the same sources (HTTP with the client
// policy, directories through os.Root, buckets through apply/blobsource),
// the same bounds and stall watchdog, the same payload pipeline. So what
// verify, sign or mirror approve is what every client accepts.

// repoReader reads files of a repository: reader.Source.
type repoReader = reader.Source

// stallTimeout is limits.StallTimeout; tests shorten it.
var stallTimeout = limits.StallTimeout

// errStalled is wrapped by the error of a read from a repository that sent
// nothing for stallTimeout (slow retrieval).
var errStalled = reader.ErrStalled

// params are the bounds of every read repotool makes.
func params() *reader.Params { return &reader.Params{Stall: stallTimeout} }

// rootFetch reads the roots of rd for trust.Walk and trust.WalkTo, by
// the client's rule (reader.RootFetch): a missing root, or one the
// repository refuses to serve, is trust.ErrNoRoot.
func rootFetch(rd repoReader) trust.Fetch { return reader.RootFetch(params(), rd) }

// newRepoReader returns a reader for a directory or an http(s):// URL.
func newRepoReader(repo string, client *http.Client) (repoReader, error) {
	if strings.HasPrefix(repo, "http://") || strings.HasPrefix(repo, "https://") {
		u, err := url.Parse(repo)
		if err != nil {
			return nil, fmt.Errorf("repository URL: %w", err)
		}
		if u.User != nil {
			return nil, fmt.Errorf("repository URL %q: want http(s)://host/path, without user, query or fragment", u.Redacted())
		}
		return reader.HTTP(repo, client)
	}
	fi, err := os.Stat(repo)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("repository %s: %w", repo, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("repository %s is not a directory", repo)
	}
	src, err := reader.Dir(repo)
	if err != nil {
		return nil, err
	}
	return dirReader{Source: src, dir: repo}, nil
}

// dirReader reads a local repository, and lists it.
type dirReader struct {
	reader.Source
	dir string
}

// blobReader reads a bucket as clients do (apply/blobsource), and lists it.
type blobReader struct {
	*blobsource.Source
	st *blobrepo.Store
}

func newBlobReader(st *blobrepo.Store) blobReader {
	return blobReader{Source: blobsource.FromStore(st), st: st}
}

// readRepoFile reads a whole file of rd, failing if it holds more than
// limit bytes (reader.Metadata): ErrNotFound when it is absent, a
// *reader.FetchError when the repository could not be read.
func readRepoFile(ctx context.Context, rd repoReader, name string, limit int64) ([]byte, error) {
	return reader.Metadata(ctx, params(), rd, name, limit)
}

// unreachable reports whether err says that the repository could not be
// read at all (as opposed to what it holds being wrong).
func unreachable(err error) bool {
	var fe *reader.FetchError
	return errors.As(err, &fe)
}
