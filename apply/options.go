package apply

import (
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/safeupdate/safeupdate/internal/fileurl"
	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/trust"
)

// Option configures Apply, Check or Rollback. Options that are given
// invalid values, or that conflict, make the call fail before any network
// or file system access.
type Option func(*config) error

type config struct {
	repoURL        string
	source         Source
	version        string
	target         string
	goos, goarch   string
	pubs           []crypto.PublicKey
	threshold      int
	current        string
	allowDowngrade bool
	allowUnsigned  bool
	backup         string
	logger         *slog.Logger
	client         *http.Client
	progress       func(done, total int64)
	stall          time.Duration
	preInstall     preInstallFunc
	minRate        int64
	root           *trust.Root // pinned with TrustRoot
	store          string      // TrustStore directory
	channel        string      // Channel name
	rolloutID      string      // RolloutID, or "" for the one kept in the TrustStore
	noDelta        bool        // NoDelta

	trust trust.Verifier // built from pubs and threshold, or a root's targets keys
}

// SourceRepo sets the repository: an http:// or https:// URL, or a file://
// URL of a local directory. Use WithSource for anything else.
func SourceRepo(repoURL string) Option {
	return func(c *config) error {
		u, err := url.Parse(repoURL)
		if err != nil {
			return fmt.Errorf("apply: repository URL: %w", err)
		}
		switch u.Scheme {
		case "http", "https", "file":
		default:
			return fmt.Errorf("apply: repository URL %q: want http://, https:// or file://", u.Redacted())
		}
		c.repoURL = repoURL
		return nil
	}
}

// WithSource sets the repository to s, instead of SourceRepo. Apply does
// not trust s: everything it returns is verified as if it came from the
// network.
func WithSource(s Source) Option {
	return func(c *config) error {
		if s == nil {
			return errors.New("apply: WithSource: nil Source")
		}
		c.source = s
		return nil
	}
}

// Version sets the version to install or check. It is required.
func Version(v string) Option {
	return func(c *config) error {
		if err := release.ValidVersion(v); err != nil {
			return fmt.Errorf("apply: Version: %w", err)
		}
		c.version = v
		return nil
	}
}

// TargetFile sets the file to replace. The default is the running
// executable as the program was started: the path os.Executable gave when
// package apply was initialised, before any Apply could move the running
// image. Asked again after an update, os.Executable may name where that
// image now is (on Linux, whose /proc/self/exe follows the file, the
// backup), so the default never changes within a process: a daemon that
// calls Apply twice without re-executing updates the same file both times,
// and so does a Rollback after an Apply. On Windows (where the running .exe
// is moved aside to a unique name) and macOS it is the path the program
// was started as. A program that re-executes itself after Apply should
// likewise take os.Executable before its first Apply.
//
// Symbolic links are resolved, once per call, and the file they point to
// is replaced, so the links are kept. Linux reports the executable with
// its links already resolved; macOS reports the path it was started by,
// which may be a link, and each call follows it anew.
func TargetFile(path string) Option {
	return func(c *config) error {
		if path == "" {
			return errors.New("apply: TargetFile: empty path")
		}
		c.target = path
		return nil
	}
}

// OS sets the operating system of the release to fetch; default runtime.GOOS.
func OS(goos string) Option { return func(c *config) error { c.goos = goos; return nil } }

// Arch sets the architecture of the release to fetch; default runtime.GOARCH.
func Arch(goarch string) Option { return func(c *config) error { c.goarch = goarch; return nil } }

// PublicKey pins a trusted public key (PEM, PKIX: what `repotool keygen`
// writes to NAME.pub). Repeat it to pin several; see Threshold.
func PublicKey(pem []byte) Option {
	return func(c *config) error {
		pub, err := keys.ParsePublic(pem)
		if err != nil {
			return fmt.Errorf("apply: PublicKey: %w", err)
		}
		c.pubs = append(c.pubs, pub)
		return nil
	}
}

// Threshold sets how many distinct pinned keys must have signed a release;
// default 1. It must not exceed the number of pinned keys.
func Threshold(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("apply: Threshold %d: want at least 1", n)
		}
		c.threshold = n
		return nil
	}
}

// CurrentVersion sets the version now installed. A release older than it is
// refused with ErrDowngrade, and Apply of this very version does nothing.
func CurrentVersion(v string) Option {
	return func(c *config) error {
		if err := release.ValidVersion(v); err != nil {
			return fmt.Errorf("apply: CurrentVersion: %w", err)
		}
		c.current = v
		return nil
	}
}

// AllowDowngradeUnsafe accepts a release older than CurrentVersion. It
// re-enables downgrade attacks: anyone who controls the repository or the
// network path can install an old, validly signed release with known holes.
func AllowDowngradeUnsafe() Option {
	return func(c *config) error { c.allowDowngrade = true; return nil }
}

// AllowUnsignedUnsafe accepts unsigned release.json files, as written by
// choria-io/go-updater's update-repo, and no signatures are checked at all.
// It re-enables arbitrary installation: anyone who controls the repository
// or the network path to it can run any code as this program. It cannot be
// combined with PublicKey.
func AllowUnsignedUnsafe() Option {
	return func(c *config) error { c.allowUnsigned = true; return nil }
}

// BackupFile sets where the previous binary is kept; default TARGET.backup.
// An existing file there is replaced atomically; a symbolic link there is
// replaced, never followed.
func BackupFile(path string) Option {
	return func(c *config) error {
		if path == "" {
			return errors.New("apply: BackupFile: empty path")
		}
		c.backup = path
		return nil
	}
}

