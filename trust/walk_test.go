package trust_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/trust"
)

// memRepo is an in-memory repository of roots by version, recording the
// versions asked for.
type memRepo struct {
	roots map[int64][]byte
	asked []int64
}

func (m *memRepo) fetch(_ context.Context, v int64) ([]byte, error) {
	m.asked = append(m.asked, v)
	data, ok := m.roots[v]
	if !ok {
		return nil, fmt.Errorf("%w: %s", trust.ErrNoRoot, trust.RootFileName(v))
	}
	return data, nil
}

// rtChain returns root 1 (root key A) and a repository holding it and n
// successors, each signed by A.
func rtChain(t testing.TB, c rtKeys, n int) (*trust.Root, *memRepo) {
	t.Helper()
	r1, data := rtFirst(t, c)
	m := &memRepo{roots: map[int64][]byte{1: data}}
	prev := r1
	for range n {
		data := rtSign(t, trust.NextRoot(prev), c.a)
		next, err := prev.Update(data)
		if err != nil {
			t.Fatal(err)
		}
		m.roots[next.Version()] = data
		prev = next
	}
	return r1, m
}

// accepted returns a callback for Walk that records the versions accepted
// and checks their bytes are the repository's.
func (m *memRepo) accepted(t *testing.T, got *[]int64) func(*trust.Root, []byte) {
	return func(r *trust.Root, data []byte) {
		if !bytes.Equal(data, m.roots[r.Version()]) || !bytes.Equal(r.Bytes(), data) {
			t.Errorf("root %d accepted with other bytes than the repository's", r.Version())
		}
		*got = append(*got, r.Version())
	}
}

func TestWalkChain(t *testing.T) {
	c := rtCast(t)
	r1, m := rtChain(t, c, 3)
	var got []int64
	r, err := trust.Walk(t.Context(), r1, m.fetch, m.accepted(t, &got))
	if err != nil || r.Version() != 4 {
		t.Fatalf("Walk: root %d, %v; want version 4", version(r), err)
	}
	if !slices.Equal(got, []int64{2, 3, 4}) || !slices.Equal(m.asked, []int64{2, 3, 4, 5}) {
		t.Errorf("accepted %v after asking for %v; want 2 3 4 after 2 3 4 5", got, m.asked)
	}
	// From the newest root, the walk asks for the next one only.
	m.asked = nil
	if r2, err := trust.Walk(t.Context(), r, m.fetch, nil); err != nil || r2 != r || !slices.Equal(m.asked, []int64{5}) {
		t.Errorf("Walk from the newest: root %d, %v after asking for %v", version(r2), err, m.asked)
	}
}

// A gap in the chain ends it: what is past the gap was never vouched for
// by the roots before it.
func TestWalkStopsAtGap(t *testing.T) {
	c := rtCast(t)
	r1, m := rtChain(t, c, 3)
	delete(m.roots, 3)
	r, err := trust.Walk(t.Context(), r1, m.fetch, nil)
	if err != nil || r.Version() != 2 || !slices.Equal(m.asked, []int64{2, 3}) {
		t.Fatalf("Walk: root %d, %v after asking for %v; want version 2 after 2 3", version(r), err, m.asked)
	}
}

func TestWalkTo(t *testing.T) {
	c := rtCast(t)
	r1, m := rtChain(t, c, 4)
	var got []int64
	r, err := trust.WalkTo(t.Context(), r1, 3, m.fetch, m.accepted(t, &got))
	if err != nil || r.Version() != 3 || !slices.Equal(got, []int64{2, 3}) || !slices.Equal(m.asked, []int64{2, 3}) {
		t.Fatalf("WalkTo 3: root %d, %v, accepted %v after asking for %v; want 3, accepted 2 3", version(r), err, got, m.asked)
	}
	if r, err := trust.WalkTo(t.Context(), r1, 1, m.fetch, nil); err != nil || r != r1 {
		t.Errorf("WalkTo its own version: root %d, %v", version(r), err)
	}
	if _, err := trust.WalkTo(t.Context(), r, 2, m.fetch, nil); !errors.Is(err, trust.ErrRootVersion) {
		t.Errorf("WalkTo backwards: %v, want ErrRootVersion", err)
	}

	// For WalkTo, a gap is an error: the history it checks must be whole.
	delete(m.roots, 3)
	r, err = trust.WalkTo(t.Context(), r1, 4, m.fetch, nil)
	if !errors.Is(err, trust.ErrNoRoot) || r.Version() != 2 {
		t.Errorf("WalkTo past a gap: root %d, %v; want version 2 with ErrNoRoot", version(r), err)
	}
}

