package apply_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/trust"
)

func TestRejectsExpiredRoot(t *testing.T) {
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	expire := func(d *trust.RootDraft) { d.Expires = past }
	tests := []struct {
		name   string
		setup  func(t *testing.T, f *rootFixture) // publishes roots
		stored int64
	}{
		{"pinned root expired and not replaced", func(t *testing.T, f *rootFixture) {
			d := trust.NewRootDraft(role(1, f.rootKey), role(1, f.key), role(1, f.tsKey), past)
			f.root1 = f.writeRoot(t, d, f.rootKey)
		}, 1},
		{"newest root expired", func(t *testing.T, f *rootFixture) {
			f.rotate(t, f.root1, expire, f.rootKey)
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRootFixture(t)
			tt.setup(t, f)
			before := listDir(t, f.dir)
			err := apply.Apply(t.Context(), f.rootOpts()...)
			wantRefused(t, f.fixture, before, err, apply.ErrExpired)
			if !errors.Is(err, trust.ErrExpired) {
				t.Errorf("got %v, want it to wrap trust.ErrExpired", err)
			}
			f.wantNoRelease(t)
			if v := f.storedRoot(t); v != tt.stored {
				t.Errorf("store holds root %d, want %d (kept even though expired)", v, tt.stored)
			}
		})
	}
	t.Run("expired root replaced by a fresh one", func(t *testing.T) {
		f := newRootFixture(t)
		d := trust.NewRootDraft(role(1, f.rootKey), role(1, f.key), role(1, f.tsKey), past)
		f.root1 = f.writeRoot(t, d, f.rootKey)
		f.rotate(t, f.root1, func(d *trust.RootDraft) { d.Expires = inAYear() }, f.rootKey)
		if err := apply.Apply(t.Context(), f.rootOpts()...); err != nil {
			t.Fatal(err)
		}
		wantFile(t, f.target, f.bin)
	})
}

func TestRejectsOversizedRoot(t *testing.T) {
	f := newRootFixture(t)
	written := make(chan int64, 1)
	f.repo.handle("/2.root.json", endless(written))
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.rootOpts()...)
	wantRefused(t, f.fixture, before, err, apply.ErrTooLarge)
	f.wantNoRelease(t)
	wantBounded(t, written)
	if v := f.storedRoot(t); v != 1 {
		t.Errorf("store holds root %d, want 1", v)
	}
}

// endless serves bytes until the client hangs up (or 1 GiB), then sends
// how many it wrote on written.
func endless(written chan<- int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte(" "), 32<<10)
		var n int64
		for n < 1<<30 {
			m, err := w.Write(chunk)
			n += int64(m)
			if err != nil {
				break
			}
		}
		written <- n
	}
}

// wantBounded fails unless the endless handler stopped well before its
// 1 GiB: the client read no more than its limit and hung up.
func wantBounded(t *testing.T, written <-chan int64) {
	t.Helper()
	select {
	case n := <-written:
		if n >= 64<<20 {
			t.Errorf("the server wrote %d bytes before the client hung up", n)
		}
	case <-time.After(30 * time.Second):
		t.Error("the client is still reading the endless response")
	}
}

func TestTrustRootConfigErrors(t *testing.T) {
	f := newRootFixture(t)
	base := func(more ...apply.Option) []apply.Option {
		return append([]apply.Option{apply.SourceRepo(f.repo.url()), apply.OS("linux"), apply.Arch("amd64"), apply.TargetFile(f.target)}, more...)
	}
	root, store := apply.TrustRoot(f.root1), apply.TrustStore(f.store)
	tests := []struct {
		name string
		opts []apply.Option
		want string // in the message
	}{
		{"TrustRoot with PublicKey", base(root, store, apply.Version("2.0.0"), apply.PublicKey(f.key.pub)), "TrustRoot and PublicKey"},
		{"TrustRoot with Threshold", base(root, store, apply.Version("2.0.0"), apply.Threshold(1)), "Threshold given with TrustRoot"},
		{"TrustRoot with AllowUnsignedUnsafe", base(root, store, apply.Version("2.0.0"), apply.AllowUnsignedUnsafe()), "TrustRoot and AllowUnsignedUnsafe"},
		{"TrustRoot without TrustStore", base(root, apply.Version("2.0.0")), "needs TrustStore"},
		{"TrustRoot twice", base(root, root, store, apply.Version("2.0.0")), "TrustRoot given twice"},
		{"TrustStore without TrustRoot", base(store, apply.Version("2.0.0"), apply.PublicKey(f.key.pub)), "TrustStore has no use"},
		{"Channel without TrustRoot", base(apply.Channel("stable"), apply.PublicKey(f.key.pub)), "Channel needs TrustRoot"},
		{"Channel with Version", base(root, store, apply.Channel("stable"), apply.Version("2.0.0")), "Version and Channel given together"},
		{"neither Channel nor Version", base(root, store), "no Version given"},
		{"invalid channel name", base(root, store, apply.Channel("../stable")), "invalid channel name"},
		{"malformed root", base(apply.TrustRoot([]byte(`{"signed":{}}`)), store, apply.Version("2.0.0")), "malformed root"},
		{"root not signed by itself", base(apply.TrustRoot(signRoot(t, trust.NewRootDraft(role(1, f.rootKey), role(1, f.key), role(1, f.tsKey), inAYear()))), store, apply.Version("2.0.0")), "not signed by a threshold of its own root keys"},
		{"unknown platform with Channel", append(base(root, store, apply.Channel("stable")), apply.OS("plan10")), "not a platform Go knows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := apply.Apply(t.Context(), tt.opts...)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to say %q", err, tt.want)
			}
			for _, s := range []error{apply.ErrSignature, apply.ErrMetadata, apply.ErrExpired, apply.ErrReplay, apply.ErrTooLarge, apply.ErrNotFound} {
				if errors.Is(err, s) {
					t.Errorf("configuration error %q wraps %v", err, s)
				}
			}
			if n := f.repo.count("/"); n != 0 {
				t.Errorf("%d requests made before the configuration was refused: %v", n, err)
			}
			if _, serr := os.Stat(f.store); serr == nil {
				t.Errorf("the store was created before the configuration was refused: %v", err)
			}
		})
	}
}
