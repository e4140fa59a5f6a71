package platform

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestKnownMatchesGoToolDistList(t *testing.T) {
	out, err := exec.Command("go", "tool", "dist", "list").Output()
	if err != nil {
		t.Fatalf("go tool dist list: %v", err)
	}
	want := strings.Fields(string(out))
	slices.Sort(want)
	if got := List(); !slices.Equal(got, want) {
		t.Errorf("the port table differs from this toolchain's `go tool dist list`; "+
			"if the toolchain is newer than Go 1.26, regenerate the table in platform.go\n got: %v\nwant: %v", got, want)
	}
	for _, pair := range want {
		goos, goarch, _ := strings.Cut(pair, "/")
		if !Known(goos, goarch) {
			t.Errorf("Known(%q, %q) = false", goos, goarch)
		}
	}
}

func TestKnown(t *testing.T) {
	tests := []struct {
		goos, goarch string
		want         bool
	}{
		{"linux", "amd64", true},
		{"darwin", "arm64", true},
		{"windows", "arm64", true},
		{"aix", "ppc64", true},
		{"wasip1", "wasm", true},
		{"windows", "arm", false}, // not a Go 1.26 port
		{"freebsd", "riscv64", false},
		{"darwin", "386", false},
		{"Linux", "amd64", false},
		{"linux/amd64", "", false},
		{"linux", "", false},
		{"", "amd64", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := Known(tt.goos, tt.goarch); got != tt.want {
			t.Errorf("Known(%q, %q) = %v, want %v", tt.goos, tt.goarch, got, tt.want)
		}
	}
}

func TestListIsSortedCopy(t *testing.T) {
	list := List()
	if !slices.IsSorted(list) || len(slices.Compact(slices.Clone(list))) != len(list) {
		t.Fatalf("List() is not sorted and unique: %v", list)
	}
	for i := range list {
		list[i] = "plan9/mips"
	}
	if !Known("linux", "amd64") || Known("plan9", "mips") || List()[0] == "plan9/mips" {
		t.Fatal("changing the slice List returned changed the port table")
	}
}
