package platform

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"math/rand/v2"
)

// This file builds minimal executable headers, so that every branch of
// Detect is tested without a toolchain for each target.

// elfSpec describes a minimal ELF: a header, an optional PT_INTERP program
// header, and, when notes are given, a null section, one SHT_NOTE section per
// note and the section name table.
type elfSpec struct {
	class   elf.Class
	data    elf.Data
	machine elf.Machine
	osabi   elf.OSABI
	interp  string   // PT_INTERP path, or "" for none
	notes   []string // names of SHT_NOTE sections
}

func elf64(machine elf.Machine) elfSpec {
	return elfSpec{class: elf.ELFCLASS64, data: elf.ELFDATA2LSB, machine: machine}
}

func (s elfSpec) bytes() []byte {
	var bo binary.ByteOrder = binary.LittleEndian
	if s.data == elf.ELFDATA2MSB {
		bo = binary.BigEndian
	}
	is64 := s.class == elf.ELFCLASS64
	ehsize, phentsize, shentsize := 52, 32, 40
	if is64 {
		ehsize, phentsize, shentsize = 64, 56, 64
	}

	var interp []byte
	phnum := 0
	if s.interp != "" {
		interp = append([]byte(s.interp), 0)
		phnum = 1
	}
	names := []byte{0}
	var nameAt []int
	for _, n := range s.notes {
		nameAt = append(nameAt, len(names))
		names = append(append(names, n...), 0)
	}
	strtabName := len(names)
	names = append(names, ".shstrtab\x00"...)
	shnum, shstrndx := 0, 0
	if len(s.notes) > 0 {
		shnum = len(s.notes) + 2
		shstrndx = shnum - 1
	} else {
		names = nil
	}

	// Layout: header, program header, interpreter, names, section headers.
	phoff := ehsize
	interpOff := phoff + phnum*phentsize
	namesOff := interpOff + len(interp)
	shoff := namesOff + len(names)
	if phnum == 0 {
		phoff = 0
	}
	if shnum == 0 {
		shoff = 0
	}

	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_CLASS] = byte(s.class)
	ident[elf.EI_DATA] = byte(s.data)
	ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	ident[elf.EI_OSABI] = byte(s.osabi)

	var b bytes.Buffer
	put := func(v any) { _ = binary.Write(&b, bo, v) } // a bytes.Buffer cannot fail
	if is64 {
		put(elf.Header64{
			Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(s.machine), Version: 1,
			Phoff: uint64(phoff), Shoff: uint64(shoff), Ehsize: uint16(ehsize),
			Phentsize: uint16(phentsize), Phnum: uint16(phnum),
			Shentsize: uint16(shentsize), Shnum: uint16(shnum), Shstrndx: uint16(shstrndx),
		})
	} else {
		put(elf.Header32{
			Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(s.machine), Version: 1,
			Phoff: uint32(phoff), Shoff: uint32(shoff), Ehsize: uint16(ehsize),
			Phentsize: uint16(phentsize), Phnum: uint16(phnum),
			Shentsize: uint16(shentsize), Shnum: uint16(shnum), Shstrndx: uint16(shstrndx),
		})
	}
	if phnum > 0 {
		if is64 {
			put(elf.Prog64{Type: uint32(elf.PT_INTERP), Off: uint64(interpOff), Filesz: uint64(len(interp))})
		} else {
			put(elf.Prog32{Type: uint32(elf.PT_INTERP), Off: uint32(interpOff), Filesz: uint32(len(interp))})
		}
	}
	b.Write(interp)
	b.Write(names)
	if shnum == 0 {
		return b.Bytes()
	}
	section := func(name int, typ elf.SectionType, off, size int) {
		if is64 {
			put(elf.Section64{Name: uint32(name), Type: uint32(typ), Off: uint64(off), Size: uint64(size)})
		} else {
			put(elf.Section32{Name: uint32(name), Type: uint32(typ), Off: uint32(off), Size: uint32(size)})
		}
	}
	section(0, elf.SHT_NULL, 0, 0)
	for _, at := range nameAt {
		section(at, elf.SHT_NOTE, 0, 0)
	}
	section(strtabName, elf.SHT_STRTAB, namesOff, len(names))
	return b.Bytes()
}

// machoBytes is a thin Mach-O header with no load commands.
func machoBytes(bo binary.ByteOrder, magic uint32, cpu macho.Cpu) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, bo, macho.FileHeader{Magic: magic, Cpu: cpu, Type: macho.TypeExec})
	if magic == macho.Magic64 {
		b.Write(make([]byte, 4)) // reserved
	}
	return b.Bytes()
}

