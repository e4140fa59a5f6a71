// Package fileurl is the one reading of a file:// repository URL, for the
// client's sources (apply, apply/blobsource), repotool and blobrepo.
package fileurl

import (
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
)

// Dir returns the local directory that the file:// URL u names:
// file:///absolute/dir, or file://localhost/absolute/dir, with no query
// or fragment (file:///C:/dir on Windows). Anything else is refused rather
// than guessed at: a host would name another machine, a relative path the
// working directory.
func Dir(u *url.URL) (string, error) {
	switch {
	case u.Host != "" && u.Host != "localhost":
		return "", fmt.Errorf("file URL %s: a file URL names a local directory: file:///dir", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("file URL %s: a file URL takes no query or fragment", u.Redacted())
	case u.Opaque != "" || !strings.HasPrefix(u.Path, "/"):
		return "", fmt.Errorf("file URL %s: want an absolute path: file:///dir", u.Redacted())
	}
	p := u.Path
	if runtime.GOOS == "windows" && len(p) > 2 && p[2] == ':' {
		p = p[1:] // file:///C:/dir
	}
	p = filepath.FromSlash(p)
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("file URL %s: want an absolute path: file:///dir", u.Redacted())
	}
	return p, nil
}
