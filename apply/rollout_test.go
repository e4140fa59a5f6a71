package apply_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/channel"
)

// writeStaged publishes channels/stable.json offering 2.0.0 to rollout
// parts per million of clients, numbered seq.
func (f *rootFixture) writeStaged(t testing.TB, seq, rollout int64) []byte {
	t.Helper()
	data := stagedChannelFile(t, "stable", "2.0.0", covered, seq, inAWeek(), rollout, f.tsKey)
	f.repo.writeFile(t, "channels/stable.json", data)
	return data
}

// rolloutMachine returns a machine name that a rollout of 2.0.0 on stable
// at ppm includes (in) or leaves out.
func rolloutMachine(t testing.TB, ppm int64, in bool) string {
	t.Helper()
	for i := range 10_000 {
		id := fmt.Sprintf("machine-%d", i)
		if channel.InRollout(id, "stable", "2.0.0", ppm) == in {
			return id
		}
	}
	t.Fatalf("no machine with in=%v at %d ppm", in, ppm)
	return ""
}

func TestApplyFromStagedChannel(t *testing.T) {
	f := newRootFixture(t)
	f.writeStaged(t, 3, 200_000)
	out := rolloutMachine(t, 200_000, false)

	_, err := apply.Check(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"), apply.RolloutID(out))...)
	var re *apply.RolloutError
	if !errors.Is(err, apply.ErrNotInRollout) || !errors.As(err, &re) {
		t.Fatalf("Check outside the rollout: got %v, want ErrNotInRollout", err)
	}
	if re.Channel != "stable" || re.Version != "2.0.0" || re.Rollout != 200_000 {
		t.Errorf("RolloutError %+v", *re)
	}
	if want := `apply: 2.0.0 is rolling out on channel "stable" to 20% of clients, not to this one yet`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	err = apply.Apply(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"), apply.RolloutID(out))...)
	if !errors.Is(err, apply.ErrNotInRollout) {
		t.Fatalf("Apply outside the rollout: got %v, want ErrNotInRollout", err)
	}
	f.wantNoRelease(t)
	wantFile(t, f.target, f.old)
	if seq := f.storedSeq(t, "stable"); seq != 3 {
		t.Errorf("the channel seen was not recorded: version %d, want 3", seq)
	}
	if _, err := os.Stat(filepath.Join(f.store, "rollout-id")); err == nil {
		t.Error("a rollout id was drawn although RolloutID was given")
	}

	in := rolloutMachine(t, 200_000, true)
	if rel, err := apply.Check(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"), apply.RolloutID(in))...); err != nil || rel.Version != "2.0.0" {
		t.Fatalf("Check inside the rollout: %v", err)
	}
	if err := apply.Apply(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"), apply.RolloutID(in))...); err != nil {
		t.Fatal(err)
	}
	wantFile(t, f.target, f.bin)
}

func TestPausedRolloutUpdatesNoOne(t *testing.T) {
	f := newRootFixture(t)
	f.writeStaged(t, 3, 0)
	for i := range 20 {
		err := apply.Apply(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"), apply.RolloutID(fmt.Sprint("m", i)))...)
		if !errors.Is(err, apply.ErrNotInRollout) || !strings.Contains(err.Error(), "paused") {
			t.Fatalf("a paused rollout: got %v, want ErrNotInRollout saying paused", err)
		}
	}
	f.wantNoRelease(t)
	wantFile(t, f.target, f.old)
}

// A client already at the release it is not offered has nothing to do.
func TestStagedChannelAtCurrentVersionIsNoop(t *testing.T) {
	f := newRootFixture(t)
	f.writeStaged(t, 3, 10_000)
	out := rolloutMachine(t, 10_000, false)
	if err := apply.Apply(t.Context(), f.channelOpts("stable", apply.CurrentVersion("2.0.0"), apply.RolloutID(out))...); err != nil {
		t.Fatalf("at the channel's release, outside the rollout: %v", err)
	}
	wantFile(t, f.target, f.old)
}

func TestRolloutIDKeptInTrustStore(t *testing.T) {
	f := newRootFixture(t)
	f.writeChannel(t, "stable", "2.0.0", covered, 1, inAWeek(), f.tsKey)
	if _, err := apply.Check(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"))...); err != nil {
		t.Fatal(err)
	}
	idPath := filepath.Join(f.store, "rollout-id")
	if _, err := os.Stat(idPath); err == nil {
		t.Error("a full rollout drew a rollout id: it is made on first use")
	}

	f.writeStaged(t, 2, 500_000)
	_, first := apply.Check(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"))...)
	if first != nil && !errors.Is(first, apply.ErrNotInRollout) {
		t.Fatal(first)
	}
	data, err := os.ReadFile(idPath)
	if err != nil {
		t.Fatalf("no rollout id kept: %v", err)
	}
	id := strings.TrimSuffix(string(data), "\n")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) || !bytes.HasSuffix(data, []byte("\n")) {
		t.Errorf("rollout-id holds %q, want 32 hex digits and a newline", data)
	}
	if got := listDir(t, f.store)["rollout-id"]; got[:10] != "-rw-------" {
		t.Errorf("rollout-id is %s, want mode 0600", got)
	}
	if in := channel.InRollout(id, "stable", "2.0.0", 500_000); in != (first == nil) {
		t.Errorf("the stored id is in=%v, but Check decided %v", in, first)
	}
	for range 3 {
		_, again := apply.Check(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"))...)
		if (again == nil) != (first == nil) {
			t.Fatalf("the same client decided two ways: %v, then %v", first, again)
		}
	}
	if after, _ := os.ReadFile(idPath); !bytes.Equal(after, data) {
		t.Errorf("the rollout id changed from %q to %q", data, after)
	}
	g := newRootFixture(t)
	g.writeStaged(t, 2, 500_000)
	if _, err := apply.Check(t.Context(), g.channelOpts("stable", apply.CurrentVersion("1.0.0"))...); err != nil && !errors.Is(err, apply.ErrNotInRollout) {
		t.Fatal(err)
	}
	if other, _ := os.ReadFile(filepath.Join(g.store, "rollout-id")); len(other) == 0 || bytes.Equal(other, data) {
		t.Errorf("another store drew %q, this one %q: want two different ids", other, data)
	}
}

func TestRejectsDamagedRolloutID(t *testing.T) {
	f := newRootFixture(t)
	f.writeStaged(t, 2, 500_000)
	if err := os.MkdirAll(f.store, 0o700); err != nil {
		t.Fatal(err)
	}
	idPath := filepath.Join(f.store, "rollout-id")
	if err := os.WriteFile(idPath, []byte("not an id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := apply.Check(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"))...)
	if err == nil || errors.Is(err, apply.ErrNotInRollout) || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("a damaged rollout id: got %v, want an error saying to remove it", err)
	}
	if data, _ := os.ReadFile(idPath); string(data) != "not an id\n" {
		t.Errorf("the damaged id was replaced by %q", data)
	}
	f.wantNoRelease(t)
}

// A mirror that raises the share (to push a release to more machines, or
// to all of them) breaks the channel's signature.
func TestRejectsEditedRollout(t *testing.T) {
	f := newRootFixture(t)
	data := f.writeStaged(t, 2, 10_000)
	out := rolloutMachine(t, 10_000, false)
	for name, edited := range map[string][]byte{
		"raised to 50%": bytes.Replace(data, []byte(`"rollout_ppm": 10000`), []byte(`"rollout_ppm": 500000`), 1),
		"made full": bytes.Replace(bytes.Replace(data, []byte(`"rollout_ppm": 10000,`), nil, 1),
			[]byte(`"channel-2"`), []byte(`"channel"`), 1),
	} {
		if bytes.Equal(edited, data) {
			t.Fatalf("%s: the edit did not apply", name)
		}
		f.repo.writeFile(t, "channels/stable.json", edited)
		err := apply.Apply(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"), apply.RolloutID(out))...)
		if !errors.Is(err, apply.ErrSignature) {
			t.Errorf("%s: got %v, want ErrSignature", name, err)
		}
	}
	f.wantNoRelease(t)
	wantFile(t, f.target, f.old)
}

// After a client saw the rollout at 50%, a mirror serving the older 1%
// channel (to keep it from updating, or to undo a raise) is a replay.
func TestRejectsReplayedRollout(t *testing.T) {
	f := newRootFixture(t)
	one := stagedChannelFile(t, "stable", "2.0.0", covered, 1, inAWeek(), 10_000, f.tsKey)
	f.writeStaged(t, 2, 500_000)
	id := rolloutMachine(t, 10_000, false) // out at 1%
	_, err := apply.Check(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"), apply.RolloutID(id))...)
	if err != nil && !errors.Is(err, apply.ErrNotInRollout) {
		t.Fatal(err)
	}
	f.repo.writeFile(t, "channels/stable.json", one)
	_, err = apply.Check(t.Context(), f.channelOpts("stable", apply.CurrentVersion("1.0.0"), apply.RolloutID(id))...)
	if !errors.Is(err, apply.ErrReplay) {
		t.Fatalf("the 1%% channel after the 50%% one: got %v, want ErrReplay", err)
	}
}

func TestRolloutIDOptionRefuses(t *testing.T) {
	f := newRootFixture(t)
	for name, opts := range map[string][]apply.Option{
		"empty":           f.channelOpts("stable", apply.RolloutID("")),
		"NUL":             f.channelOpts("stable", apply.RolloutID("a\x00b")),
		"invalid UTF-8":   f.channelOpts("stable", apply.RolloutID("\xff")),
		"too long":        f.channelOpts("stable", apply.RolloutID(strings.Repeat("a", 257))),
		"without Channel": f.rootOpts(apply.RolloutID("host-1")),
		"with keys only":  f.opts(apply.RolloutID("host-1")),
	} {
		if _, err := apply.Check(t.Context(), opts...); err == nil || !strings.Contains(err.Error(), "RolloutID") {
			t.Errorf("%s: got %v, want an error naming RolloutID", name, err)
		}
	}
	if n := f.repo.count(""); n != 0 {
		t.Errorf("%d requests before the options were refused", n)
	}
}
