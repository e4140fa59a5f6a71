//go:build !linux

package apply

// exchange is not available outside Linux: macOS and the BSDs replace the
// target with one rename(2), after linking the backup; Windows moves a
// running target aside (replaceAside).
func exchange(a, b string) error { return errNoExchange }
