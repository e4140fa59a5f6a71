package repotool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/safeupdate/safeupdate/blobrepo"
	"github.com/safeupdate/safeupdate/internal/fileurl"
	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/release"
)

// ErrConflict is returned when a file of the repository changed between
// the moment it was read and the moment it was to be replaced: another
// publisher wrote it meanwhile. Nothing was written; run the command again.
var ErrConflict = errors.New("repotool: changed concurrently")

// A repository spec, as --repo takes it, is one of:
//   - a plain path: a local directory;
//   - file:///abs/dir, s3://bucket/prefix?..., gs://bucket/prefix or
//     azblob://container/prefix: a store of package blobrepo;
//   - http:// or https://: read-only (Verify, and the source of Mirror).
//
// Local directories (plain or file://) are read and written through
// os.Root, so no name or symbolic link in them reaches outside (a write
// through such a link fails, naming it); every write, to any
// store, goes through blobrepo.Store.Put with a precondition, so that of
// two publishers racing on one file exactly one wins and the other gets a
// clear error rather than silently undoing the first.

// lister is a repository that can list its files: a directory or a bucket,
// not an HTTP server.
type lister interface {
	repoReader
	// releaseDirs returns the "<version>/<os>/<arch>" directories that hold
	// a release.json, all or those of version, sorted.
	releaseDirs(ctx context.Context, version string) ([]string, error)
	// channelNames returns the NAME of every channels/NAME.json, sorted.
	channelNames(ctx context.Context) ([]string, error)
	// topFiles returns the names of the files at the repository's root.
	topFiles(ctx context.Context) ([]string, error)
}

// repoStore is an opened repository.
type repoStore struct {
	name string          // the spec, without a URL's query, for messages
	rd   repoReader      // reads; a lister unless it is HTTP
	st   *blobrepo.Store // writes; nil when read-only
	dir  string          // the local directory, or "" for a bucket or HTTP
	url  bool            // the spec was a URL
}

// blobSchemes are the URL schemes blobrepo opens.
var blobSchemes = []string{"file", "s3", "gs", "azblob"}

func schemeOf(spec string) string {
	i := strings.Index(spec, "://")
	if i <= 0 {
		return ""
	}
	return strings.ToLower(spec[:i])
}

// openStore opens the repository spec. With write, the repository must be
// writable (not HTTP) and, when create, a local directory is made if
// missing. Without write an HTTP(S) URL is allowed and client serves it.
func openStore(ctx context.Context, spec string, write, create bool, client *http.Client) (*repoStore, error) {
	if spec == "" {
		return nil, errors.New("no repository given")
	}
	scheme := schemeOf(spec)
	switch {
	case scheme == "http" || scheme == "https":
		if write {
			return nil, fmt.Errorf("%s is an HTTP URL, which is read-only; give a directory or a bucket URL (file://, s3://, gs://, azblob://)", spec)
		}
		rd, err := newRepoReader(spec, client)
		if err != nil {
			return nil, err
		}
		return &repoStore{name: spec, rd: rd, url: true}, nil
	case scheme == "":
		return openDirStore(ctx, spec, spec, write, create)
	case scheme == "file":
		u, err := url.Parse(spec)
		if err != nil {
			return nil, fmt.Errorf("repository URL: %w", err)
		}
		dir, err := fileurl.Dir(u)
		if err != nil {
			return nil, fmt.Errorf("repository %w", err)
		}
		s, err := openDirStore(ctx, dir, spec, write, create)
		if s != nil {
			s.url = true
		}
		return s, err
	}
	known := false
	for _, s := range blobSchemes {
		known = known || s == scheme
	}
	if !known {
		return nil, fmt.Errorf("repository %s: unknown URL scheme %q (want a directory, file://, s3://, gs://, azblob://, or http(s):// to read)", spec, scheme)
	}
	name := spec
	if u, err := url.Parse(spec); err == nil {
		u.RawQuery = ""
		name = u.String()
	}
	st, err := blobrepo.Open(ctx, spec)
	if err != nil {
		return nil, errorf(err, "repository %s: %s", name, storeMessage(err))
	}
	return &repoStore{name: name, rd: newBlobReader(st), st: st, url: true}, nil
}

