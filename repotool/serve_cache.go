package repotool

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of the small-file cache of the repository server.
const (
	// serveCacheMaxFile is the largest file kept in memory. Metadata
	// (release.json, root.json, channels) is a few KiB; payloads are
	// larger and go out by sendfile(2) instead.
	serveCacheMaxFile = 64 << 10

	// serveCacheMaxBytes bounds the memory the cache holds, its keys and
	// a fixed overhead per entry included (serveCacheEntryCost).
	serveCacheMaxBytes = 8 << 20

	// serveCacheEntryCost is what an entry is charged beyond its key and
	// bytes, so that many empty files cannot grow the cache without bound.
	serveCacheEntryCost = 1024

	// serveCacheSettle is how long a file must have been left unchanged
	// (by its change time) before it is cached. File system timestamps
	// are coarse (a clock tick or more), so a file written twice within
	// one tick, to the same size, could keep the same stat(2) result and
	// a cached copy of its first version would never be noticed as stale.
	// A file older than this bound is past that race; a younger one is
	// simply read from disk on every request until it settles.
	serveCacheSettle = time.Second

	// serveCacheRecheck is how long a cached file is served without
	// looking at the disk again. Checking costs an open through every
	// check of an uncached request, but no read, for the sake of nothing
	// but freshness: a file changed on disk is served
	// as it now is within this bound, and until then its previous,
	// already vetted bytes are served. Never the new bytes unchecked: a
	// file swapped for a private key or a symbolic link out of the
	// repository is refused as soon as it is looked at again.
	serveCacheRecheck = time.Second
)

// fileVersion identifies one version of one file: which file (device and
// inode) and what its content last was (size, modification and change
// time). Every change to a file's content, name, links or mode updates its
// change time (POSIX), which no one but the kernel can set, so two equal
// versions taken at least serveCacheSettle after the file's change time
// mean the content has not changed in between.
type fileVersion struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since the epoch
	reg          bool  // a regular file
}

// serveCache holds small files that the handler has already vetted and
// read, keyed by the request name. An entry is served only while an open
// of the request name through all of the handler's checks (containment,
// names of the path and of where its links lead, a regular file), made at
// most serveCacheRecheck ago, found the very version the entry was read
// at: the same file, unchanged since. So a cache hit serves only bytes that the
// full checks (os.Root containment, names, private keys) accepted for that
// same request name, and that were still the content of the file the name
// leads to a moment ago; anything else (a file replaced, rewritten,
// renamed, swapped for a symbolic link, a directory swapped) takes the
// full path again once rechecked, which refreshes or drops the entry. It
// is safe for concurrent use.
type serveCache struct {
	mu      sync.RWMutex
	entries map[string]*serveEntry
	cost    int64 // sum of the entries' costs, at most serveCacheMaxBytes

	hits, misses atomic.Int64 // for tests
}

// serveEntry is one cached file and the response headers it is served
// with, built once. The header slices are shared by every response from
// the entry and must not be modified.
type serveEntry struct {
	name    string
	data    []byte
	ver     fileVersion
	modTime time.Time
	header  http.Header
	checked atomic.Int64 // when ver was last seen on disk, in Unix nanoseconds
}

func (e *serveEntry) cost() int64 {
	return int64(len(e.name)+len(e.data)) + serveCacheEntryCost
}

func newServeCache() *serveCache {
	return &serveCache{entries: make(map[string]*serveEntry)}
}

// lookup returns the entry for name if its file still had the version the
// entry was read at when last checked, at most recheck before now. current
// reports the version of the file name leads to now, reached through every
// check a request that is not cached passes (see repoHandler.version): a
// stat(2) of the path alone would miss a directory above the file renamed
// behind a symbolic link, which leaves the file itself unchanged.
func (c *serveCache) lookup(name string, now time.Time, recheck time.Duration, current func(string) (fileVersion, bool)) *serveEntry {
	c.mu.RLock()
	e := c.entries[name]
	c.mu.RUnlock()
	if e == nil {
		return nil
	}
	t := now.UnixNano()
	if t-e.checked.Load() >= int64(recheck) {
		if v, ok := current(name); !ok || v != e.ver {
			c.misses.Add(1)
			return nil
		}
		e.checked.Store(t)
	}
	c.hits.Add(1)
	return e
}

// store caches e, replacing any entry of the same name and evicting others
// while the cache would be over its bound.
func (c *serveCache) store(e *serveEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[e.name]; old != nil {
		c.cost -= old.cost()
		delete(c.entries, e.name)
	}
	for name, old := range c.entries { // map order: random eviction
		if c.cost+e.cost() <= serveCacheMaxBytes {
			break
		}
		c.cost -= old.cost()
		delete(c.entries, name)
	}
	c.entries[e.name] = e
	c.cost += e.cost()
}

