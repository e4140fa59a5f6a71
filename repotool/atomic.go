package repotool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// pending is a temporary file in the directory of the file it will replace,
// so that the final rename stays on one file system and is atomic. Its name
// starts with a dot, so that Serve never publishes it and Verify never
// mistakes it for a release. Cleanup removes it unless it was committed.
type pending struct {
	f         *os.File
	path      string
	committed bool
}

func newPending(dir, name string) (*pending, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &pending{f: f, path: f.Name()}, nil
}

func (p *pending) Write(b []byte) (int, error) { return p.f.Write(b) }

// finish makes the content durable and sets its final mode.
func (p *pending) finish(perm fs.FileMode) error {
	if err := p.f.Chmod(perm); err != nil {
		return err
	}
	if err := p.f.Sync(); err != nil {
		return err
	}
	return p.f.Close()
}

// commit renames the finished file over target.
func (p *pending) commit(target string) error {
	if err := os.Rename(p.path, target); err != nil {
		return err
	}
	p.committed = true
	return nil
}

// Cleanup closes and removes the temporary file if it was not committed.
// It is safe to call more than once.
func (p *pending) Cleanup() {
	if p == nil || p.committed {
		return
	}
	p.f.Close()
	os.Remove(p.path)
	p.committed = true
}

// writeFileAtomic replaces path with data: temporary file, fsync, rename,
// fsync of the directory.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	p, err := newPending(dir, filepath.Base(path))
	if err != nil {
		return err
	}
	defer p.Cleanup()
	if _, err := p.Write(data); err != nil {
		return err
	}
	if err := p.finish(perm); err != nil {
		return err
	}
	if err := p.commit(path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes renames in dir durable. Windows cannot sync a directory
// and file systems that cannot (EINVAL) are tolerated: there is nothing
// more to do there.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