// openDirStore opens the local directory dir (named name in messages).
func openDirStore(ctx context.Context, dir, name string, write, create bool) (*repoStore, error) {
	if create {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	rd, err := newRepoReader(dir, nil)
	if err != nil {
		return nil, err
	}
	s := &repoStore{name: name, rd: rd, dir: dir}
	if !write {
		return s, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/dir
	}
	if s.st, err = blobrepo.Open(ctx, (&url.URL{Scheme: "file", Path: p}).String()); err != nil {
		return nil, errorf(err, "repository %s: %s", name, storeMessage(err))
	}
	return s, nil
}

// Close releases the store's clients.
func (s *repoStore) Close() {
	if s.st != nil {
		s.st.Close()
	}
}

// where names the repository in a message: "the repository" for a plain
// directory (the user knows which), its URL otherwise.
func (s *repoStore) where() string {
	if s.url {
		return s.name
	}
	return "the repository"
}

// pathOf names the file rel of the repository for a result: a local path,
// or the URL of the object.
func (s *repoStore) pathOf(rel string) string {
	if s.dir != "" && !s.url {
		return filepath.Join(s.dir, filepath.FromSlash(rel))
	}
	return s.name + "/" + rel
}

// token returns the version token of the file name, or "" if it is absent.
func (s *repoStore) token(ctx context.Context, name string) (string, error) {
	w := reader.Watch(ctx, params())
	a, err := s.st.Attributes(w.Context(), name)
	err = w.Explain(err)
	w.Stop()
	if errors.Is(err, blobrepo.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", errorf(err, "%s in %s: %s", name, s.name, storeMessage(err))
	}
	return a.Token, nil
}

// readTokened reads name, at most limit bytes, with the token of what was
// read (or of a newer version: the token is taken first, so a write
// conditional on it never overwrites a version that was not read).
func (s *repoStore) readTokened(ctx context.Context, name string, limit int64) ([]byte, string, error) {
	tok, err := s.token(ctx, name)
	if err != nil {
		return nil, "", err
	}
	if tok == "" {
		return nil, "", errorf(ErrNotFound, "%s is missing", name)
	}
	data, err := readRepoFile(ctx, s.rd, name, limit)
	return data, tok, err
}

// ifUnchanged is the condition to replace a file whose token was tok
// ("" when it was absent): create-only, or if-match.
func ifUnchanged(tok string) blobrepo.PutOptions {
	if tok == "" {
		return blobrepo.PutOptions{CreateOnly: true}
	}
	return blobrepo.PutOptions{IfMatch: tok}
}

// put writes r to name under the condition opts. A lost race is reported
// as ErrExists (create-only) or ErrConflict (if-match); nothing is then
// written, and neither when r fails.
func (s *repoStore) put(ctx context.Context, name string, r io.Reader, opts blobrepo.PutOptions) error {
	if opts.ContentType == "" {
		opts.ContentType = "application/octet-stream"
		if strings.HasSuffix(name, ".json") {
			opts.ContentType = "application/json"
		}
	}
	err := s.st.Put(ctx, name, r, opts)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, blobrepo.ErrExists):
		return errorf(ErrExists, "%s already exists in %s", name, s.where())
	case errors.Is(err, blobrepo.ErrPrecondition):
		return errorf(ErrConflict, "%s changed in %s while this ran (another publisher?); nothing was written", name, s.where())
	}
	return errorf(err, "writing %s in %s: %s", name, s.name, storeMessage(err))
}

// remove deletes name; a missing file is not an error.
func (s *repoStore) remove(ctx context.Context, name string) error {
	err := s.st.Delete(ctx, name)
	if err != nil && !errors.Is(err, blobrepo.ErrNotFound) {
		return errorf(err, "removing %s in %s: %s", name, s.name, storeMessage(err))
	}
	return nil
}

// storeMessage is a blobrepo error without the package's prefix and the
// operation and URL our own message already names.
func storeMessage(err error) string {
	var oe *blobrepo.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return strings.TrimPrefix(err.Error(), "blobrepo: ")
}

func (b blobReader) list(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	w := reader.Watch(ctx, params()) // renewed by every name listed
	err := b.st.List(w.Context(), prefix, func(p string) error {
		w.Renew()
		out = append(out, p)
		return nil
	})
	err = w.Explain(err)
	w.Stop()
	if err != nil {
		return nil, errorf(err, "listing %s: %s", b.st, storeMessage(err))
	}
	return out, nil
}

func (b blobReader) releaseDirs(ctx context.Context, version string) ([]string, error) {
	prefix := ""
	if version != "" {
		prefix = version + "/"
	}
	paths, err := b.list(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range paths {
		parts := strings.Split(p, "/")
		if len(parts) == 4 && parts[3] == release.FileName {
			out = append(out, strings.Join(parts[:3], "/"))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (b blobReader) channelNames(ctx context.Context) ([]string, error) {
	paths, err := b.list(ctx, "channels/")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range paths {
		if name, ok := strings.CutSuffix(strings.TrimPrefix(p, "channels/"), ".json"); ok && !strings.Contains(name, "/") {
			out = append(out, name)
		}
	}
	return out, nil
}

func (b blobReader) topFiles(ctx context.Context) ([]string, error) {
	paths, err := b.list(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range paths {
		if !strings.Contains(p, "/") {
			out = append(out, p)
		}
	}
	return out, nil
}

func (d dirReader) releaseDirs(_ context.Context, version string) ([]string, error) {
	return listReleases(d.dir, version)
}

func (d dirReader) channelNames(context.Context) ([]string, error) {
	return listChannels(d.dir)
}

func (d dirReader) topFiles(context.Context) ([]string, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// sameDir reports whether a and b name one directory.
func sameDir(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	fa, erra := os.Stat(a)
	fb, errb := os.Stat(b)
	return erra == nil && errb == nil && os.SameFile(fa, fb)
}