// drop removes the entry of name, if any.
func (c *serveCache) drop(name string) {
	c.mu.RLock()
	_, ok := c.entries[name]
	c.mu.RUnlock()
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[name]; old != nil {
		c.cost -= old.cost()
		delete(c.entries, name)
	}
}

// readSmall reads the whole of f, of which fi is the fstat(2) result, and
// reports whether the bytes may be cached: the file is small, its version
// is known, it had settled (see serveCacheSettle) and it did not change
// while read. data is nil if the file should be served from f instead.
func readSmall(f *os.File, fi os.FileInfo, settle time.Duration) (data []byte, ver fileVersion, cacheable bool) {
	if !serveCacheSupported || fi.Size() > serveCacheMaxFile {
		return nil, fileVersion{}, false
	}
	ver, ok := versionOf(fi)
	if !ok || !ver.reg || ver.ctime > time.Now().Add(-settle).UnixNano() {
		return nil, fileVersion{}, false
	}
	data = make([]byte, fi.Size()+1) // one more, to see growth
	n, err := f.ReadAt(data, 0)
	if (err != nil && err != io.EOF) || int64(n) != fi.Size() {
		return nil, fileVersion{}, false
	}
	after, err := f.Stat()
	if err != nil {
		return nil, fileVersion{}, false
	}
	if v, ok := versionOf(after); !ok || v != ver {
		return nil, fileVersion{}, false
	}
	return data[:n:n], ver, true
}

// newServeEntry builds the entry, and its headers, for the file name.
func newServeEntry(name string, data []byte, ver fileVersion, modTime, checked time.Time) *serveEntry {
	hdr := make(http.Header, 6)
	setFileHeaders(hdr, name, int64(len(data)), modTime)
	// What http.ServeContent adds for a full response, so that a cached
	// response carries the same headers as an uncached one.
	hdr.Set("Last-Modified", modTime.UTC().Format(http.TimeFormat))
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("Content-Length", strconv.Itoa(len(data)))
	e := &serveEntry{name: name, data: data, ver: ver, modTime: modTime, header: hdr}
	e.checked.Store(checked.UnixNano())
	return e
}

// serveFromCache writes e as the response to r. A plain GET or HEAD, which is
// what clients polling for updates send, is answered straight from the
// prepared headers; a conditional or range request goes through
// http.ServeContent, over the cached bytes, for its full semantics.
func serveFromCache(w http.ResponseWriter, r *http.Request, e *serveEntry) {
	hdr := w.Header()
	// net/http has canonicalized the request's header keys.
	if r.Header["Range"] != nil || r.Header["If-None-Match"] != nil ||
		r.Header["If-Modified-Since"] != nil || r.Header["If-Match"] != nil ||
		r.Header["If-Unmodified-Since"] != nil {
		for _, k := range [...]string{"Content-Type", "Cache-Control", "Etag"} { // canonical keys
			hdr[k] = e.header[k]
		}
		http.ServeContent(w, r, path.Base(e.name), e.modTime, bytes.NewReader(e.data))
		return
	}
	for k, v := range e.header {
		hdr[k] = v
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(e.data)
	}
}

// vettedMax bounds how many file versions vetted holds.
const vettedMax = 4096

// vetted remembers the versions of files served from disk that the
// private-key check found clean, so that a large payload polled by a fleet
// is read once for the check, not once per request. A version is the
// same stat(2) identity the cache trusts (device, inode, size, mtime and
// ctime), recorded only when it was settled before the check and unchanged
// after it: a file written since has another version and is checked again.
type vetted struct {
	mu  sync.Mutex
	set map[fileVersion]struct{}
}

func (v *vetted) has(fi os.FileInfo) bool {
	ver, ok := versionOf(fi)
	if !ok {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok = v.set[ver]
	return ok
}

// add records f, whose stat before the check was fi, as clean, unless it is
// too young to trust its version or changed during the check.
func (v *vetted) add(f *os.File, fi os.FileInfo, settle time.Duration) {
	ver, ok := versionOf(fi)
	if !ok || !ver.reg || ver.ctime > time.Now().Add(-settle).UnixNano() {
		return
	}
	after, err := f.Stat()
	if err != nil {
		return
	}
	if a, ok := versionOf(after); !ok || a != ver {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.set == nil || len(v.set) >= vettedMax {
		v.set = make(map[fileVersion]struct{}) // forget all: it refills as files are served
	}
	v.set[ver] = struct{}{}
}
