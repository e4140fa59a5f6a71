package platform

import "slices"

// ports is the output of `go tool dist list` for Go 1.26, sorted. It is the
// whole set of GOOS/GOARCH pairs the toolchain can build; nothing outside it
// can be a Go release binary. TestKnownMatchesGoToolDistList fails when the
// running toolchain disagrees, which is the signal to regenerate it.
var ports = []string{
	"aix/ppc64",
	"android/386",
	"android/amd64",
	"android/arm",
	"android/arm64",
	"darwin/amd64",
	"darwin/arm64",
	"dragonfly/amd64",
	"freebsd/386",
	"freebsd/amd64",
	"freebsd/arm",
	"freebsd/arm64",
	"illumos/amd64",
	"ios/amd64",
	"ios/arm64",
	"js/wasm",
	"linux/386",
	"linux/amd64",
	"linux/arm",
	"linux/arm64",
	"linux/loong64",
	"linux/mips",
	"linux/mips64",
	"linux/mips64le",
	"linux/mipsle",
	"linux/ppc64",
	"linux/ppc64le",
	"linux/riscv64",
	"linux/s390x",
	"netbsd/386",
	"netbsd/amd64",
	"netbsd/arm",
	"netbsd/arm64",
	"openbsd/386",
	"openbsd/amd64",
	"openbsd/arm",
	"openbsd/arm64",
	"openbsd/ppc64",
	"openbsd/riscv64",
	"plan9/386",
	"plan9/amd64",
	"plan9/arm",
	"solaris/amd64",
	"wasip1/wasm",
	"windows/386",
	"windows/amd64",
	"windows/arm64",
}

// Known reports whether goos/goarch is a port of Go 1.26, as listed by
// `go tool dist list`. Names are case-sensitive and never contain a slash,
// so "linux/amd64" passed as goos is not known.
func Known(goos, goarch string) bool {
	_, found := slices.BinarySearch(ports, goos+"/"+goarch)
	return found
}

// List returns every pair Known accepts as "os/arch", sorted. The slice is a
// copy the caller may modify.
func List() []string {
	return slices.Clone(ports)
}