// More successors than one walk verifies is an error, not a silent stop,
// and the root returned is the last verified, so a caller that keeps it
// goes on from there.
func TestRejectsTooManyRotations(t *testing.T) {
	c := rtCast(t)
	r1, m := rtChain(t, c, limits.Rotations+1)
	r, err := trust.Walk(t.Context(), r1, m.fetch, nil)
	if !errors.Is(err, trust.ErrTooManyRotations) || r.Version() != limits.Rotations+1 {
		t.Fatalf("Walk: root %d, %v; want version %d with ErrTooManyRotations", version(r), err, limits.Rotations+1)
	}
	t.Log(err)
	if r, err = trust.Walk(t.Context(), r, m.fetch, nil); err != nil || r.Version() != limits.Rotations+2 {
		t.Fatalf("second walk: root %d, %v; want version %d", version(r), err, limits.Rotations+2)
	}

	// Exactly limits.Rotations successors is within the bound.
	delete(m.roots, limits.Rotations+2)
	if r, err = trust.Walk(t.Context(), r1, m.fetch, nil); err != nil || r.Version() != limits.Rotations+1 {
		t.Fatalf("Walk over %d successors: root %d, %v", limits.Rotations, version(r), err)
	}
}

// A successor signed by keys the previous root does not trust stops the
// walk with that root, and nothing after it is asked for.
func TestRejectsForgedRotationInWalk(t *testing.T) {
	c := rtCast(t)
	r1, m := rtChain(t, c, 1)
	r2, err := r1.Update(m.roots[2])
	if err != nil {
		t.Fatal(err)
	}
	forged := trust.NextRoot(r2)
	forged.Root = rtRole(1, c.b)
	m.roots[3] = rtSign(t, forged, c.b)
	m.roots[4] = rtSign(t, trust.NextRoot(r2), c.a) // never reached
	var got []int64
	r, err := trust.Walk(t.Context(), r1, m.fetch, m.accepted(t, &got))
	var re *trust.RotationError
	if !errors.As(err, &re) || re.Version != 3 || !errors.Is(err, trust.ErrThreshold) || r.Version() != 2 {
		t.Fatalf("Walk: root %d, %v; want version 2 with a RotationError for 3 wrapping ErrThreshold", version(r), err)
	}
	if !slices.Equal(got, []int64{2}) || slices.Contains(m.asked, 4) {
		t.Errorf("accepted %v after asking for %v", got, m.asked)
	}
	t.Log(err)
}

// An older root served as the next one (a rollback of the root version)
// is refused, whatever its signatures.
func TestRejectsRootVersionRollbackInWalk(t *testing.T) {
	c := rtCast(t)
	r1, m := rtChain(t, c, 2)
	m.roots[4] = m.roots[2]
	r, err := trust.Walk(t.Context(), r1, m.fetch, nil)
	var re *trust.RotationError
	if !errors.As(err, &re) || re.Version != 4 || !errors.Is(err, trust.ErrRootVersion) || r.Version() != 3 {
		t.Fatalf("Walk: root %d, %v; want version 3 with a RotationError for 4 wrapping ErrRootVersion", version(r), err)
	}
}

// A fetch error other than ErrNoRoot ends the walk with that error: only
// a root known to be missing ends it as the newest.
func TestWalkReturnsFetchError(t *testing.T) {
	c := rtCast(t)
	r1, m := rtChain(t, c, 2)
	boom := errors.New("connection reset")
	fetch := func(ctx context.Context, v int64) ([]byte, error) {
		if v == 3 {
			return nil, boom
		}
		return m.fetch(ctx, v)
	}
	if r, err := trust.Walk(t.Context(), r1, fetch, nil); !errors.Is(err, boom) || r.Version() != 2 {
		t.Fatalf("Walk: root %d, %v; want version 2 with the fetch error", version(r), err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	m.asked = nil
	if r, err := trust.Walk(ctx, r1, m.fetch, nil); !errors.Is(err, context.Canceled) || r != r1 || len(m.asked) != 0 {
		t.Fatalf("Walk with a cancelled ctx: root %d, %v after asking for %v", version(r), err, m.asked)
	}
}

// version is r's version, or 0 for nil.
func version(r *trust.Root) int64 {
	if r == nil {
		return 0
	}
	return r.Version()
}