// fatBytes is a universal Mach-O header listing cpus, without the slices.
func fatBytes(magic uint32, cpus ...macho.Cpu) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	b = binary.BigEndian.AppendUint32(b, uint32(len(cpus)))
	for _, cpu := range cpus {
		b = binary.BigEndian.AppendUint32(b, uint32(cpu))
		if magic == magicFat64 {
			b = append(b, make([]byte, 28)...)
		} else {
			b = append(b, make([]byte, 16)...)
		}
	}
	return b
}

// peBytes is an MS-DOS header pointing at a PE signature and file header.
func peBytes(machine uint16) []byte {
	b := make([]byte, 64)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], 64)
	b = append(b, "PE\x00\x00"...)
	var h bytes.Buffer
	_ = binary.Write(&h, binary.LittleEndian, pe.FileHeader{Machine: machine, Characteristics: pe.IMAGE_FILE_EXECUTABLE_IMAGE})
	return append(b, h.Bytes()...)
}

type headerCase struct {
	name         string
	file         []byte
	goos, goarch string
}

// headerCases are headers Detect must accept, one per branch.
func headerCases() []headerCase {
	le, be := elf.ELFDATA2LSB, elf.ELFDATA2MSB
	c32, c64 := elf.ELFCLASS32, elf.ELFCLASS64
	arch := func(m elf.Machine, c elf.Class, d elf.Data) []byte {
		return elfSpec{class: c, data: d, machine: m}.bytes()
	}
	withOS := func(s elfSpec, osabi elf.OSABI) []byte { s.osabi = osabi; return s.bytes() }
	withInterp := func(s elfSpec, path string) []byte { s.interp = path; return s.bytes() }
	withNotes := func(s elfSpec, notes ...string) []byte { s.notes = notes; return s.bytes() }
	arm := elfSpec{class: c32, data: le, machine: elf.EM_ARM}

	return []headerCase{
		{"elf amd64", arch(elf.EM_X86_64, c64, le), "linux", "amd64"},
		{"elf 386", arch(elf.EM_386, c32, le), "linux", "386"},
		{"elf arm64", arch(elf.EM_AARCH64, c64, le), "linux", "arm64"},
		{"elf arm", arch(elf.EM_ARM, c32, le), "linux", "arm"},
		{"elf riscv64", arch(elf.EM_RISCV, c64, le), "linux", "riscv64"},
		{"elf ppc64", arch(elf.EM_PPC64, c64, be), "linux", "ppc64"},
		{"elf ppc64le", arch(elf.EM_PPC64, c64, le), "linux", "ppc64le"},
		{"elf s390x", arch(elf.EM_S390, c64, be), "linux", "s390x"},
		{"elf mips", arch(elf.EM_MIPS, c32, be), "linux", "mips"},
		{"elf mipsle", arch(elf.EM_MIPS, c32, le), "linux", "mipsle"},
		{"elf mips64", arch(elf.EM_MIPS, c64, be), "linux", "mips64"},
		{"elf mips64le", arch(elf.EM_MIPS, c64, le), "linux", "mips64le"},
		{"elf loong64", arch(elf.EM_LOONGARCH, c64, le), "linux", "loong64"},
		{"elf GNU OS/ABI", withOS(elf64(elf.EM_X86_64), elf.ELFOSABI_LINUX), "linux", "amd64"},
		{"elf FreeBSD OS/ABI", withOS(elf64(elf.EM_AARCH64), elf.ELFOSABI_FREEBSD), "freebsd", "arm64"},
		{"elf NetBSD OS/ABI", withOS(elf64(elf.EM_X86_64), elf.ELFOSABI_NETBSD), "netbsd", "amd64"},
		{"elf OpenBSD OS/ABI", withOS(elf64(elf.EM_RISCV), elf.ELFOSABI_OPENBSD), "openbsd", "riscv64"},
		{"elf Solaris OS/ABI", withOS(elf64(elf.EM_X86_64), elf.ELFOSABI_SOLARIS), "solaris", "amd64"},
		{"elf solaris interpreter", withInterp(elf64(elf.EM_X86_64), solarisInterp), "solaris", "amd64"},
		{"elf glibc interpreter", withInterp(elf64(elf.EM_X86_64), "/lib64/ld-linux-x86-64.so.2"), "linux", "amd64"},
		{"elf android is linux", withInterp(elf64(elf.EM_AARCH64), "/system/bin/linker64"), "linux", "arm64"},
		{"elf netbsd note", withNotes(elf64(elf.EM_X86_64), ".note.netbsd.ident"), "netbsd", "amd64"},
		{"elf openbsd note", withNotes(elf64(elf.EM_AARCH64), ".note.go.buildid", ".note.openbsd.ident"), "openbsd", "arm64"},
		{"elf32 netbsd note", withNotes(arm, ".note.netbsd.ident"), "netbsd", "arm"},
		{"elf other notes", withNotes(elf64(elf.EM_X86_64), ".note.gnu.build-id", ".note.openbsd.identity"), "linux", "amd64"},
		{"elf big-endian notes", withNotes(elfSpec{class: c64, data: be, machine: elf.EM_PPC64}, ".note.go.buildid"), "linux", "ppc64"},
		{"elf32 big-endian interpreter", withInterp(elfSpec{class: c32, data: be, machine: elf.EM_MIPS}, "/lib/ld.so.1"), "linux", "mips"},
		{"macho amd64", machoBytes(binary.LittleEndian, macho.Magic64, macho.CpuAmd64), "darwin", "amd64"},
		{"macho arm64", machoBytes(binary.LittleEndian, macho.Magic64, macho.CpuArm64), "darwin", "arm64"},
		{"pe amd64", peBytes(pe.IMAGE_FILE_MACHINE_AMD64), "windows", "amd64"},
		{"pe 386", peBytes(pe.IMAGE_FILE_MACHINE_I386), "windows", "386"},
		{"pe arm64", peBytes(pe.IMAGE_FILE_MACHINE_ARM64), "windows", "arm64"},
	}
}

