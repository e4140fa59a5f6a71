package trust

import (
	"context"
	"errors"
	"fmt"

	"github.com/safeupdate/safeupdate/internal/limits"
)

var (
	// ErrNoRoot is what a Fetch function returns, wrapped or not, when the
	// repository has no root of the version asked for: Walk has reached
	// the newest root. For WalkTo it is a gap in the chain, an error.
	ErrNoRoot = errors.New("trust: the repository has no such root")
	// ErrTooManyRotations is returned by Walk when the repository holds
	// more than limits.Rotations successors of the root it started from.
	// The root returned with it is the last one verified, so a caller
	// that keeps it goes on from there next time.
	ErrTooManyRotations = errors.New("trust: too many root rotations in one walk")
)

// Fetch returns the bytes of root version v (the file RootFileName(v)),
// bounded by the caller, or an error wrapping ErrNoRoot when the
// repository has none. Any other error ends the walk with that error.
type Fetch func(ctx context.Context, v int64) ([]byte, error)

// RotationError is returned by Walk and WalkTo for a successor root that
// was fetched but refused. Err wraps ErrMalformedRoot, ErrThreshold or
// ErrRootVersion.
type RotationError struct {
	Version int64 // the version asked for: the refused root's file name
	Err     error
}

func (e *RotationError) Error() string {
	return fmt.Sprintf("%s: %v", RootFileName(e.Version), e.Err)
}

func (e *RotationError) Unwrap() error { return e.Err }

// Walk brings from up to date (TUF section 5.3): it fetches root version
// N+1, N+2, ..., verifies each with Update against the one before, and
// stops when fetch reports the next version missing (ErrNoRoot). accepted,
// if not nil, is called with each verified successor and its bytes, in
// order.
//
// Walk returns the newest root it verified (from when there was none),
// also with an error: a *RotationError for a successor that was refused,
// an error wrapping ErrTooManyRotations when more than limits.Rotations
// successors are present, ctx's error, or the error of fetch. Expiry is
// not checked: call CheckExpiry on the root returned once the walk is
// done.
//
// Walk is the one walk of the chain of roots, for clients and publisher
// tools alike, so that both reach the same root from the same pin. It
// trusts nothing fetch says about absence: a repository that withholds a
// successor (ErrNoRoot) holds the walker at an older root, which it can
// do anyway, but cannot make it accept a root its keys did not sign.
func Walk(ctx context.Context, from *Root, fetch Fetch, accepted func(*Root, []byte)) (*Root, error) {
	return walk(ctx, from, 0, fetch, accepted)
}

// WalkTo verifies the chain from `from` up to root version to, each root
// as the successor of the one before, exactly as Walk does, and returns
// the root of version to. Every version up to to must be present: a
// missing one is an error, fetch's, which wraps ErrNoRoot. The walk is
// bounded by to, not by limits.Rotations: WalkTo is for a history ending
// in a root the caller already trusts (a publisher's tool checking
// 1.root.json up to its pinned version), so to comes from trusted input.
// Errors are those of Walk, less ErrTooManyRotations; a root returned with
// an error is the last one verified.
func WalkTo(ctx context.Context, from *Root, to int64, fetch Fetch, accepted func(*Root, []byte)) (*Root, error) {
	if to < from.Version() {
		return from, fmt.Errorf("%w: cannot walk from root version %d back to version %d", ErrRootVersion, from.Version(), to)
	}
	return walk(ctx, from, to, fetch, accepted)
}

// walk is Walk when to is 0, and WalkTo otherwise.
func walk(ctx context.Context, from *Root, to int64, fetch Fetch, accepted func(*Root, []byte)) (*Root, error) {
	root := from
	for step := 0; to == 0 || root.Version() < to; step++ {
		if err := ctx.Err(); err != nil {
			return root, err
		}
		v := root.Version() + 1
		data, err := fetch(ctx, v)
		switch {
		case to == 0 && errors.Is(err, ErrNoRoot):
			return root, nil
		case err != nil:
			return root, err
		case to == 0 && step == limits.Rotations:
			return root, fmt.Errorf("%w: %s is present, and a walk verifies at most %d successors of root version %d; version %d is the newest verified",
				ErrTooManyRotations, RootFileName(v), limits.Rotations, from.Version(), root.Version())
		}
		next, err := root.Update(data)
		if err != nil {
			return root, &RotationError{Version: v, Err: err}
		}
		if accepted != nil {
			accepted(next, data)
		}
		root = next
	}
	return root, nil
}
