package platform

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// maxELFHeaders bounds how many program headers and how many section headers
// Detect reads. Linked executables have a few dozen of each. A file that
// claims more is refused rather than read in part, since the note that names
// its OS could sit past the bound.
const maxELFHeaders = 1024

type elfKey struct {
	machine elf.Machine
	class   elf.Class
	data    elf.Data
}

// elfArch accepts each machine only with the word size and byte order its Go
// port uses, so that, say, x32 (EM_X86_64 in a 32-bit ELF) is not amd64.
var elfArch = map[elfKey]string{
	{elf.EM_X86_64, elf.ELFCLASS64, elf.ELFDATA2LSB}:    "amd64",
	{elf.EM_386, elf.ELFCLASS32, elf.ELFDATA2LSB}:       "386",
	{elf.EM_AARCH64, elf.ELFCLASS64, elf.ELFDATA2LSB}:   "arm64",
	{elf.EM_ARM, elf.ELFCLASS32, elf.ELFDATA2LSB}:       "arm",
	{elf.EM_RISCV, elf.ELFCLASS64, elf.ELFDATA2LSB}:     "riscv64",
	{elf.EM_PPC64, elf.ELFCLASS64, elf.ELFDATA2MSB}:     "ppc64",
	{elf.EM_PPC64, elf.ELFCLASS64, elf.ELFDATA2LSB}:     "ppc64le",
	{elf.EM_S390, elf.ELFCLASS64, elf.ELFDATA2MSB}:      "s390x",
	{elf.EM_MIPS, elf.ELFCLASS32, elf.ELFDATA2MSB}:      "mips",
	{elf.EM_MIPS, elf.ELFCLASS32, elf.ELFDATA2LSB}:      "mipsle",
	{elf.EM_MIPS, elf.ELFCLASS64, elf.ELFDATA2MSB}:      "mips64",
	{elf.EM_MIPS, elf.ELFCLASS64, elf.ELFDATA2LSB}:      "mips64le",
	{elf.EM_LOONGARCH, elf.ELFCLASS64, elf.ELFDATA2LSB}: "loong64",
}

var elfOS = map[elf.OSABI]string{
	elf.ELFOSABI_FREEBSD: "freebsd",
	elf.ELFOSABI_NETBSD:  "netbsd",
	elf.ELFOSABI_OPENBSD: "openbsd",
	elf.ELFOSABI_SOLARIS: "solaris", // illumos writes it too
}

// elfNotes are the note sections that name the OS of a binary whose OS/ABI
// is SYSV, as C toolchains on NetBSD and OpenBSD write. Go writes the OS/ABI
// for both, and the note as well.
var elfNotes = map[string]string{
	".note.netbsd.ident":  "netbsd",
	".note.openbsd.ident": "openbsd",
}

// longestNote is the longest name in elfNotes.
const longestNote = len(".note.openbsd.ident")

// solarisInterp is the dynamic linker of 64-bit x86 Solaris and illumos. Go
// writes the SYSV OS/ABI for both and always links them dynamically, so this
// is what tells them from linux/amd64.
const solarisInterp = "/lib/amd64/ld.so.1"

// elfFile is the part of an ELF header that Detect walks.
type elfFile struct {
	r     io.ReaderAt
	bo    binary.ByteOrder
	is64  bool
	phoff uint64
	shoff uint64
	// Widened from 16 bits, so products of two of them cannot overflow.
	phentsize, phnum, shentsize, shnum, shstrndx uint64
	// The smallest entry sizes this class allows.
	progSize, sectionSize uint64
}

// elfProg is the part of a program header that Detect uses.
type elfProg struct {
	typ  elf.ProgType
	off  uint64
	size uint64
}

// elfSection is the part of a section header that Detect uses.
type elfSection struct {
	name  uint64
	typ   elf.SectionType
	flags elf.SectionFlag
	off   uint64
	size  uint64
}

