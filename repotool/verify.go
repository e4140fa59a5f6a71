package repotool

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/platform"
	"github.com/safeupdate/safeupdate/internal/reader"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// VerifyConfig configures Verify.
type VerifyConfig struct {
	// Repo is a repository directory, a file://, s3://, gs:// or azblob://
	// URL, or an http:// or https:// URL.
	Repo string
	// Keys are the trusted public keys. Required.
	Keys []crypto.PublicKey
	// Threshold is how many distinct keys of Keys must sign each release;
	// 0 means 1.
	Threshold int
	// Version limits the audit to one version. Required for a URL, since
	// HTTP cannot list directories: every platform Go knows is then probed.
	Version string
	// HTTPClient is used for a URL; nil means a client with the timeouts
	// of internal/limits.
	HTTPClient *http.Client
	// Root is a pinned trust root (the bytes of a root.json) to audit
	// against instead of Keys and Threshold, which must then be empty: see
	// Verify.
	Root []byte
	// Channels limits the channels audited with Root to these names.
	// Required to audit channels over HTTP, which cannot list them.
	Channels []string
}

// The kinds of Result.
const (
	KindRelease = "release" // a release: <version>/<os>/<arch>
	KindRoot    = "root"    // a root of the chain, or root.json
	KindChannel = "channel" // a channel file
)

// Result is the verdict on one release, root or channel.
type Result struct {
	Path  string   `json:"path"`  // "<version>/<os>/<arch>", "N.root.json", "root.json" or "channels/NAME.json"
	OK    bool     `json:"ok"`    // every check passed
	Error string   `json:"error"` // why not, or ""
	Keys  []string `json:"keys"`  // ids of the trusted keys whose signatures verified (releases)
	Kind  string   `json:"kind"`  // KindRelease, KindRoot or KindChannel
	// Version is a root's version (0 for root.json), or a verified
	// channel file's own version.
	Version int64 `json:"version,omitempty"`
	// Name is a channel's name; Release the version it points to.
	Name    string `json:"name,omitempty"`
	Release string `json:"release,omitempty"`
	// Expires is a verified channel's expiry, or the final root's.
	Expires time.Time `json:"expires,omitzero"`
	// Rollout is the share of clients a verified channel offers its
	// release to, as a percentage ("100", "20", "0.5"; channel.FormatRollout).
	Rollout string `json:"rollout,omitempty"`
}

// Verify audits the releases of a repository, or those of cfg.Version, the
// way a client would before installing them: release.json bounded and
// strictly parsed; signatures from cfg.Threshold distinct keys of cfg.Keys;
// signed version, os and arch equal to the directory the release is in;
// binary a plain file name; the payload present, with the compressed and
// uncompressed sha256 and sizes signed in release.json; and every patch it
// signs usable as a client whose binary is the patch's base would use it
// (the base release verified with the same keys and signing that base
// binary, the patch's sha256 and size, and the binary it makes from the
// base's: the release's).
//
// It returns one Result per release found, sorted by path; the error is
// for problems with the configuration or the repository as a whole, or
// wraps ErrNoRelease when nothing was found. Over HTTP a 404 for a
// platform means "no release for it", not a failure. Verify does not check
// for downgrades or freshness, which depend on a client's state.
//
// With cfg.Root, Verify audits against that pinned trust root instead, as
// a client pinning it would, and returns results for roots, then releases,
// then channels:
//   - roots: 1.root.json up to the pinned version must form a chain (each
//     signed by a threshold of its predecessor's root keys and of its own)
//     ending in exactly the pinned bytes; from there N+1.root.json,
//     N+2... are each verified as the successor of the one before until
//     one is missing or refused (HTTP 403, a bucket's permission denied,
//     which is how S3 answers for a missing key to a reader that may not
//     list), at most limits.Rotations of them: the walk of trust.Walk, as
//     clients do it. One more is a failure of its own. The last root
//     reached (the final root) must be unexpired and root.json a copy of
//     it. A failure of root.json, or an N.root.json in a directory that
//     the walk did not reach, is a result of its own.
//   - releases: all of them (or those of cfg.Version, plus those the
//     channels point to) against the final root's release (targets) keys
//     and threshold.
//   - channels: every channels/*.json of a directory, or cfg.Channels,
//     against the final root's channel (timestamp) keys, unexpired, and
//     every platform a channel lists must have a release that verifies.
//
// Over HTTP, cfg.Version or cfg.Channels is then required. Finding no
// release is then an error (ErrNoRelease) only for cfg.Version.
func Verify(ctx context.Context, cfg VerifyConfig) ([]Result, error) {
	if len(cfg.Root) > 0 {
		return verifyWithRoot(ctx, cfg)
	}
	if len(cfg.Channels) > 0 {
		return nil, errors.New("repotool: verify: channels are audited only against a root")
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = 1
	}
	tk, err := trust.NewKeys(cfg.Keys, cfg.Threshold)
	if err != nil {
		return nil, fmt.Errorf("repotool: verify: %s", trimPrefix(err))
	}
	if cfg.Version != "" {
		if err := release.ValidVersion(cfg.Version); err != nil {
			return nil, fmt.Errorf("repotool: verify: %s", trimPrefix(err))
		}
	}
	s, err := openStore(ctx, cfg.Repo, false, false, cfg.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("repotool: verify: %w", err)
	}
	defer s.Close()
	var results []Result
	switch rd := s.rd.(type) {
	case lister:
		dirs, err := rd.releaseDirs(ctx, cfg.Version)
		if err != nil {
			return nil, fmt.Errorf("repotool: verify: %w", err)
		}
		for _, d := range dirs {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("repotool: verify: %w", err)
			}
			res, err := verifyOne(ctx, rd, tk, d)
			if err != nil {
				res.Error = trimPrefix(err)
			}
			results = append(results, res)
		}
	default:
		if cfg.Version == "" {
			return nil, errors.New("repotool: verify: a repository URL needs --version: HTTP cannot list directories")
		}
		results, err = probe(ctx, rd, tk, cfg.Version)
		if err != nil {
			return nil, err
		}
	}
	if len(results) == 0 {
		what := "no release"
		if cfg.Version != "" {
			what += " of version " + cfg.Version
		}
		return nil, errorf(ErrNoRelease, "repotool: verify: %s found in %s", what, cfg.Repo)
	}
	return results, nil
}

