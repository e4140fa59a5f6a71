package repotool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

var rootFileName = regexp.MustCompile(`^([1-9][0-9]{0,17})\.root\.json$`)

// verifyWithRoot is Verify with a pinned root: see Verify for what it
// checks.
func verifyWithRoot(ctx context.Context, cfg VerifyConfig) ([]Result, error) {
	if len(cfg.Keys) > 0 || cfg.Threshold != 0 {
		return nil, errors.New("repotool: verify: give keys or a root, not both")
	}
	pinned, err := trust.NewRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("repotool: verify: the pinned root: %s", trimPrefix(err))
	}
	if cfg.Version != "" {
		if err := release.ValidVersion(cfg.Version); err != nil {
			return nil, fmt.Errorf("repotool: verify: %s", trimPrefix(err))
		}
	}
	for _, name := range cfg.Channels {
		if err := channel.ValidName(name); err != nil {
			return nil, fmt.Errorf("repotool: verify: %s", trimChannel(err))
		}
	}
	s, err := openStore(ctx, cfg.Repo, false, false, cfg.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("repotool: verify: %w", err)
	}
	defer s.Close()
	rd := s.rd
	dir, isDir := rd.(lister)
	if !isDir && cfg.Version == "" && len(cfg.Channels) == 0 {
		return nil, errors.New("repotool: verify: a repository URL needs --version or --channel: HTTP cannot list directories")
	}
	now := time.Now()
	roots, final, err := verifyChain(ctx, rd, pinned, now)
	if err != nil {
		return nil, fmt.Errorf("repotool: verify: %w", err)
	}

	names := cfg.Channels
	if isDir && len(names) == 0 {
		if names, err = dir.channelNames(ctx); err != nil {
			return nil, fmt.Errorf("repotool: verify: %w", err)
		}
	}
	var channels []Result
	var verified []*channel.Channel
	versions := []string{}
	if cfg.Version != "" {
		versions = append(versions, cfg.Version)
	}
	for _, name := range names {
		res, ch, err := verifyChannel(ctx, rd, final, name, now)
		if err != nil {
			return nil, fmt.Errorf("repotool: verify: %w", err)
		}
		channels = append(channels, res)
		verified = append(verified, ch)
		if ch != nil && !slices.Contains(versions, ch.Release()) {
			versions = append(versions, ch.Release())
		}
	}

	var releases []Result
	switch {
	case isDir && cfg.Version == "" && len(cfg.Channels) == 0:
		if releases, err = verifyDir(ctx, dir, final.Targets(), ""); err != nil {
			return nil, err
		}
	default:
		for _, v := range versions {
			var found []Result
			if isDir {
				found, err = verifyDir(ctx, dir, final.Targets(), v)
			} else {
				found, err = probe(ctx, rd, final.Targets(), v)
			}
			if err != nil {
				return nil, err
			}
			releases = append(releases, found...)
		}
	}
	sort.Slice(releases, func(i, j int) bool { return releases[i].Path < releases[j].Path })
	if cfg.Version != "" && !slices.ContainsFunc(releases, func(r Result) bool { return strings.HasPrefix(r.Path, cfg.Version+"/") }) {
		return nil, errorf(ErrNoRelease, "repotool: verify: no release of version %s found in %s", cfg.Version, cfg.Repo)
	}

	for i, ch := range verified {
		if ch != nil {
			checkChannelReleases(&channels[i], ch, releases)
		}
	}
	out := append(roots, releases...)
	return append(out, channels...), nil
}

