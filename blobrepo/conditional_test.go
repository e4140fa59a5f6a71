package blobrepo

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func testCreateOnlyRefusesExisting(t *testing.T, s *Store) {
	put(t, s, "1.0.0/release.json", []byte("first"), PutOptions{CreateOnly: true})
	err := s.Put(t.Context(), "1.0.0/release.json", strings.NewReader("second"), PutOptions{CreateOnly: true})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second CreateOnly Put error = %v, want ErrExists", err)
	}
	if got := get(t, s, "1.0.0/release.json", 0, -1); string(got) != "first" {
		t.Fatalf("object = %q after a refused CreateOnly, want %q", got, "first")
	}
}

// testCreateOnlyLarge writes above every driver's single-request size, so
// that the condition travels with S3's CompleteMultipartUpload, Azure's
// block list commit and GCS's resumable upload.
func testCreateOnlyLarge(t *testing.T, s *Store) {
	first := pattern(17 << 20)
	put(t, s, "big.bz2", first, PutOptions{CreateOnly: true})
	second := bytes.Repeat([]byte{'x'}, len(first))
	if err := s.Put(t.Context(), "big.bz2", bytes.NewReader(second), PutOptions{CreateOnly: true}); !errors.Is(err, ErrExists) {
		t.Fatalf("second large CreateOnly Put error = %v, want ErrExists", err)
	}
	if got := get(t, s, "big.bz2", int64(len(first))-10, -1); !bytes.Equal(got, first[len(first)-10:]) {
		t.Fatalf("tail of object changed by a refused CreateOnly: %q", got)
	}
}

// race runs n writers at once and returns their errors.
func race(n int, write func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			errs[i] = write(i)
		})
	}
	start.Done()
	done.Wait()
	return errs
}

func testCreateOnlyRace(t *testing.T, s *Store) {
	const rounds, writers = 20, 2
	for round := range rounds {
		path := fmt.Sprintf("race/%d/release.json", round)
		errs := race(writers, func(i int) error {
			return s.Put(t.Context(), path, strings.NewReader(fmt.Sprintf("writer %d", i)), PutOptions{CreateOnly: true})
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both created %s", round, winner, i, path)
			case err == nil:
				winner = i
			case !errors.Is(err, ErrExists):
				t.Fatalf("round %d: writer %d failed with %v, want ErrExists", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer succeeded: %v", round, errs)
		}
		if got, want := string(get(t, s, path, 0, -1)), fmt.Sprintf("writer %d", winner); got != want {
			t.Fatalf("round %d: object = %q, want the winner's %q", round, got, want)
		}
	}
}

// skipIfMatchWithoutLocks skips where file:// refuses IfMatch (see
// TestFileIfMatchRefusedWithoutLocks); never on Linux or macOS.
func skipIfMatchWithoutLocks(t *testing.T, s *Store) {
	if _, ok := s.b.(*dirStore); ok && !canLockDir {
		t.Skip("file:// refuses IfMatch on " + runtime.GOOS)
	}
}

func testIfMatch(t *testing.T, s *Store) {
	skipIfMatchWithoutLocks(t, s)
	ctx := t.Context()
	put(t, s, "channels/stable.json", []byte("v1"), PutOptions{})
	a1, err := s.Attributes(ctx, "channels/stable.json")
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "channels/stable.json", []byte("v2"), PutOptions{IfMatch: a1.Token})
	err = s.Put(ctx, "channels/stable.json", strings.NewReader("v3"), PutOptions{IfMatch: a1.Token})
	if !errors.Is(err, ErrPrecondition) {
		t.Fatalf("Put with a stale IfMatch error = %v, want ErrPrecondition", err)
	}
	if got := get(t, s, "channels/stable.json", 0, -1); string(got) != "v2" {
		t.Fatalf("object = %q, want v2", got)
	}
	err = s.Put(ctx, "channels/absent.json", strings.NewReader("v1"), PutOptions{IfMatch: a1.Token})
	if !errors.Is(err, ErrPrecondition) {
		t.Fatalf("IfMatch Put of an absent object error = %v, want ErrPrecondition", err)
	}
	err = s.Put(ctx, "channels/stable.json", strings.NewReader("v3"), PutOptions{IfMatch: a1.Token, CreateOnly: true})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("CreateOnly with IfMatch error = %v, want ErrUnsupported", err)
	}
}

func testIfMatchRace(t *testing.T, s *Store) {
	skipIfMatchWithoutLocks(t, s)
	const rounds, writers = 10, 2
	for round := range rounds {
		path := fmt.Sprintf("cas/%d", round)
		put(t, s, path, []byte("base"), PutOptions{})
		a, err := s.Attributes(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		errs := race(writers, func(i int) error {
			return s.Put(t.Context(), path, strings.NewReader(fmt.Sprintf("writer %d", i)), PutOptions{IfMatch: a.Token})
		})
		wins := 0
		for i, err := range errs {
			if err == nil {
				wins++
			} else if !errors.Is(err, ErrPrecondition) {
				t.Fatalf("round %d: writer %d failed with %v, want ErrPrecondition", round, i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d writers replaced the object from one token, want exactly 1 (%v)", round, wins, errs)
		}
	}
}
