package apply

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Names of the files Apply makes beside a file BASE. Every temporary file
// is ".BASE.safeupdate-XXXXXXXXXXXXXXXX.tmp", where X is one of 16 random
// characters of [A-Z2-7] (80 bits from crypto/rand), created exclusively;
// a previous binary moved aside because it was still running (Windows) is
// ".BASE.safeupdate-old-XXXXXXXXXXXXXXXX.tmp"; the lock is
// ".BASE.safeupdate.lock". Leftovers are recognised by these exact forms.
const (
	tempInfix = ".safeupdate-"
	asideMark = "old-"
	tempExt   = ".tmp"
	randLen   = 16
)

// tempName returns a new random temporary name beside dst; aside marks a
// previous binary moved out of the way.
func tempName(dst string, aside bool) string {
	mark := ""
	if aside {
		mark = asideMark
	}
	base := "." + filepath.Base(dst) + tempInfix + mark + rand.Text()[:randLen] + tempExt
	return filepath.Join(filepath.Dir(dst), base)
}

// isLeftover reports whether name (a base name) is one of the temporary
// names that tempName makes for files beside base.
func isLeftover(name, base string) bool {
	rest, ok := strings.CutPrefix(name, "."+base+tempInfix)
	if !ok {
		return false
	}
	rest = strings.TrimPrefix(rest, asideMark)
	r, ok := strings.CutSuffix(rest, tempExt)
	if !ok || len(r) != randLen {
		return false
	}
	for _, c := range r {
		if (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// createTemp creates a new, empty file with a random temporary name beside
// dst, exclusively (O_EXCL: a file or symbolic link planted at the name
// makes it fail, and is never followed), readable and writable by its
// owner only.
func createTemp(dst string) (*os.File, error) {
	var err error
	for range 10 {
		var f *os.File
		f, err = os.OpenFile(tempName(dst, false), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no free temporary name beside %s: %w", dst, err)
}

// cleanLeftovers removes, from the directory of dst, the temporary files
// that an earlier Apply or Rollback of dst left behind when it was killed
// or could not remove them (a previous binary still running on Windows).
// The caller must hold dst's lock, so no other update of dst is using
// them. Only names of the exact forms tempName makes are considered, and
// only regular files owned by this process's effective user are removed:
// a symbolic link or another user's file at such a name is left alone.
// Failures are logged, never returned: they do not stop an update.
func cleanLeftovers(log *slog.Logger, dst string) {
	dir, base := filepath.Dir(dst), filepath.Base(dst)
	d, err := os.Open(dir)
	if err != nil {
		log.Debug("apply: cannot list directory for leftovers", "dir", dir, "err", err)
		return
	}
	defer d.Close()
	for {
		// In batches, so that a huge directory does not take memory.
		names, err := d.Readdirnames(256)
		for _, name := range names {
			if isLeftover(name, base) {
				removeLeftover(log, filepath.Join(dir, name))
			}
		}
		if err != nil {
			return
		}
	}
}

func removeLeftover(log *slog.Logger, path string) {
	fi, err := os.Lstat(path)
	switch {
	case err != nil:
		return
	case !fi.Mode().IsRegular():
		log.Warn("apply: not removing a non-regular file at a temporary name", "path", path, "mode", fi.Mode())
		return
	case !ownedByUs(fi):
		log.Warn("apply: not removing another user's file at a temporary name", "path", path)
		return
	}
	if err := removeFile(path); err != nil {
		log.Debug("apply: cannot remove a leftover temporary file yet", "path", path, "err", err)
		return
	}
	log.Info("apply: removed a leftover of an interrupted update", "path", path)
}

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
	if err := renameOver(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// cloneBeside makes a new file beside dst, with a random name, holding
// src's bytes and mode, and returns its name.
func cloneBeside(src, dst string) (string, error) {
	for range 10 {
		name := tempName(dst, false)
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
	return "", fmt.Errorf("no free temporary name in %s", filepath.Dir(dst))
}

// copyBeside copies src to a new temporary file beside dst with src's
// owner, mode and extended attributes where they can be set, fsyncs it
// and returns its name.
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
	out, err := createTemp(dst)
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
	if _, err := io.Copy(out, in); err != nil {
		return "", err
	}
	if _, err := copyMeta(src, fi, out); err != nil {
		return "", err
	}
	if err := out.Sync(); err != nil {
		return "", err
	}
	return out.Name(), nil
}

// copyMeta gives dst (an open file nobody else uses yet) the owner, mode
// and extended attributes of src, whose Lstat is fi. The mode must be set
// or it is an error; the owner and the attributes are set where this
// process is allowed to, and what could not be is returned as warnings.
// It runs after dst is written: writing would clear set-user-ID bits and
// file capabilities.
func copyMeta(src string, fi fs.FileInfo, dst *os.File) (warnings []error, err error) {
	mode := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if werr := copyOwner(fi, dst); werr != nil {
		// A set-ID binary must not start running as whoever updated it.
		if mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			mode &^= fs.ModeSetuid | fs.ModeSetgid
			werr = fmt.Errorf("%w; set-user-ID and set-group-ID bits dropped", werr)
		}
		warnings = append(warnings, werr)
	}
	// After chown, which clears set-user-ID and set-group-ID bits.
	if err := dst.Chmod(mode); err != nil {
		return warnings, fmt.Errorf("setting the mode of %s: %w", dst.Name(), err)
	}
	// After chown and chmod, which clear file capabilities.
	warnings = append(warnings, copyXattrs(src, dst)...)
	return warnings, nil
}
