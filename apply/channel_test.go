package apply_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/trust"
)

// covered are the platforms the test channels list.
var covered = []string{"linux/amd64", "darwin/arm64"}

func inAWeek() time.Time { return time.Now().Add(7 * 24 * time.Hour) }

// storedSeq returns the channel version the store recorded for name.
func (f *rootFixture) storedSeq(t testing.TB, name string) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.store, "channels.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]struct{ Seq int64 }
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m[name].Seq
}

func TestApplyFromChannel(t *testing.T) {
	f := newRootFixture(t)
	f.writeChannel(t, "stable", "2.0.0", covered, 3, inAWeek(), f.tsKey)

	rel, err := apply.Check(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"))...)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != "2.0.0" {
		t.Errorf("Check: version %s, want 2.0.0", rel.Version)
	}
	if err := apply.Apply(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"))...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
	if seq := f.storedSeq(t, "stable"); seq != 3 {
		t.Errorf("store recorded channel version %d, want 3", seq)
	}
	if got := listDir(t, f.store); len(got) != 2 || got["channels.json"][:10] != "-rw-r--r--" {
		t.Errorf("store holds %v, want root.json and channels.json with mode 0644", sortedKeys(got))
	}
}

func TestRejectsExpiredChannel(t *testing.T) {
	f := newRootFixture(t)
	f.writeChannel(t, "stable", "2.0.0", covered, 3, time.Now().Add(-time.Minute), f.tsKey)
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.channelOpts("stable")...)
	wantRefused(t, f.fixture, before, err, apply.ErrExpired)
	if !errors.Is(err, channel.ErrExpired) {
		t.Errorf("got %v, want it to wrap channel.ErrExpired", err)
	}
	f.wantNoRelease(t)
}

func TestChannelAtCurrentVersionIsNoop(t *testing.T) {
	f := newRootFixture(t)
	f.writeChannel(t, "stable", "2.0.0", covered, 3, inAWeek(), f.tsKey)
	before := listDir(t, f.dir)
	if err := apply.Apply(t.Context(), f.channelOpts("stable", apply.CurrentVersion("2.0.0"))...); err != nil {
		t.Fatal(err)
	}
	sameDir(t, f.dir, before)
	if n := f.repo.count("app.bz2"); n != 0 {
		t.Errorf("payload requested %d times", n)
	}

	t.Run("below the current version", func(t *testing.T) {
		before := listDir(t, f.dir)
		err := apply.Apply(t.Context(), f.channelOpts("stable", apply.CurrentVersion("2.1.0"))...)
		wantRefused(t, f.fixture, before, err, apply.ErrDowngrade)
		if n := f.repo.count("app.bz2"); n != 0 {
			t.Errorf("payload requested %d times", n)
		}
	})
}

