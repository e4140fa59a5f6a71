package apply_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/trust"
)

// rootFixture is the usual fixture with a TUF root instead of a pinned
// key: root 1 names rootKey for rotations, the fixture's key for releases
// (2.0.0 is signed with it) and tsKey for channels.
type rootFixture struct {
	*fixture
	rootKey testKey
	tsKey   testKey
	root1   []byte // the pinned root
	store   string // the TrustStore directory, not yet created
}

func newRootFixture(t testing.TB) *rootFixture {
	t.Helper()
	f := &rootFixture{fixture: newFixture(t), rootKey: newKey(t), tsKey: newKey(t)}
	f.store = filepath.Join(t.TempDir(), "trust")
	d := trust.NewRootDraft(role(1, f.rootKey), role(1, f.key), role(1, f.tsKey), inAYear())
	f.root1 = f.writeRoot(t, d, f.rootKey)
	return f
}

// role is a trust.RoleKeys of ks.
func role(threshold int, ks ...testKey) trust.RoleKeys {
	rk := trust.RoleKeys{Threshold: threshold}
	for _, k := range ks {
		rk.Keys = append(rk.Keys, k.priv.Public())
	}
	return rk
}

func inAYear() time.Time { return time.Now().Add(365 * 24 * time.Hour) }

// signRoot signs d with each signer and encodes it.
func signRoot(t testing.TB, d *trust.RootDraft, signers ...testKey) []byte {
	t.Helper()
	for _, k := range signers {
		s, err := keys.NewSigner(k.priv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
	data, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// writeRoot signs d and publishes it as N.root.json and root.json.
func (f *rootFixture) writeRoot(t testing.TB, d *trust.RootDraft, signers ...testKey) []byte {
	t.Helper()
	data := signRoot(t, d, signers...)
	f.repo.writeFile(t, trust.RootFileName(d.Version), data)
	f.repo.writeFile(t, "root.json", data)
	return data
}

// rotate publishes the successor of prev, changed by edit (which may be
// nil) and signed by signers, and returns it.
func (f *rootFixture) rotate(t testing.TB, prev []byte, edit func(*trust.RootDraft), signers ...testKey) []byte {
	t.Helper()
	return f.writeRoot(t, nextDraft(t, prev, edit), signers...)
}

// nextDraft is the unsigned successor of prev, changed by edit.
func nextDraft(t testing.TB, prev []byte, edit func(*trust.RootDraft)) *trust.RootDraft {
	t.Helper()
	p, err := trust.NewRoot(prev)
	if err != nil {
		t.Fatal(err)
	}
	d := trust.NextRoot(p)
	if edit != nil {
		edit(d)
	}
	return d
}

// writeChannel publishes channels/NAME.json signed by signers.
func (f *rootFixture) writeChannel(t testing.TB, name, version string, platforms []string, seq int64, expires time.Time, signers ...testKey) {
	t.Helper()
	f.repo.writeFile(t, "channels/"+name+".json", channelFile(t, name, version, platforms, seq, expires, signers...))
}

func channelFile(t testing.TB, name, version string, platforms []string, seq int64, expires time.Time, signers ...testKey) []byte {
	t.Helper()
	return stagedChannelFile(t, name, version, platforms, seq, expires, channel.Full, signers...)
}

// stagedChannelFile is channelFile offering version to rollout parts per
// million of clients.
func stagedChannelFile(t testing.TB, name, version string, platforms []string, seq int64, expires time.Time, rollout int64, signers ...testKey) []byte {
	t.Helper()
	c, err := channel.NewStaged(name, version, platforms, seq, expires, rollout)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range signers {
		s, err := keys.NewSigner(k.priv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// rootOpts are the options to update the target to 2.0.0 trusting root 1
// and the fixture's store, plus more.
func (f *rootFixture) rootOpts(more ...apply.Option) []apply.Option {
	return append([]apply.Option{
		apply.SourceRepo(f.repo.url()),
		apply.Version("2.0.0"),
		apply.OS("linux"), apply.Arch("amd64"),
		apply.TrustRoot(f.root1),
		apply.TrustStore(f.store),
		apply.TargetFile(f.target),
		apply.StallTimeout(5 * time.Second),
	}, more...)
}

// channelOpts are rootOpts with Channel(name) instead of Version.
func (f *rootFixture) channelOpts(name string, more ...apply.Option) []apply.Option {
	return append([]apply.Option{
		apply.SourceRepo(f.repo.url()),
		apply.Channel(name),
		apply.OS("linux"), apply.Arch("amd64"),
		apply.TrustRoot(f.root1),
		apply.TrustStore(f.store),
		apply.TargetFile(f.target),
		apply.StallTimeout(5 * time.Second),
	}, more...)
}

// storedRoot returns the version of the root in the store, or 0.
func (f *rootFixture) storedRoot(t testing.TB) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.store, "root.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := trust.NewRoot(data)
	if err != nil {
		t.Fatalf("stored root: %v", err)
	}
	return r.Version()
}

// storeRoot puts data in the store as if an earlier update had kept it.
func (f *rootFixture) storeRoot(t testing.TB, data []byte) {
	t.Helper()
	if err := os.MkdirAll(f.store, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.store, "root.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantNoRelease fails if release metadata or a payload was requested.
func (f *rootFixture) wantNoRelease(t testing.TB) {
	t.Helper()
	if n := f.repo.count("release.json") + f.repo.count("app.bz2"); n != 0 {
		t.Errorf("%d release requests; want none before trust is established", n)
	}
}
