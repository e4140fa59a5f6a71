//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/keys"
)

// TestREADMEShowsThisProgram checks that the README's embedding example is
// this file, from its package clause on, byte for byte: the README cannot
// show code that does not compile.
func TestREADMEShowsThisProgram(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, code, ok := strings.Cut(string(src), "\npackage main\n")
	if !ok {
		t.Fatal("main.go has no package clause")
	}
	code = "package main\n" + code
	readme, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```go\n"+code+"```\n") {
		t.Errorf("README.md does not show examples/selfupdate/embedding/main.go (from \"package main\" on) in a ```go block; copy it again")
	}
}

// TestReleaseKeyIsPinnable checks that the embedded key is one apply.PublicKey
// accepts.
func TestReleaseKeyIsPinnable(t *testing.T) {
	if _, err := keys.ParsePublic(releaseKey); err != nil {
		t.Fatal(err)
	}
}