func TestRejectsReplayedChannel(t *testing.T) {
	f := newRootFixture(t)
	f.repo.publish(t, "1.5.0", "linux", "amd64", binary("1.5.0", 30000), f.key)
	f.writeChannel(t, "stable", "2.0.0", covered, 5, inAWeek(), f.tsKey)
	if _, err := apply.Check(t.Context(), f.channelOpts("stable")...); err != nil {
		t.Fatal(err)
	}
	// An older state of the channel, validly signed and unexpired.
	f.writeChannel(t, "stable", "1.5.0", covered, 4, inAWeek(), f.tsKey)
	before, fetched := listDir(t, f.dir), f.repo.count("release.json")
	err := apply.Apply(t.Context(), f.channelOpts("stable")...)
	wantRefused(t, f.fixture, before, err, apply.ErrReplay)
	if !errors.Is(err, channel.ErrReplay) {
		t.Errorf("got %v, want it to wrap channel.ErrReplay", err)
	}
	if n := f.repo.count("release.json") - fetched; n != 0 {
		t.Errorf("release.json requested %d times after the replayed channel", n)
	}
	if seq := f.storedSeq(t, "stable"); seq != 5 {
		t.Errorf("store recorded channel version %d, want 5", seq)
	}

	t.Run("same version again", func(t *testing.T) {
		f.writeChannel(t, "stable", "2.0.0", covered, 5, inAWeek(), f.tsKey)
		if _, err := apply.Check(t.Context(), f.channelOpts("stable")...); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("other channels are unaffected", func(t *testing.T) {
		f.writeChannel(t, "beta", "1.5.0", covered, 1, inAWeek(), f.tsKey)
		if _, err := apply.Check(t.Context(), f.channelOpts("beta")...); err != nil {
			t.Fatal(err)
		}
		if seq := f.storedSeq(t, "stable"); seq != 5 {
			t.Errorf("store recorded stable version %d, want 5", seq)
		}
	})

	// Rotating the timestamp keys forgets the versions seen (TUF 5.3.11):
	// the new key starts over at 1, and the old key no longer counts.
	t.Run("timestamp key rotation", func(t *testing.T) {
		ts2 := newKey(t)
		f.rotate(t, f.root1, func(d *trust.RootDraft) { d.Timestamp = role(1, ts2) }, f.rootKey)
		f.writeChannel(t, "stable", "2.0.0", covered, 9, inAWeek(), f.tsKey)
		_, err := apply.Check(t.Context(), f.channelOpts("stable")...)
		if !errors.Is(err, apply.ErrSignature) {
			t.Errorf("channel signed by the retired timestamp key: got %v, want ErrSignature", err)
		}
		f.writeChannel(t, "stable", "2.0.0", covered, 1, inAWeek(), ts2)
		if _, err := apply.Check(t.Context(), f.channelOpts("stable")...); err != nil {
			t.Fatal(err)
		}
		if seq := f.storedSeq(t, "stable"); seq != 1 {
			t.Errorf("store recorded channel version %d, want 1", seq)
		}
	})
}

func TestRejectsChannelMissingPlatform(t *testing.T) {
	f := newRootFixture(t)
	f.writeChannel(t, "stable", "2.0.0", []string{"linux/arm64", "darwin/amd64"}, 3, inAWeek(), f.tsKey)
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.channelOpts("stable")...)
	wantRefused(t, f.fixture, before, err, apply.ErrMetadata)
	f.wantNoRelease(t)
}

func TestRejectsChannelNotSignedByTimestampKeys(t *testing.T) {
	tests := []struct {
		name    string
		signers func(t *testing.T, f *rootFixture) []testKey
	}{
		{"unsigned", func(t *testing.T, f *rootFixture) []testKey { return nil }},
		{"release key", func(t *testing.T, f *rootFixture) []testKey { return []testKey{f.key} }},
		{"root key", func(t *testing.T, f *rootFixture) []testKey { return []testKey{f.rootKey} }},
		{"unknown key", func(t *testing.T, f *rootFixture) []testKey { return []testKey{newKey(t)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRootFixture(t)
			f.writeChannel(t, "stable", "2.0.0", covered, 3, inAWeek(), tt.signers(t, f)...)
			before := listDir(t, f.dir)
			err := apply.Apply(t.Context(), f.channelOpts("stable")...)
			wantRefused(t, f.fixture, before, err, apply.ErrSignature)
			f.wantNoRelease(t)
		})
	}
}

func TestRejectsChannelUnderAnotherName(t *testing.T) {
	f := newRootFixture(t)
	f.repo.writeFile(t, "channels/stable.json", channelFile(t, "beta", "2.0.0", covered, 3, inAWeek(), f.tsKey))
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.channelOpts("stable")...)
	wantRefused(t, f.fixture, before, err, apply.ErrMetadata)
	if !errors.Is(err, channel.ErrMismatch) {
		t.Errorf("got %v, want it to wrap channel.ErrMismatch", err)
	}
	f.wantNoRelease(t)
}

func TestRejectsOversizedChannel(t *testing.T) {
	f := newRootFixture(t)
	written := make(chan int64, 1)
	f.repo.handle("/channels/stable.json", endless(written))
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.channelOpts("stable")...)
	wantRefused(t, f.fixture, before, err, apply.ErrTooLarge)
	f.wantNoRelease(t)
	wantBounded(t, written)
}

func TestRejectsChannelAfterExpiredRoot(t *testing.T) {
	f := newRootFixture(t)
	f.rotate(t, f.root1, func(d *trust.RootDraft) { d.Expires = time.Now().Add(-time.Hour) }, f.rootKey)
	f.writeChannel(t, "stable", "2.0.0", covered, 3, inAWeek(), f.tsKey)
	before := listDir(t, f.dir)
	err := apply.Apply(t.Context(), f.channelOpts("stable")...)
	wantRefused(t, f.fixture, before, err, apply.ErrExpired)
	if n := f.repo.count("stable.json"); n != 0 {
		t.Errorf("channel fetched %d times under an expired root", n)
	}
}