// verifyChain walks the roots of the repository as Verify says, and
// returns a result per root and the last root reached. The error is only
// for a server that cannot be asked at all.
func verifyChain(ctx context.Context, rd repoReader, pinned *trust.Root, now time.Time) ([]Result, *trust.Root, error) {
	results, err := verifyHistory(ctx, rd, pinned)
	if err != nil {
		return nil, nil, err
	}
	later, final, err := verifyLater(ctx, rd, pinned)
	if err != nil {
		return nil, nil, err
	}
	results = append(results, later...)

	allOK := !slices.ContainsFunc(results, func(r Result) bool { return !r.OK })
	last := slices.IndexFunc(results, func(r Result) bool { return r.Version == final.Version() && r.OK })
	if last >= 0 {
		results[last].Expires = final.Expires()
	}
	if err := final.CheckExpiry(now); err != nil {
		allOK = false
		if last < 0 {
			// The pinned root is the final one but not in the repository.
			results = append(results, Result{Kind: KindRoot, Path: trust.RootFileName(final.Version()), Version: final.Version(), Keys: []string{}})
			last = len(results) - 1
		}
		results[last].OK, results[last].Error = false, trimPrefix(err)
	}

	if dir, ok := rd.(lister); ok {
		results = append(results, unreached(ctx, dir, results, final)...)
	}
	if allOK {
		res := Result{Kind: KindRoot, Path: rootFile, Keys: []string{}}
		data, err := readRepoFile(ctx, rd, rootFile, limits.RootJSON)
		switch {
		case unreachable(err):
			return nil, nil, err
		case err != nil:
			res.Error = trimPrefix(err)
		case !bytes.Equal(data, final.Bytes()):
			res.Error = fmt.Sprintf("not a copy of %s, the newest root", trust.RootFileName(final.Version()))
		default:
			res.OK = true
		}
		if !res.OK {
			results = append(results, res)
		}
	}
	return results, final, nil
}

// verifyHistory checks the roots up to the pinned one: each vouches for
// the next (trust.WalkTo), and the last is the pinned one. After a break,
// the roots before the pinned one have nothing left to be checked
// against, and only the pinned one is read. The error is only for a server
// that cannot be asked at all.
func verifyHistory(ctx context.Context, rd repoReader, pinned *trust.Root) ([]Result, error) {
	fetch := func(ctx context.Context, v int64) ([]byte, error) {
		data, err := rootFetch(rd)(ctx, v)
		if err == nil && v == pinned.Version() && !bytes.Equal(data, pinned.Bytes()) {
			return nil, errors.New("not the pinned root: the repository holds another root of this version")
		}
		return data, err
	}
	data, err := fetch(ctx, 1)
	var root *trust.Root
	if err == nil {
		root, err = trust.NewRoot(data)
	}
	if isUnreachable(ctx, err) {
		return nil, err
	}
	results := []Result{rootResult(1, err)}
	if pinned.Version() == 1 {
		return results, nil
	}
	if root != nil {
		root, err = trust.WalkTo(ctx, root, pinned.Version(), fetch, func(r *trust.Root, _ []byte) {
			results = append(results, rootResult(r.Version(), nil))
		})
		var re *trust.RotationError
		switch {
		case err == nil:
			return results, nil
		case errors.As(err, &re):
			results = append(results, rootResult(re.Version, re.Err))
		case isUnreachable(ctx, err):
			return nil, err
		default:
			results = append(results, rootResult(root.Version()+1, err))
		}
		if root.Version()+1 == pinned.Version() {
			return results, nil
		}
	}
	_, err = fetch(ctx, pinned.Version())
	if isUnreachable(ctx, err) {
		return nil, err
	}
	return append(results, rootResult(pinned.Version(), err)), nil
}

// verifyLater walks from the pinned root as a client pinning it does
// (trust.Walk), with a result per root read, and returns the final root.
// The error is only for a server that cannot be asked at all.
func verifyLater(ctx context.Context, rd repoReader, pinned *trust.Root) ([]Result, *trust.Root, error) {
	var results []Result
	final, err := trust.Walk(ctx, pinned, rootFetch(rd), func(r *trust.Root, _ []byte) {
		results = append(results, rootResult(r.Version(), nil))
	})
	var re *trust.RotationError
	switch {
	case err == nil:
	case errors.As(err, &re):
		results = append(results, rootResult(re.Version, re.Err))
	case errors.Is(err, trust.ErrTooManyRotations):
		results = append(results, rootResult(final.Version()+1, fmt.Errorf("more than %d rotations after the pinned root version %d: a client pinning it stops before this one, until its next update", limits.Rotations, pinned.Version())))
	case isUnreachable(ctx, err):
		return nil, nil, err
	default:
		results = append(results, rootResult(final.Version()+1, err))
	}
	return results, final, nil
}