// Logger sets where progress is logged; by default nothing is.
func Logger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("apply: Logger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// HTTPClient sets the client used for an http(s) SourceRepo, for proxies or
// TLS settings. It is not modified: requests go through a copy that sends no
// cookies, refuses redirects that change the scheme (https to http), and,
// when its Transport is an *http.Transport, bounds response headers.
func HTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("apply: HTTPClient: nil client")
		}
		c.client = hc
		return nil
	}
}

// Progress sets a function called as the new binary is written, with the
// bytes written so far and the signed size (-1 when an unsigned legacy
// release does not say). When Apply updates by a patch, it is called as
// the patch arrives instead, with the bytes downloaded so far and the
// patch's signed size; if the patch fails, it starts again from 0 for the
// full payload. It is called from Apply's goroutine.
func Progress(fn func(done, total int64)) Option {
	return func(c *config) error { c.progress = fn; return nil }
}

// StallTimeout sets how long a download may receive no data before it fails;
// default limits.StallTimeout. It applies even when ctx has no deadline. The
// pauses between resumptions of a cut download (limits.ResumeBackoff,
// doubling, about 1.6 s in all) count as receiving nothing, so a bound
// below a few seconds may report a flaky connection as a stall.
func StallTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("apply: StallTimeout %v: want a positive duration", d)
		}
		c.stall = d
		return nil
	}
}

// needs says what a call requires of the configuration.
type needs struct {
	repo   bool // source, version, trust
	target bool // target and backup
}

func newConfig(opts []Option, n needs) (*config, error) {
	c := &config{goos: runtime.GOOS, goarch: runtime.GOARCH, stall: limits.StallTimeout}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if n.repo {
		if err := c.checkRepo(); err != nil {
			return nil, err
		}
	}
	if n.target {
		if err := c.resolveTarget(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *config) checkRepo() error {
	switch {
	case c.repoURL == "" && c.source == nil:
		return errors.New("apply: no repository: pass SourceRepo or WithSource")
	case c.repoURL != "" && c.source != nil:
		return errors.New("apply: both SourceRepo and WithSource given: pass one")
	case c.version == "" && c.channel == "":
		return errors.New("apply: no Version given (or Channel, with TrustRoot)")
	}
	if c.version != "" {
		if _, err := release.Dir(c.version, c.goos, c.goarch); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
	}
	if c.version != "" && c.current != "" && !c.allowDowngrade {
		if cmp, _ := release.CompareVersions(c.version, c.current); cmp < 0 {
			return fmt.Errorf("%w: %s was asked for, %s is installed (AllowDowngradeUnsafe permits this)", ErrDowngrade, c.version, c.current)
		}
	}
	if c.root != nil || c.store != "" || c.channel != "" || c.rolloutID != "" {
		return c.checkRootTrust() // the root's targets keys are set by check
	}
	switch {
	case c.allowUnsigned && len(c.pubs) > 0:
		return errors.New("apply: AllowUnsignedUnsafe and PublicKey given together: pin keys, or accept unsigned releases, not both")
	case c.allowUnsigned && c.threshold != 0:
		return errors.New("apply: Threshold has no meaning with AllowUnsignedUnsafe")
	case c.allowUnsigned:
		return nil
	case len(c.pubs) == 0:
		return errors.New("apply: no trusted key: pass PublicKey (or, for an unsigned go-updater repository, AllowUnsignedUnsafe)")
	}
	threshold := c.threshold
	if threshold == 0 {
		threshold = 1
	}
	k, err := trust.NewKeys(c.pubs, threshold)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	c.trust = k
	return nil
}

// startExe is the default target, taken once, when the package is
// initialised, and never asked again (see TargetFile): after a swap
// os.Executable may name the backup or an aside file, and replacing that
// would leave the target at the old version. If it could not be found
// then, Apply refuses to guess later and asks for TargetFile.
var startExe, startExeErr = os.Executable()

// resolveTarget makes target and backup absolute, with the target's
// symbolic links resolved, once.
func (c *config) resolveTarget() error {
	target := c.target
	if target == "" {
		if startExeErr != nil {
			return fmt.Errorf("apply: no TargetFile, and the running executable could not be found when the program started (pass TargetFile): %w", startExeErr)
		}
		target = startExe
	}
	resolved, err := filepath.EvalSymlinks(target)
	if err != nil {
		return fmt.Errorf("apply: target: %w", err)
	}
	if c.target, err = filepath.Abs(resolved); err != nil {
		return fmt.Errorf("apply: target: %w", err)
	}
	if c.backup == "" {
		c.backup = c.target + ".backup"
	}
	if c.backup, err = filepath.Abs(c.backup); err != nil {
		return fmt.Errorf("apply: backup: %w", err)
	}
	if c.backup == c.target {
		return fmt.Errorf("apply: BackupFile %s is the target itself", c.backup)
	}
	return nil
}

// openSource returns the configured Source, and whether Apply made it (and
// so may close its idle connections when done).
func (c *config) openSource() (Source, bool, error) {
	if c.source != nil {
		return c.source, false, nil
	}
	u, err := url.Parse(c.repoURL)
	if err != nil {
		return nil, false, fmt.Errorf("apply: repository URL: %w", err)
	}
	if u.Scheme == "file" {
		dir, err := fileurl.Dir(u)
		if err != nil {
			return nil, false, prefixed(err)
		}
		s, err := DirSource(dir)
		return s, true, err
	}
	s, err := HTTPSource(c.repoURL, c.client)
	return s, true, err
}
