package reader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/safeupdate/safeupdate/internal/localfile"
)

// Source reads files of a repository. path is slash-separated, relative to
// the repository root. offset > 0 asks for the file from that byte on
// (resumption); a Source that cannot do that returns an error wrapping
// ErrRangeUnsupported. A missing file is an error wrapping ErrNotFound; a
// file the repository refuses to serve, one wrapping ErrForbidden.
//
// Readers do not trust a Source: they bound, time and verify everything a
// Source returns. A Source must stop when ctx is done, and must not follow
// paths outside its repository. Open may be called from several goroutines
// at once (repotool verifies platforms concurrently); apply calls it from
// one at a time.
type Source interface {
	Open(ctx context.Context, path string, offset int64) (io.ReadCloser, error)
}

// CheckPath refuses anything but a clean relative slash-separated path and
// a non-negative offset: every Source checks its arguments with it.
func CheckPath(path string, offset int64) error {
	if !fs.ValidPath(path) || path == "." || strings.ContainsAny(path, `\:`) {
		return fmt.Errorf("%q is not a clean relative repository path", path)
	}
	if offset < 0 {
		return fmt.Errorf("negative offset %d", offset)
	}
	return nil
}

type dirSource struct{ dir string }

// Dir returns a Source reading the repository in the local directory dir.
// It opens files through os.Root, so no path and no symbolic link can lead
// outside dir, and it serves regular files only.
func Dir(dir string) (Source, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("repository directory: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("repository directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("repository %s is not a directory", abs)
	}
	return dirSource{dir: abs}, nil
}

func (s dirSource) Open(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckPath(path, offset); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	name := filepath.FromSlash(path)
	where := filepath.Join(s.dir, name)
	// Examined before it is opened, so that a FIFO planted in the
	// repository cannot block the open.
	f, _, err := localfile.OpenIn(root, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, where)
	}
	if errors.Is(err, localfile.ErrNotRegular) {
		return nil, fmt.Errorf("%s is not a regular file", where)
	}
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: %s: %v", ErrRangeUnsupported, where, err)
		}
	}
	return f, nil
}
