// Package platform names the Go platform (GOOS/GOARCH) an executable was
// built for, by reading its ELF, Mach-O or PE header, and knows which
// platforms Go 1.26 can build at all.
//
// Publishing uses it to stop the "wrong software installation" mistake: a
// release declared as linux/amd64 whose binary is really the darwin/arm64
// build. When the header and the declared platform disagree, publishing
// refuses; the client then never installs a binary that cannot run.
//
// # Threat model
//
// The header is a hint checked at publish time, not a security boundary by
// itself. Anyone who writes the binary writes its header, so a match proves
// nothing about who built it or what it does; what protects users is the
// signature over the release metadata that names the platform. Detect only
// catches honest mistakes and files that are not executables at all.
//
// Detect treats its input as hostile all the same. It reads only fixed-size
// headers plus, for ELF, at most 1024 program and 1024 section headers
// and a few bytes of the interpreter path and section names. It never
// decompresses, never reads symbol tables and never allocates in proportion
// to a size field in the file. (The *File constructors of debug/elf,
// debug/macho and debug/pe are not used for that reason: elf.NewFile
// decompresses a compressed section-name table whole, so a 3 MB file can make
// it allocate gigabytes.)
//
// What the header cannot tell apart, and Detect therefore gets wrong or
// refuses:
//   - Android binaries are reported as linux, and dragonfly binaries built by
//     Go (SYSV OS/ABI, no OS note) as linux too.
//   - illumos binaries are reported as solaris: both use the same header and
//     the same interpreter, /lib/amd64/ld.so.1.
//   - iOS binaries are reported as darwin; the difference is in a load
//     command, not in the header.
//   - A universal (fat) Mach-O holds several architectures; Detect refuses it
//     with [ErrUniversalBinary] rather than pick one.
//   - aix (XCOFF), plan9 (a.out), js/wasm and wasip1/wasm binaries are not
//     ELF, Mach-O or PE and get [ErrUnknownFormat].
//
// # Compatibility
//
// The set of known platforms is Go 1.26's `go tool dist list`, kept as a
// table in this package; a port added by a later Go release is unknown until
// the table is regenerated. Platform names are Go's GOOS and GOARCH values.
package platform
