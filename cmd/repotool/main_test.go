package main

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"repotool": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup:               setup,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":  cmdExitcode,
			"mkexe":     cmdMkexe,
			"perm":      cmdPerm,
			"smaller":   cmdSmaller,
			"flipbyte":  cmdFlipbyte,
			"replace":   cmdReplace,
			"waitready": cmdWaitready,
			"httpget":   cmdHTTPGet,
			"sleep":     cmdSleep,
		},
	})
}

// goEnv is the host's Go configuration, so that scripts can run "go build"
// with the same (warm) build cache.
var goEnv = sync.OnceValues(func() ([]string, error) {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	return strings.Fields(string(out)), err
})

func setup(env *testscript.Env) error {
	vals, err := goEnv()
	if err != nil || len(vals) != 3 {
		return fmt.Errorf("go env: %v %q", err, vals)
	}
	env.Setenv("GOCACHE", vals[0])
	env.Setenv("GOMODCACHE", vals[1])
	env.Setenv("GOPATH", vals[2])
	env.Setenv("GOFLAGS", "-buildvcs=false")
	env.Setenv("GOTOOLCHAIN", "local")
	env.Setenv("CGO_ENABLED", "0")
	env.Setenv("HOSTPLATFORM", runtime.GOOS+"/"+runtime.GOARCH)
	// Where init, rotate and promote keep the publisher's default pins.
	env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
	return nil
}

// sleep DURATION waits, so that a script needs no sleep program.
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep duration")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// exitcode N PROG ARGS... runs PROG and checks that it exits with status N,
// keeping its stdout and stderr for the next commands.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N prog [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else {
		ts.Check(err)
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// mkexe FILE OS/ARCH [SIZE] writes a file with a real executable header for
// the platform (ELF for Linux) followed by SIZE bytes (default 20000) of
// code-like data: what platform detection reads, without compiling.
func cmdMkexe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: mkexe file os/arch [size]")
	}
	size := 20000
	if len(args) == 3 {
		var err error
		size, err = strconv.Atoi(args[2])
		ts.Check(err)
	}
	machines := map[string]elf.Machine{
		"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64, "linux/riscv64": elf.EM_RISCV,
	}
	m, ok := machines[args[1]]
	if !ok {
		ts.Fatalf("mkexe: no header for %s", args[1])
	}
	hdr := make([]byte, 64)
	copy(hdr, elf.ELFMAG)
	hdr[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le := binary.LittleEndian
	le.PutUint16(hdr[16:], uint16(elf.ET_EXEC))
	le.PutUint16(hdr[18:], uint16(m))
	le.PutUint32(hdr[20:], uint32(elf.EV_CURRENT))
	le.PutUint16(hdr[52:], 64)
	le.PutUint16(hdr[54:], 56)
	le.PutUint16(hdr[58:], 64)
	rng := rand.New(rand.NewPCG(uint64(size), uint64(m)))
	words := []string{"main.", "runtime.", "func", "\x00\x00\x00\x00", "safeupdate", "\x48\x89\xe5", "\xc3"}
	var b strings.Builder
	b.Write(hdr)
	for b.Len() < len(hdr)+size {
		b.WriteString(words[rng.IntN(len(words))])
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(b.String()[:len(hdr)+size]), 0o755))
}

// perm FILE MODE checks a file's permission bits (octal).
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm file mode")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := fi.Mode().Perm(); (uint64(got) == want) == neg {
		ts.Fatalf("%s has mode %#o, want %s%#o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// smaller A B checks that file A has fewer bytes than file B.
func cmdSmaller(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: smaller a b")
	}
	a, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	b, err := os.Stat(ts.MkAbs(args[1]))
	ts.Check(err)
	if a.Size() >= b.Size() {
		ts.Fatalf("%s has %d bytes, %s %d: want fewer", args[0], a.Size(), args[1], b.Size())
	}
}

// flipbyte FILE OFFSET inverts one bit of the byte at OFFSET.
func cmdFlipbyte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte file offset")
	}
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	if off >= len(data) {
		ts.Fatalf("%s has only %d bytes", args[0], len(data))
	}
	data[off] ^= 1
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), data, 0o644))
}

// replace FILE OLD NEW replaces the first OLD in FILE with NEW, failing if
// OLD is not there.
func cmdReplace(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: replace file old new")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	if !strings.Contains(string(data), args[1]) {
		ts.Fatalf("%s does not contain %q", args[0], args[1])
	}
	out := strings.Replace(string(data), args[1], args[2], 1)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(out), 0o644))
}

// waitready FILE waits until FILE holds the ready line of "repotool serve",
// prints it, and sets $URL to the URL it names.
func cmdWaitready(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitready file")
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		f, err := os.Open(ts.MkAbs(args[0]))
		if err == nil {
			line, err := bufio.NewReader(f).ReadString('\n')
			f.Close()
			if err == nil {
				fmt.Fprint(ts.Stdout(), line)
				fields := strings.Fields(line)
				ts.Setenv("URL", fields[len(fields)-1])
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("no ready line in %s after 20s", args[0])
}

// httpget URL FILE fetches URL into FILE and prints the status line.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: httpget url file")
	}
	if !strings.HasPrefix(args[0], "http://127.0.0.1:") {
		ts.Fatalf("httpget only fetches from 127.0.0.1, not %s", args[0])
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(args[0])
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), body, 0o644))
	fmt.Fprintln(ts.Stdout(), resp.Status)
}

// TestRunUsage checks the exit codes of run directly, without scripts.
func TestRunUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
	}{
		{nil, exitUsage},
		{[]string{"--help"}, exitOK},
		{[]string{"help", "add"}, exitOK},
		{[]string{"frob"}, exitUsage},
		{[]string{"add", "--help"}, exitOK},
		{[]string{"add", "--nope"}, exitUsage},
		{[]string{"version"}, exitOK},
	}
	for _, tt := range tests {
		var out, errb strings.Builder
		if got := run(tt.args, &out, &errb); got != tt.code {
			t.Errorf("run(%q) = %d, want %d; stderr %q", tt.args, got, tt.code, errb.String())
		}
	}
}