// listReleases returns the "<version>/<os>/<arch>" directories of dir that
// hold a release.json. Hidden names (temporary files, .git) are skipped;
// anything else is returned, valid or not, for verifyOne to judge.
func listReleases(dir, version string) ([]string, error) {
	versions := []string{version}
	if version == "" {
		var err error
		if versions, err = subdirs(dir); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, v := range versions {
		oses, err := subdirs(filepath.Join(dir, v))
		if err != nil {
			return nil, err
		}
		for _, o := range oses {
			arches, err := subdirs(filepath.Join(dir, v, o))
			if err != nil {
				return nil, err
			}
			for _, a := range arches {
				if _, err := os.Lstat(filepath.Join(dir, v, o, a, release.FileName)); err == nil {
					out = append(out, v+"/"+o+"/"+a)
				}
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// subdirs lists the non-hidden directories in dir; a missing dir has none.
func subdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err == nil && fi.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// probe verifies version on every platform Go knows, concurrently but
// boundedly; platforms without a release.json are skipped.
func probe(ctx context.Context, rd repoReader, tk *trust.Keys, version string) ([]Result, error) {
	const parallel = 8
	plats := platform.List()
	found := make([]*Result, len(plats))
	errs := make([]error, len(plats))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, p := range plats {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := verifyOne(ctx, rd, tk, version+"/"+p)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				errs[i] = err
			default:
				found[i] = &res
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("repotool: verify: %w", err)
	}
	var results []Result
	for i, r := range found {
		if errs[i] != nil {
			// The server could not be asked at all: one error, rather than
			// a FAIL line for every platform Go knows.
			return nil, fmt.Errorf("repotool: verify: %w", errs[i])
		}
		if r != nil {
			results = append(results, *r)
		}
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Path < results[j].Path })
	return results, nil
}

// verifyOne checks the release in dir ("<version>/<os>/<arch>"). A failed
// check is reported in res; err is set only when release.json could not be
// fetched at all: it wraps ErrNotFound when it is absent.
func verifyOne(ctx context.Context, rd repoReader, tk *trust.Keys, dir string) (res Result, err error) {
	res = Result{Path: dir, Keys: []string{}, Kind: KindRelease}
	fail := func(err error) (Result, error) {
		res.Error = trimPrefix(err)
		return res, nil
	}
	parts := strings.Split(dir, "/")
	if len(parts) != 3 {
		return fail(fmt.Errorf("not a <version>/<os>/<arch> directory"))
	}
	version, goos, goarch := parts[0], parts[1], parts[2]
	if _, err := release.Dir(version, goos, goarch); err != nil {
		return fail(fmt.Errorf("not a release directory: %s", trimPrefix(err)))
	}
	data, err := readRepoFile(ctx, rd, path.Join(dir, release.FileName), limits.ReleaseJSON)
	if errors.Is(err, ErrNotFound) || unreachable(err) {
		return res, err
	}
	if err != nil {
		return fail(err)
	}
	// The one check of a release, the client's.
	r, ids, err := reader.VerifyRelease(data, tk, version, goos, goarch)
	if err != nil {
		return fail(fmt.Errorf("release.json: %w", err))
	}
	res.Keys = ids
	if err := checkPayload(ctx, rd, r); err != nil {
		return fail(err)
	}
	if err := checkPatches(ctx, rd, tk, r); err != nil {
		return fail(err)
	}
	res.OK = true
	return res, nil
}