func detectELF(r io.ReaderAt) (goos, goarch string, err error) {
	ident, err := readAt(r, 0, elf.EI_NIDENT)
	if err != nil {
		return "", "", readErr("ELF header", err)
	}
	class := elf.Class(ident[elf.EI_CLASS])
	data := elf.Data(ident[elf.EI_DATA])
	if v := elf.Version(ident[elf.EI_VERSION]); v != elf.EV_CURRENT {
		return "", "", malformed(fmt.Sprintf("version %v", v))
	}
	f := &elfFile{r: r}
	switch data {
	case elf.ELFDATA2LSB:
		f.bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		f.bo = binary.BigEndian
	default:
		return "", "", malformed(fmt.Sprintf("data encoding %v", data))
	}
	var machine uint16
	switch class {
	case elf.ELFCLASS32:
		var h elf.Header32
		if err := readStruct(r, 0, f.bo, &h); err != nil {
			return "", "", readErr("ELF header", err)
		}
		machine = h.Machine
		f.progSize, f.sectionSize = uint64(binary.Size(elf.Prog32{})), uint64(binary.Size(elf.Section32{}))
		f.phoff, f.shoff = uint64(h.Phoff), uint64(h.Shoff)
		f.phentsize, f.phnum = uint64(h.Phentsize), uint64(h.Phnum)
		f.shentsize, f.shnum, f.shstrndx = uint64(h.Shentsize), uint64(h.Shnum), uint64(h.Shstrndx)
	case elf.ELFCLASS64:
		var h elf.Header64
		if err := readStruct(r, 0, f.bo, &h); err != nil {
			return "", "", readErr("ELF header", err)
		}
		machine = h.Machine
		f.is64 = true
		f.progSize, f.sectionSize = uint64(binary.Size(elf.Prog64{})), uint64(binary.Size(elf.Section64{}))
		f.phoff, f.shoff = h.Phoff, h.Shoff
		f.phentsize, f.phnum = uint64(h.Phentsize), uint64(h.Phnum)
		f.shentsize, f.shnum, f.shstrndx = uint64(h.Shentsize), uint64(h.Shnum), uint64(h.Shstrndx)
	default:
		return "", "", malformed(fmt.Sprintf("class %v", class))
	}

	arch, ok := elfArch[elfKey{elf.Machine(machine), class, data}]
	if !ok {
		return "", "", fmt.Errorf("%w: ELF for %v, %v, %v", ErrUnsupported, elf.Machine(machine), class, data)
	}
	osabi := elf.OSABI(ident[elf.EI_OSABI])
	if goos, ok := elfOS[osabi]; ok {
		return goos, arch, nil
	}
	if osabi != elf.ELFOSABI_NONE && osabi != elf.ELFOSABI_LINUX {
		return "", "", fmt.Errorf("%w: ELF for OS/ABI %v", ErrUnsupported, osabi)
	}
	goos, err = f.sysvOS()
	if err != nil {
		return "", "", err
	}
	return goos, arch, nil
}

// sysvOS tells the OS of an ELF whose OS/ABI is SYSV (or GNU). That is what
// linux toolchains write, but also what Go writes for solaris and illumos.
func (f *elfFile) sysvOS() (string, error) {
	interp, err := f.interp()
	if err != nil {
		return "", err
	}
	if interp == solarisInterp {
		return "solaris", nil
	}
	goos, err := f.noteOS()
	if err != nil || goos != "" {
		return goos, err
	}
	return "linux", nil
}

// interp returns the path in the PT_INTERP program header, or "" when there
// is none or it is longer than any path Detect compares it with.
func (f *elfFile) interp() (string, error) {
	if f.phnum == 0 {
		return "", nil
	}
	if f.phnum > maxELFHeaders {
		return "", tooMany("program", f.phnum)
	}
	if f.phentsize < f.progSize {
		return "", malformed(fmt.Sprintf("program header size %d", f.phentsize))
	}
	for i := range f.phnum {
		p, err := f.prog(i)
		if err != nil {
			return "", err
		}
		if p.typ != elf.PT_INTERP {
			continue
		}
		s, ok, err := f.cstring(p.off, min(p.size, uint64(len(solarisInterp)+1)))
		if err != nil || !ok {
			return "", err
		}
		return s, nil
	}
	return "", nil
}

