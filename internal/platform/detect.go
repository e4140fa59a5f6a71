package platform

import (
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

var (
	// ErrUnknownFormat means the input is not an ELF, Mach-O or PE
	// executable, or its header is truncated or malformed.
	ErrUnknownFormat = errors.New("platform: not an ELF, Mach-O or PE executable")

	// ErrUnsupported means the input is a well-formed executable, but for a
	// machine or operating system that is not a Go 1.26 port (windows/arm,
	// 32-bit darwin, big-endian arm64, ...).
	ErrUnsupported = errors.New("platform: executable is not for a Go 1.26 platform")

	// ErrUniversalBinary means the input is a universal (fat) Mach-O. It
	// holds several architectures, so the header alone does not say which
	// one a release is for; the caller must be told (--os and --arch).
	ErrUniversalBinary = errors.New("platform: universal Mach-O holds several architectures")
)

// Detect reads the header of the executable in r and returns the Go platform
// it was built for, such as "linux" and "arm64".
//
// When Detect returns nil, goos/goarch is a pair Known accepts and the header
// claims that platform; nothing else about the file has been checked (see the
// package documentation for what the header cannot tell apart). Otherwise
// goos and goarch are empty and the error wraps ErrUnknownFormat,
// ErrUnsupported or ErrUniversalBinary, or wraps an error from r.ReadAt.
//
// Detect reads only headers: a few kilobytes of a real executable and, whatever
// a crafted header claims, at most about 150 KB in small pieces. It is safe for
// concurrent use if r is.
func Detect(r io.ReaderAt) (goos, goarch string, err error) {
	magic, err := readAt(r, 0, 4)
	if err != nil {
		return "", "", readErr("header", err)
	}
	order, word := machoOrder(magic), binary.BigEndian.Uint32(magic)
	switch {
	case string(magic) == elf.ELFMAG:
		goos, goarch, err = detectELF(r)
	case order != nil:
		goos, goarch, err = detectMachO(r, order)
	case word == macho.MagicFat || word == magicFat64:
		err = universal(r, word == magicFat64)
	case string(magic[:2]) == "MZ":
		goos, goarch, err = detectPE(r)
	default:
		err = ErrUnknownFormat
	}
	if err != nil {
		return "", "", err
	}
	if !Known(goos, goarch) {
		return "", "", fmt.Errorf("%w: header says %s/%s", ErrUnsupported, goos, goarch)
	}
	return goos, goarch, nil
}

// Mach-O

// magicFat64 is FAT_MAGIC_64, a universal header with 64-bit offsets, which
// debug/macho does not name.
const magicFat64 = 0xcafebabf

var machoArch = map[macho.Cpu]string{
	macho.CpuAmd64: "amd64",
	macho.CpuArm64: "arm64",
}

// machoOrder returns the byte order of a thin Mach-O with this magic, or nil.
func machoOrder(magic []byte) binary.ByteOrder {
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		if m := bo.Uint32(magic); m == macho.Magic32 || m == macho.Magic64 {
			return bo
		}
	}
	return nil
}

func detectMachO(r io.ReaderAt, bo binary.ByteOrder) (goos, goarch string, err error) {
	var h macho.FileHeader
	if err := readStruct(r, 0, bo, &h); err != nil {
		return "", "", readErr("Mach-O header", err)
	}
	arch, ok := machoArch[h.Cpu]
	if !ok || h.Magic != macho.Magic64 {
		return "", "", fmt.Errorf("%w: Mach-O for CPU %v (magic %#x)", ErrUnsupported, h.Cpu, h.Magic)
	}
	return "darwin", arch, nil
}

// maxFatArches tells a universal Mach-O from a Java class file, which starts
// with the same magic: there the next word is the class file version, and no
// Java major version is below 45. Real universal binaries hold two to four.
const maxFatArches = 44

// universal returns the error for a universal Mach-O, naming the
// architectures it holds so that the user can choose.
func universal(r io.ReaderAt, fat64 bool) error {
	b, err := readAt(r, 4, 4)
	if err != nil {
		return readErr("universal Mach-O header", err)
	}
	n := binary.BigEndian.Uint32(b)
	if n == 0 || n > maxFatArches {
		return ErrUnknownFormat
	}
	entry := int64(20) // fat_arch
	if fat64 {
		entry = 32 // fat_arch_64
	}
	names := make([]string, 0, n)
	for i := range int64(n) {
		b, err := readAt(r, 8+i*entry, 4)
		if err != nil {
			return readErr("universal Mach-O header", err)
		}
		cpu := macho.Cpu(binary.BigEndian.Uint32(b))
		name, ok := machoArch[cpu]
		if !ok {
			name = cpu.String()
		}
		names = append(names, name)
	}
	return fmt.Errorf("%w (%s); give --os and --arch", ErrUniversalBinary, strings.Join(names, ", "))
}

// PE

var peArch = map[uint16]string{
	pe.IMAGE_FILE_MACHINE_AMD64: "amd64",
	pe.IMAGE_FILE_MACHINE_I386:  "386",
	pe.IMAGE_FILE_MACHINE_ARM64: "arm64",
	pe.IMAGE_FILE_MACHINE_ARMNT: "arm", // not a Go 1.26 port; Detect refuses it
}

func detectPE(r io.ReaderAt) (goos, goarch string, err error) {
	// The MS-DOS stub keeps the offset of the PE signature at 0x3c.
	b, err := readAt(r, 0x3c, 4)
	if err != nil {
		return "", "", readErr("MS-DOS header", err)
	}
	off := int64(binary.LittleEndian.Uint32(b))
	sig, err := readAt(r, off, 4)
	if err != nil {
		return "", "", readErr("PE signature", err)
	}
	if string(sig) != "PE\x00\x00" {
		return "", "", fmt.Errorf("%w: MZ file without a PE signature", ErrUnknownFormat)
	}
	var h pe.FileHeader
	if err := readStruct(r, off+4, binary.LittleEndian, &h); err != nil {
		return "", "", readErr("PE header", err)
	}
	arch, ok := peArch[h.Machine]
	if !ok {
		return "", "", fmt.Errorf("%w: PE for machine %#x", ErrUnsupported, h.Machine)
	}
	return "windows", arch, nil
}

// Reading

// readAt reads exactly n bytes at off. Running out of input is
// io.ErrUnexpectedEOF.
func readAt(r io.ReaderAt, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	m, err := r.ReadAt(b, off)
	if m == n {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// readStruct decodes the fixed-size struct v at off.
func readStruct(r io.ReaderAt, off int64, bo binary.ByteOrder, v any) error {
	return binary.Read(io.NewSectionReader(r, off, int64(binary.Size(v))), bo, v)
}

// readErr says why reading part of the header failed: a file that ends too
// early is not an executable we can read; anything else is r's own error.
func readErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated %s", ErrUnknownFormat, what)
	}
	return fmt.Errorf("platform: reading %s: %w", what, err)
}
