package apply

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/internal/localfile"
	"github.com/safeupdate/safeupdate/trust"
)

// Files of a TrustStore directory.
const (
	storeRootFile     = "root.json"
	storeChannelsFile = "channels.json"
	storeRolloutFile  = "rollout-id"
	// storeChannelsLimit bounds channels.json, which holds one small entry
	// per channel name.
	storeChannelsLimit = 1 << 20
)

// store is a TrustStore directory. The directory is trusted as much as the
// pinned root (only the updating user can write it), so what it holds is
// read with size limits but without suspicion.
type store struct{ dir string }

// channelState is what the store remembers of one channel: the highest
// version seen, and the timestamp keys that signed it, so that a rotation
// of those keys resets it (TUF section 5.3.11).
type channelState struct {
	Seq           int64    `json:"seq"`
	TimestampKeys []string `json:"timestamp_keys"`
}

// loadRoot returns the stored root, or nil when there is none or it does
// not verify on its own; the caller then uses the pinned root, which
// replaces it.
func (s store) loadRoot(log *slog.Logger) *trust.Root {
	path := filepath.Join(s.dir, storeRootFile)
	data, err := readLimited(path, limits.RootJSON)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		log.Warn("apply: ignoring the stored trust root", "path", path, "err", err)
		return nil
	}
	r, err := trust.NewRoot(data)
	if err != nil {
		log.Warn("apply: ignoring the stored trust root", "path", path, "err", err)
		return nil
	}
	return r
}

// saveRoot replaces the stored root with r.
func (s store) saveRoot(r *trust.Root) error {
	if err := s.writeFile(storeRootFile, r.Bytes(), 0o644); err != nil {
		return fmt.Errorf("apply: keeping trust root version %d in the TrustStore: %w", r.Version(), err)
	}
	return nil
}

// loadChannels returns the recorded channel states; none when the file is
// missing. A file that cannot be read is an error, not a reset: a reset
// would accept channels older than ones already seen.
func (s store) loadChannels() (map[string]channelState, error) {
	path := filepath.Join(s.dir, storeChannelsFile)
	data, err := readLimited(path, storeChannelsLimit)
	if errors.Is(err, fs.ErrNotExist) {
		return make(map[string]channelState), nil
	}
	if err == nil {
		var m map[string]channelState
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err = dec.Decode(&m); err == nil && m == nil {
			err = errors.New("not a JSON object")
		}
		if err == nil {
			return m, nil
		}
	}
	return nil, fmt.Errorf("apply: reading the channel state in the TrustStore (%s; remove it to forget every channel seen): %w", path, err)
}

// saveChannels replaces the recorded channel states with m.
func (s store) saveChannels(m map[string]channelState) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("apply: encoding the channel state: %w", err)
	}
	if err := s.writeFile(storeChannelsFile, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("apply: keeping the channel state in the TrustStore: %w", err)
	}
	return nil
}

// writeFile replaces dir/name with data atomically: a new temporary file
// in dir, fsynced, renamed over name, then the directory fsynced. The
// directory is created with mode 0700 if missing; the file gets mode perm.
func (s store) writeFile(name string, data []byte, perm os.FileMode) error {
	return s.write(name, data, perm, false)
}

// createFile is writeFile for a file that must not be replaced: of two
// processes creating it at once, exactly one succeeds and the other gets
// an error wrapping fs.ErrExist. It links the complete temporary file to
// name, where link(2) fails if name exists.
func (s store) createFile(name string, data []byte, perm os.FileMode) error {
	return s.write(name, data, perm, true)
}

func (s store) write(name string, data []byte, perm os.FileMode, exclusive bool) (err error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, "."+name+"-*.tmp")
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if err != nil && !renamed {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if exclusive {
		err := os.Link(f.Name(), filepath.Join(s.dir, name))
		os.Remove(f.Name())
		renamed = true // removed: nothing left to clean up
		if err != nil {
			return err
		}
		return syncDir(s.dir)
	}
	if err := os.Rename(f.Name(), filepath.Join(s.dir, name)); err != nil {
		return err
	}
	renamed = true
	return syncDir(s.dir)
}

// rolloutID returns the client's rollout id kept in the store: 32
// lower-case hex digits of a random 128-bit number, drawn and written
// (atomically, mode 0600) the first time one is needed, and the same on
// every call after. One that is not in that form is an error, not a new
// draw: a new id would move the client to another place in every rollout.
func (s store) rolloutID() (string, error) {
	path := filepath.Join(s.dir, storeRolloutFile)
	data, err := readLimited(path, 64)
	switch {
	case err == nil:
		id := strings.TrimSuffix(string(data), "\n")
		if !rolloutHex.MatchString(id) {
			return "", fmt.Errorf("apply: the rollout id in the TrustStore (%s) is not 32 lower-case hex digits; remove it to draw a new one", path)
		}
		return id, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("apply: reading the rollout id in the TrustStore: %w", err)
	}
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	id := hex.EncodeToString(b[:])
	err = s.createFile(storeRolloutFile, []byte(id+"\n"), 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process drew one first: that is this client's id.
		return s.rolloutID()
	}
	if err != nil {
		return "", fmt.Errorf("apply: keeping a new rollout id in the TrustStore: %w", err)
	}
	return id, nil
}

// rolloutHex is the form of a stored rollout id.
var rolloutHex = regexp.MustCompile(`^[0-9a-f]{32}$`)

// readLimited reads the regular file at path, refusing one over limit
// bytes.
func readLimited(path string, limit int64) ([]byte, error) { return localfile.Read(path, limit) }
