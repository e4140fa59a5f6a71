package blobrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The file:// store must stay atomic across processes, where gocloud's
// fileblob (a mutex in one process) is not: two publishers are two
// processes. Each child races to CreateOnly the same keys; every key must
// have exactly one creator.
func TestCreateOnlyAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	const children, keys = 3, 200
	cmds := make([]*exec.Cmd, children)
	outs := make([]*bytes.Buffer, children)
	gos := make([]io.WriteCloser, children)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "BLOBREPO_CHILD_DIR="+dir, "BLOBREPO_CHILD_ID="+strconv.Itoa(i),
			"BLOBREPO_CHILD_KEYS="+strconv.Itoa(keys))
		outs[i] = new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		var err error
		if gos[i], err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	// The children start writing when their stdin closes, all at once.
	for _, g := range gos {
		g.Close()
	}
	won := make(map[string]int)
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
		for line := range strings.Lines(outs[i].String()) {
			if k, ok := strings.CutPrefix(strings.TrimSpace(line), "won "); ok {
				won[k]++
			}
		}
	}
	s := openDirStore(t, dir)
	for k := range keys {
		key := fmt.Sprintf("k/%d", k)
		if won[key] != 1 {
			t.Errorf("%s was created by %d processes, want exactly 1", key, won[key])
		}
		got := get(t, s, key, 0, -1)
		if !bytes.HasPrefix(got, []byte("child ")) {
			t.Errorf("%s = %q", key, got)
		}
	}
}

// TestMain turns the test binary into a child of
// TestCreateOnlyAcrossProcesses when BLOBREPO_CHILD_DIR is set.
func TestMain(m *testing.M) {
	if dir := os.Getenv("BLOBREPO_CHILD_DIR"); dir != "" {
		if err := createOnlyChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func createOnlyChild(dir string) error {
	id := os.Getenv("BLOBREPO_CHILD_ID")
	keys, err := strconv.Atoi(os.Getenv("BLOBREPO_CHILD_KEYS"))
	if err != nil {
		return err
	}
	ctx := context.Background()
	s, err := Open(ctx, fileURL(dir))
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		return err
	}
	for k := range keys {
		key := fmt.Sprintf("k/%d", k)
		err := s.Put(ctx, key, strings.NewReader("child "+id), PutOptions{CreateOnly: true})
		switch {
		case err == nil:
			fmt.Printf("won %s\n", key)
		case !errors.Is(err, ErrExists):
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

func openDirStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(t.Context(), fileURL(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// No write, failed or not, leaves a temporary file behind, and temporary
// files of a crashed writer are never listed.
func TestSurvivesFailedWritesWithoutLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := openDirStore(t, dir)
	ctx := t.Context()
	put(t, s, "a/b", []byte("1"), PutOptions{})
	put(t, s, "a/b", []byte("2"), PutOptions{})
	_ = s.Put(ctx, "a/b", strings.NewReader("3"), PutOptions{CreateOnly: true})
	_ = s.Put(ctx, "a/b", strings.NewReader("4"), PutOptions{IfMatch: "stale"})
	_ = s.Put(ctx, "a/c", &failingReader{n: 1 << 20}, PutOptions{})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_ = s.Put(cancelled, "a/d", strings.NewReader("5"), PutOptions{})
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(e.Name(), ".blobrepo-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A writer that crashed between create and rename leaves one; List
	// must not report it as an object.
	if err := os.WriteFile(filepath.Join(dir, "a", ".blobrepo-123.tmp"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var listed []string
	if err := s.List(ctx, "", func(p string) error { listed = append(listed, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(listed, " ") != "a/b" {
		t.Fatalf("List = %q, want [a/b]", listed)
	}
}

// A path that resolves to a directory is not an object.
func TestDirectoryIsNotAnObject(t *testing.T) {
	dir := t.TempDir()
	s := openDirStore(t, dir)
	put(t, s, "1.0.0/linux/amd64/release.json", []byte("{}"), PutOptions{})
	ctx := t.Context()
	if r, err := s.Get(ctx, "1.0.0/linux", 0, -1); !errors.Is(err, ErrNotFound) {
		if r != nil {
			r.Close()
		}
		t.Errorf("Get(directory) error = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "1.0.0/linux"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete(directory) error = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "1.0.0", "linux", "amd64", "release.json")); err != nil {
		t.Errorf("Delete(directory) touched the tree: %v", err)
	}
}
