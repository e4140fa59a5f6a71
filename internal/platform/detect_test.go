package platform

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectHeaders(t *testing.T) {
	for _, tt := range headerCases() {
		t.Run(tt.name, func(t *testing.T) {
			goos, goarch, err := Detect(bytes.NewReader(tt.file))
			if err != nil || goos != tt.goos || goarch != tt.goarch {
				t.Fatalf("Detect = %q, %q, %v; want %q, %q", goos, goarch, err, tt.goos, tt.goarch)
			}
		})
	}
}

func TestDetectRefuses(t *testing.T) {
	sentinels := []error{ErrUnknownFormat, ErrUnsupported, ErrUniversalBinary}
	for _, tt := range refuseCases() {
		t.Run(tt.name, func(t *testing.T) {
			goos, goarch, err := Detect(bytes.NewReader(tt.file))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Detect = %q, %q, %v; want an error wrapping %q", goos, goarch, err, tt.want)
			}
			for _, other := range sentinels {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("error %q also wraps %q", err, other)
				}
			}
			if goos != "" || goarch != "" {
				t.Errorf("Detect returned %q, %q along with an error", goos, goarch)
			}
			if !strings.HasPrefix(err.Error(), "platform: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestDetectUniversalNamesArchitectures(t *testing.T) {
	file := fatBytes(macho.MagicFat, macho.CpuAmd64, macho.CpuArm64, macho.CpuPpc)
	_, _, err := Detect(bytes.NewReader(file))
	want := "platform: universal Mach-O holds several architectures (amd64, arm64, CpuPpc); give --os and --arch"
	if err == nil || err.Error() != want {
		t.Fatalf("Detect error = %v\nwant %s", err, want)
	}
}

type failingReaderAt struct{ err error }

func (r failingReaderAt) ReadAt([]byte, int64) (int, error) { return 0, r.err }

// A disk error is the reader's, not a verdict on the file.
func TestDetectReadError(t *testing.T) {
	errDisk := errors.New("disk on fire")
	_, _, err := Detect(failingReaderAt{errDisk})
	if !errors.Is(err, errDisk) || errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("Detect error = %v; want it to wrap only %v", err, errDisk)
	}
}

// countingReaderAt counts the bytes Detect asks for.
type countingReaderAt struct {
	r     io.ReaderAt
	bytes int
	reads int
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.bytes += len(p)
	c.reads++
	return c.r.ReadAt(p, off)
}

// The largest headers Detect walks must not make it read much: every
// program and section header it allows, each section a note.
func TestDetectReadsAreBounded(t *testing.T) {
	spec := elf64(elf.EM_X86_64)
	spec.interp = "/lib64/ld-linux-x86-64.so.2"
	spec.notes = make([]string, maxELFHeaders-2) // plus null and name table
	for i := range spec.notes {
		spec.notes[i] = ".note.openbsd.identX"
	}
	r := &countingReaderAt{r: bytes.NewReader(spec.bytes())}
	goos, goarch, err := Detect(r)
	if err != nil || goos != "linux" || goarch != "amd64" {
		t.Fatalf("Detect = %q, %q, %v; want linux/amd64", goos, goarch, err)
	}
	if r.bytes > 150<<10 {
		t.Errorf("Detect read %d bytes in %d reads; the documented bound is 150 KB", r.bytes, r.reads)
	}
}

// TestDetectGoBinaries builds an empty program for platforms that together
// take every branch of Detect, and checks that Detect names each. A build for
// a platform the build cache has not seen takes about fifteen seconds of CPU,
// so the list is short; headerCases covers every architecture.
func TestDetectGoBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go programs for other platforms")
	}
	src := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.26\n",
		"main.go": "package main\n\nfunc main() {}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	for _, pair := range []string{
		"linux/amd64",   // ELF, SYSV OS/ABI
		"linux/s390x",   // ELF, big-endian
		"freebsd/amd64", // ELF OS/ABI
		"netbsd/arm64",  // ELF OS/ABI and note
		"openbsd/amd64", // ELF OS/ABI, note and interpreter
		"solaris/amd64", // ELF, SYSV OS/ABI, told by its interpreter
		"darwin/arm64",  // Mach-O
		"windows/amd64", // PE
	} {
		t.Run(pair, func(t *testing.T) {
			t.Parallel()
			goos, goarch, _ := strings.Cut(pair, "/")
			bin := filepath.Join(out, goos+"-"+goarch)
			cmd := exec.Command("go", "build", "-o", bin, ".")
			cmd.Dir = src
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch,
				"GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, msg)
			}
			f, err := os.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r := &countingReaderAt{r: f}
			gotOS, gotArch, err := Detect(r)
			if err != nil || gotOS != goos || gotArch != goarch {
				t.Fatalf("Detect = %q, %q, %v; want %s", gotOS, gotArch, err, pair)
			}
			if r.bytes > 8<<10 {
				t.Errorf("Detect read %d bytes of a real binary; want only its headers", r.bytes)
			}
		})
	}
}

func FuzzDetect(f *testing.F) {
	for _, c := range headerCases() {
		f.Add(c.file)
	}
	for _, c := range refuseCases() {
		f.Add(c.file)
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		goos, goarch, err := Detect(bytes.NewReader(file))
		if err != nil {
			if goos != "" || goarch != "" {
				t.Fatalf("Detect returned %q, %q along with %v", goos, goarch, err)
			}
			// A bytes.Reader never fails, so every error is a verdict.
			if !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrUniversalBinary) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if !Known(goos, goarch) {
			t.Fatalf("Detect returned %s/%s, which is not a Go 1.26 platform", goos, goarch)
		}
		// The format decides the OS family: a header cannot be read as
		// another format's.
		switch {
		case bytes.HasPrefix(file, []byte("MZ")):
			if goos != "windows" {
				t.Fatalf("PE file detected as %s/%s", goos, goarch)
			}
		case bytes.HasPrefix(file, []byte("\x7fELF")):
			if goos == "windows" || goos == "darwin" {
				t.Fatalf("ELF file detected as %s/%s", goos, goarch)
			}
		default:
			if goos != "darwin" {
				t.Fatalf("Mach-O file detected as %s/%s", goos, goarch)
			}
		}
	})
}