// rootResult is the result for root version v: OK when err is nil.
func rootResult(v int64, err error) Result {
	res := Result{Kind: KindRoot, Path: trust.RootFileName(v), Version: v, Keys: []string{}, OK: err == nil}
	if err != nil {
		res.Error = trimPrefix(err)
	}
	return res
}

// isUnreachable reports whether err is from a server that cannot be asked
// at all, or ctx is done: Verify stops rather than failing file by file.
func isUnreachable(ctx context.Context, err error) bool {
	return err != nil && (unreachable(err) || ctx.Err() != nil)
}

// unreached reports the N.root.json files in dir newer than any the walk
// looked at: a gap in the chain hides them from clients.
func unreached(ctx context.Context, dir lister, seen []Result, final *trust.Root) []Result {
	names, err := dir.topFiles(ctx)
	if err != nil {
		return nil
	}
	highest := final.Version()
	for _, r := range seen {
		highest = max(highest, r.Version)
	}
	var out []Result
	for _, name := range names {
		m := rootFileName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || v <= highest {
			continue
		}
		out = append(out, Result{Kind: KindRoot, Path: name, Version: v, Keys: []string{},
			Error: fmt.Sprintf("not reached: the chain from the pinned root stops at version %d", final.Version())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

// verifyDir verifies the releases in a directory, all or those of version.
func verifyDir(ctx context.Context, dir lister, tk *trust.Keys, version string) ([]Result, error) {
	dirs, err := dir.releaseDirs(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("repotool: verify: %w", err)
	}
	var results []Result
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("repotool: verify: %w", err)
		}
		res, err := verifyOne(ctx, dir, tk, d)
		if err != nil {
			res.Error = trimPrefix(err)
		}
		results = append(results, res)
	}
	return results, nil
}

// listChannels returns the names of dir/channels/*.json, sorted; hidden
// files are skipped, and names that are not valid are returned for
// verifyChannel to refuse.
func listChannels(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "channels"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasPrefix(name, ".") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// verifyChannel checks channels/NAME.json against the root's channel
// keys at now. It returns the channel only when it verified. The error is
// only for a server that cannot be asked at all.
func verifyChannel(ctx context.Context, rd repoReader, root *trust.Root, name string, now time.Time) (Result, *channel.Channel, error) {
	res := Result{Kind: KindChannel, Path: path.Join("channels", name+".json"), Name: name, Keys: []string{}}
	if err := channel.ValidName(name); err != nil {
		res.Error = trimChannel(err)
		return res, nil, nil
	}
	data, err := readRepoFile(ctx, rd, res.Path, limits.ChannelJSON)
	switch {
	case unreachable(err):
		return res, nil, err
	case err != nil:
		res.Error = trimPrefix(err)
		return res, nil, nil
	}
	// The one check of a channel, the client's.
	ch, err := reader.VerifyChannel(data, "", root.Timestamp(), name, now, 0)
	if err != nil {
		res.Error = trimChannel(err)
		return res, nil, nil
	}
	res.OK, res.Version, res.Release, res.Expires = true, ch.Seq(), ch.Release(), ch.Expires()
	res.Rollout = channel.FormatRollout(ch.Rollout())
	return res, ch, nil
}

// checkChannelReleases fails res unless every platform ch lists has a
// release in releases that verified.
func checkChannelReleases(res *Result, ch *channel.Channel, releases []Result) {
	for _, p := range ch.Platforms() {
		want := ch.Release() + "/" + p
		i := slices.IndexFunc(releases, func(r Result) bool { return r.Path == want })
		switch {
		case i < 0:
			res.OK, res.Error = false, fmt.Sprintf("points to %s, which is missing", want)
		case !releases[i].OK:
			res.OK, res.Error = false, fmt.Sprintf("points to %s, which does not verify", want)
		default:
			continue
		}
		return
	}
}
