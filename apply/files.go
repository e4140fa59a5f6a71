package apply

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// placeCopy atomically makes dst a copy of the regular file src: it hard
// links (or, where linking is impossible, copies and fsyncs) src to a new
// random name beside dst, renames that over dst and fsyncs dst's directory.
// Whatever is at dst, a symbolic link included, is replaced and never
// followed, and dst is never missing or partly written.
func placeCopy(src, dst string) error {
	si, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if di, err := os.Lstat(dst); err == nil && os.SameFile(si, di) {
		// Already one file (a restored backup is a link to the target).
		// rename(2) between two links to one file does nothing at all, so
		// going on would leave the temporary link behind.
		return nil
	}
	tmp, err := cloneBeside(src, dst)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// cloneBeside makes a new file beside dst, with a random name, holding
// src's bytes and mode, and returns its name.
func cloneBeside(src, dst string) (string, error) {
	dir := filepath.Dir(dst)
	for range 10 {
		name := filepath.Join(dir, "."+filepath.Base(dst)+".safeupdate-"+rand.Text()[:16]+".tmp")
		err := os.Link(src, name)
		if err == nil {
			return name, nil
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		// Linking fails across file systems, on file systems without hard
		// links, and for files of other users where hard links are
		// protected: copy instead.
		return copyBeside(src, dst)
	}
	return "", fmt.Errorf("no free temporary name in %s", dir)
}

func copyBeside(src, dst string) (name string, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", src)
	}
	out, err := os.CreateTemp(filepath.Dir(dst), tempPattern(dst))
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(out.Name())
			name = ""
		}
	}()
	if err := out.Chmod(fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)); err != nil {
		return "", err
	}
	if _, err := io.Copy(out, in); err != nil {
		return "", err
	}
	if err := out.Sync(); err != nil {
		return "", err
	}
	return out.Name(), nil
}
