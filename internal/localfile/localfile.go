// Package localfile opens and reads the publisher's and the client's own
// files (a pinned root, a trust store, a key, a binary to publish) with the
// same care as files of a repository: regular files only, and bounded.
package localfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is wrapped by the error of Open and OpenIn for anything
// but a regular file, and for a file replaced while it was being opened.
var ErrNotRegular = errors.New("not a regular file")

// Open opens the regular file at path for reading. Anything else (a
// directory, a device, a FIFO) is refused before it is opened, so that a
// FIFO planted at path cannot block the open; the file opened must be the
// one examined. A missing file is an error wrapping fs.ErrNotExist.
func Open(path string) (*os.File, os.FileInfo, error) {
	return open(os.Stat, os.Open, path)
}

// OpenIn is Open for name in root, the directory a repository or a served
// tree is confined to: no name and no symbolic link leads out of it.
func OpenIn(root *os.Root, name string) (*os.File, os.FileInfo, error) {
	return open(root.Stat, root.Open, name)
}

func open(stat func(string) (fs.FileInfo, error), openFile func(string) (*os.File, error), name string) (*os.File, os.FileInfo, error) {
	fi, err := stat(name)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is %w", name, ErrNotRegular)
	}
	f, err := openFile(name)
	if err != nil {
		return nil, nil, err
	}
	ffi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !ffi.Mode().IsRegular() || !os.SameFile(fi, ffi) {
		f.Close()
		return nil, nil, fmt.Errorf("%s was replaced while it was opened: %w", name, ErrNotRegular)
	}
	return f, ffi, nil
}

// Read reads the regular file at path (see Open), refusing one of more
// than limit bytes without reading past limit+1.
func Read(path string, limit int64) ([]byte, error) {
	f, _, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes", path, limit)
	}
	return data, nil
}