type refuseCase struct {
	name string
	file []byte
	want error // the sentinel the error must wrap
}

// refuseCases are inputs Detect must refuse, one per attack or fault.
func refuseCases() []refuseCase {
	le, be := elf.ELFDATA2LSB, elf.ELFDATA2MSB
	c32, c64 := elf.ELFCLASS32, elf.ELFCLASS64
	amd64 := elf64(elf.EM_X86_64).bytes()
	withInterp := elf64(elf.EM_X86_64)
	withInterp.interp = solarisInterp
	withNote := elf64(elf.EM_X86_64)
	withNote.notes = []string{".note.netbsd.ident"}
	tooManySections := elf64(elf.EM_X86_64)
	tooManySections.notes = make([]string, maxELFHeaders-1) // plus null and name table
	solaris386 := elfSpec{class: c32, data: le, machine: elf.EM_386, interp: solarisInterp}
	// Offsets in a 64-bit ELF header, and in the files built above: the
	// program header follows the ELF header; the section headers of
	// withNote are null, the note, then the name table.
	const phoff, shoff, phentsize, phnum, shnum, shstrndx = 32, 40, 54, 56, 60, 62
	noteShoff := int(binary.LittleEndian.Uint64(withNote.bytes()[shoff:]))

	return []refuseCase{
		{"empty", nil, ErrUnknownFormat},
		{"three bytes", []byte("\x7fEL"), ErrUnknownFormat},
		{"shell script", []byte("#!/bin/sh\nexec true\n"), ErrUnknownFormat},
		{"text", []byte("hello, world\n"), ErrUnknownFormat},
		{"random bytes", randomBytes(4096), ErrUnknownFormat},

		{"truncated elf header", amd64[:20], ErrUnknownFormat},
		{"truncated elf32 header", elfSpec{class: c32, data: le, machine: elf.EM_ARM}.bytes()[:40], ErrUnknownFormat},
		{"elf bad class", patch(amd64, elf.EI_CLASS, uint8(9)), ErrUnknownFormat},
		{"elf bad byte order", patch(amd64, elf.EI_DATA, uint8(0)), ErrUnknownFormat},
		{"elf bad version", patch(amd64, elf.EI_VERSION, uint8(2)), ErrUnknownFormat},
		{"elf program header size too small", patch(withInterp.bytes(), phentsize, uint16(8)), ErrUnknownFormat},
		{"elf program headers past the end", patch(withInterp.bytes(), phoff, uint64(1<<40)), ErrUnknownFormat},
		{"elf program header offset overflow", patch(withInterp.bytes(), phoff, uint64(1<<64-1)), ErrUnknownFormat},
		{"elf too many program headers", patch(withInterp.bytes(), phnum, uint16(maxELFHeaders+1)), ErrUnknownFormat},
		{"elf interpreter past the end", patch(withInterp.bytes(), 64+8, uint64(1<<62)), ErrUnknownFormat},
		{"elf interpreter offset overflow", patch(withInterp.bytes(), 64+8, uint64(1<<64-4)), ErrUnknownFormat},
		{"elf too many sections", tooManySections.bytes(), ErrUnknownFormat},
		{"elf extended section numbering", patch(patch(amd64, shoff, uint64(64)), shnum, uint16(0)), ErrUnknownFormat},
		{"elf section headers past the end", patch(withNote.bytes(), shoff, uint64(1<<40)), ErrUnknownFormat},
		{"elf section header offset overflow", patch(withNote.bytes(), shoff, uint64(1<<64-100)), ErrUnknownFormat},
		{"elf name table index out of range", patch(withNote.bytes(), shstrndx, uint16(3)), ErrUnknownFormat},
		{"elf name table is not a string table", patch(withNote.bytes(), noteShoff+2*64+4, uint32(elf.SHT_PROGBITS)), ErrUnknownFormat},
		{"elf compressed name table", patch(withNote.bytes(), noteShoff+2*64+8, uint64(elf.SHF_COMPRESSED)), ErrUnknownFormat},
		{"elf section name outside the name table", patch(withNote.bytes(), noteShoff+64, uint32(1<<32-1)), ErrUnknownFormat},
		{"elf x32", elfSpec{class: c32, data: le, machine: elf.EM_X86_64}.bytes(), ErrUnsupported},
		{"elf big-endian arm64", elfSpec{class: c64, data: be, machine: elf.EM_AARCH64}.bytes(), ErrUnsupported},
		{"elf riscv32", elfSpec{class: c32, data: le, machine: elf.EM_RISCV}.bytes(), ErrUnsupported},
		{"elf sparc64", elfSpec{class: c64, data: be, machine: elf.EM_SPARCV9}.bytes(), ErrUnsupported},
		{"elf HP-UX OS/ABI", patch(amd64, elf.EI_OSABI, uint8(elf.ELFOSABI_HPUX)), ErrUnsupported},
		{"elf freebsd/riscv64", patch(elf64(elf.EM_RISCV).bytes(), elf.EI_OSABI, uint8(elf.ELFOSABI_FREEBSD)), ErrUnsupported},
		{"elf solaris/386", solaris386.bytes(), ErrUnsupported},

		{"truncated macho header", machoBytes(binary.LittleEndian, macho.Magic64, macho.CpuArm64)[:10], ErrUnknownFormat},
		{"macho 386", machoBytes(binary.LittleEndian, macho.Magic32, macho.Cpu386), ErrUnsupported},
		{"macho amd64 in a 32-bit header", machoBytes(binary.LittleEndian, macho.Magic32, macho.CpuAmd64), ErrUnsupported},
		{"macho big-endian ppc64", machoBytes(binary.BigEndian, macho.Magic64, macho.CpuPpc64), ErrUnsupported},
		{"universal", fatBytes(macho.MagicFat, macho.CpuAmd64, macho.CpuArm64), ErrUniversalBinary},
		{"universal 64", fatBytes(magicFat64, macho.CpuArm64, macho.CpuAmd64), ErrUniversalBinary},
		{"universal truncated", fatBytes(macho.MagicFat, macho.CpuAmd64, macho.CpuArm64)[:20], ErrUnknownFormat},
		{"universal with no architectures", fatBytes(macho.MagicFat), ErrUnknownFormat},
		{"java class file", []byte("\xca\xfe\xba\xbe\x00\x00\x00\x41rest of class"), ErrUnknownFormat},

		{"ms-dos program", append([]byte("MZ"), make([]byte, 200)...), ErrUnknownFormat},
		{"mz only", []byte("MZ\x90\x00"), ErrUnknownFormat},
		{"pe signature past the end", patch(peBytes(pe.IMAGE_FILE_MACHINE_AMD64), 0x3c, uint32(1<<32-1)), ErrUnknownFormat},
		{"truncated pe header", peBytes(pe.IMAGE_FILE_MACHINE_AMD64)[:74], ErrUnknownFormat},
		{"pe windows/arm", peBytes(pe.IMAGE_FILE_MACHINE_ARMNT), ErrUnsupported},
		{"pe powerpc", peBytes(pe.IMAGE_FILE_MACHINE_POWERPC), ErrUnsupported},
	}
}

// patch returns a copy of b with v written little-endian at off.
func patch(b []byte, off int, v any) []byte {
	b = bytes.Clone(b)
	if _, err := binary.Encode(b[off:], binary.LittleEndian, v); err != nil {
		panic(err) // a mistake in the test table
	}
	return b
}

// randomBytes returns n bytes that are the same on every run.
func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
