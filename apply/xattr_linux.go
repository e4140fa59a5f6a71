package apply

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// keptXattr says which extended attributes of the target the new binary
// gets: its file capabilities (setcap), its SELinux label, and the user's
// own attributes. Others (ACLs, trusted.*) are left to the directory's
// defaults.
func keptXattr(name string) bool {
	return name == "security.capability" || name == "security.selinux" || strings.HasPrefix(name, "user.")
}

// copyXattrs copies the kept extended attributes of src (not following a
// symbolic link) to dst, and returns one warning for each that could not
// be set: setting file capabilities needs CAP_SETFCAP, an SELinux label
// the right policy, and some file systems store no attributes at all.
func copyXattrs(src string, dst *os.File) []error {
	names, err := xattrNames(src)
	if errors.Is(err, unix.ENOTSUP) {
		return nil
	}
	if err != nil {
		return []error{fmt.Errorf("listing the extended attributes of %s: %w", src, err)}
	}
	conn, err := dst.SyscallConn()
	if err != nil {
		return []error{err}
	}
	var warnings []error
	for _, name := range names {
		if !keptXattr(name) {
			continue
		}
		val, err := xattrValue(src, name)
		if err == nil {
			cerr := conn.Control(func(fd uintptr) { err = unix.Fsetxattr(int(fd), name, val, 0) })
			err = errors.Join(cerr, err)
		}
		if err != nil {
			warnings = append(warnings, fmt.Errorf("extended attribute %s not preserved: %w", name, err))
		}
	}
	return warnings
}

// xattrNames lists the extended attributes of path, retrying when they
// change between the size query and the read.
func xattrNames(path string) ([]string, error) {
	for range 3 {
		n, err := unix.Llistxattr(path, nil)
		if err != nil || n == 0 {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Llistxattr(path, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for name := range strings.SplitSeq(string(buf[:n]), "\x00") {
			if name != "" {
				names = append(names, name)
			}
		}
		return names, nil
	}
	return nil, unix.ERANGE
}

func xattrValue(path, name string) ([]byte, error) {
	for range 3 {
		n, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		return buf[:n], err
	}
	return nil, unix.ERANGE
}

// checkFlags refuses an immutable or append-only target (chattr +i, +a),
// which no rename can replace, even by root.
func checkFlags(path string) error {
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, 0, &stx)
	if err != nil {
		return nil // no statx (Linux before 4.11): the rename will tell
	}
	const flags = unix.STATX_ATTR_IMMUTABLE | unix.STATX_ATTR_APPEND
	if stx.Attributes_mask&stx.Attributes&flags != 0 {
		return fmt.Errorf("apply: %s is immutable or append-only (chattr +i or +a): nothing can replace it until the attribute is removed (chattr -i -a %s)", path, path)
	}
	return nil
}
