package repotool

import "syscall"

// versionOfStat extracts a file's version from what stat(2) returned.
func versionOfStat(st *syscall.Stat_t) fileVersion {
	return fileVersion{
		dev:   uint64(st.Dev),
		ino:   st.Ino,
		size:  st.Size,
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
		reg:   st.Mode&syscall.S_IFMT == syscall.S_IFREG,
	}
}