// noteOS returns the OS named by an elfNotes section, or "".
func (f *elfFile) noteOS() (string, error) {
	if f.shnum == 0 {
		if f.shoff != 0 {
			// Extended numbering: more than 0xff00 sections.
			return "", tooMany("section", 0xff00)
		}
		return "", nil
	}
	if f.shnum > maxELFHeaders {
		return "", tooMany("section", f.shnum)
	}
	if f.shentsize < f.sectionSize {
		return "", malformed(fmt.Sprintf("section header size %d", f.shentsize))
	}
	if f.shstrndx == uint64(elf.SHN_UNDEF) {
		return "", nil // no section names
	}
	if f.shstrndx >= f.shnum {
		return "", malformed(fmt.Sprintf("section name table index %d", f.shstrndx))
	}
	names, err := f.section(f.shstrndx)
	if err != nil {
		return "", err
	}
	if names.typ != elf.SHT_STRTAB || names.flags&elf.SHF_COMPRESSED != 0 {
		return "", malformed("section name table is not a plain string table")
	}
	for i := range f.shnum {
		s, err := f.section(i)
		if err != nil {
			return "", err
		}
		if s.typ != elf.SHT_NOTE {
			continue
		}
		if s.name >= names.size {
			return "", malformed("section name outside the name table")
		}
		name, ok, err := f.cstring(names.off+s.name, min(names.size-s.name, uint64(longestNote+1)))
		if err != nil {
			return "", err
		}
		if goos := elfNotes[name]; ok && goos != "" {
			return goos, nil
		}
	}
	return "", nil
}

func (f *elfFile) prog(i uint64) (elfProg, error) {
	at, ok := offset(f.phoff, i*f.phentsize)
	if !ok {
		return elfProg{}, malformed("program header offset")
	}
	if f.is64 {
		var p elf.Prog64
		if err := readStruct(f.r, at, f.bo, &p); err != nil {
			return elfProg{}, readErr("ELF program header", err)
		}
		return elfProg{elf.ProgType(p.Type), p.Off, p.Filesz}, nil
	}
	var p elf.Prog32
	if err := readStruct(f.r, at, f.bo, &p); err != nil {
		return elfProg{}, readErr("ELF program header", err)
	}
	return elfProg{elf.ProgType(p.Type), uint64(p.Off), uint64(p.Filesz)}, nil
}

func (f *elfFile) section(i uint64) (elfSection, error) {
	at, ok := offset(f.shoff, i*f.shentsize)
	if !ok {
		return elfSection{}, malformed("section header offset")
	}
	if f.is64 {
		var s elf.Section64
		if err := readStruct(f.r, at, f.bo, &s); err != nil {
			return elfSection{}, readErr("ELF section header", err)
		}
		return elfSection{uint64(s.Name), elf.SectionType(s.Type), elf.SectionFlag(s.Flags), s.Off, s.Size}, nil
	}
	var s elf.Section32
	if err := readStruct(f.r, at, f.bo, &s); err != nil {
		return elfSection{}, readErr("ELF section header", err)
	}
	return elfSection{uint64(s.Name), elf.SectionType(s.Type), elf.SectionFlag(s.Flags), uint64(s.Off), uint64(s.Size)}, nil
}

// cstring reads n bytes (n is small) at off and returns them up to the first
// NUL. ok is false when there is no NUL in them: the string is longer than
// the caller cares about.
func (f *elfFile) cstring(off, n uint64) (s string, ok bool, err error) {
	end, fits := offset(off, n) // also proves off itself fits
	if !fits {
		return "", false, malformed("string offset")
	}
	b, err := readAt(f.r, end-int64(n), int(n))
	if err != nil {
		return "", false, readErr("ELF string", err)
	}
	b, _, ok = bytes.Cut(b, []byte{0})
	return string(b), ok, nil
}

// offset returns base+add as a file offset, or false when a crafted header
// makes it overflow. Callers keep add small.
func offset(base, add uint64) (int64, bool) {
	if base > math.MaxInt64-add {
		return 0, false
	}
	return int64(base + add), true
}

func malformed(what string) error {
	return fmt.Errorf("%w: malformed ELF: %s", ErrUnknownFormat, what)
}

func tooMany(kind string, n uint64) error {
	return fmt.Errorf("%w: ELF has %d %s headers, more than the %d Detect reads", ErrUnknownFormat, n, kind, maxELFHeaders)
}
