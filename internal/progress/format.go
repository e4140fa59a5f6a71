package progress

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	minBar = 10 // terminal: narrower than this, the bar is left out
	maxBar = 40
)

// human formats a byte count in binary units: "512 B", "1.5 KiB", "12.3 MiB".
func human(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n) / 1024
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if v < 1024 || unit == "TiB" {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
		v /= 1024
	}
	panic("unreachable")
}

// duration formats d for people: "0.4s", "42s", "3m05s", "2h07m".
func duration(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	default:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
}

// rate returns bytes per second, or -1 when nothing can be said yet.
func rate(n int64, elapsed time.Duration) float64 {
	if n <= 0 || elapsed <= 0 {
		return -1
	}
	return float64(n) / elapsed.Seconds()
}

func rateText(n int64, elapsed time.Duration) string {
	r := rate(n, elapsed)
	if r < 0 {
		return "--/s"
	}
	return human(int64(r)) + "/s"
}

func etaText(n, total int64, elapsed time.Duration) string {
	r := rate(n, elapsed)
	if r <= 0 {
		return "ETA --"
	}
	left := max(total-n, 0)
	secs := math.Ceil(float64(left) / r) // round up: "ETA 0.0s" only at the end
	return "ETA " + duration(time.Duration(secs)*time.Second)
}

func percent(n, total int64) int64 { return min(n*100/total, 100) }

func startText(total int64) string {
	if total <= 0 {
		return "starting (size unknown)"
	}
	return "starting (" + human(total) + ")"
}

// plainText is a progress line of the plain (non-terminal) output.
func plainText(n, total int64, elapsed time.Duration) string {
	if total <= 0 {
		return human(n) + ", " + rateText(n, elapsed)
	}
	return fmt.Sprintf("%d%% %s of %s, %s, %s", percent(n, total), human(n), human(total),
		rateText(n, elapsed), etaText(n, total, elapsed))
}

// doneText is the final line, on a terminal or not.
func doneText(n int64, elapsed time.Duration, err error) string {
	if err != nil {
		return fmt.Sprintf("failed after %s in %s: %s", human(n), duration(elapsed), printable(err.Error()))
	}
	return fmt.Sprintf("done, %s in %s (%s)", human(n), duration(elapsed), rateText(n, elapsed))
}

// render is the terminal line for a terminal of width columns. It never
// fills the last column, so that no terminal wraps it.
func render(label string, n, total int64, elapsed time.Duration, width int) string {
	avail := width - 1
	var stats string
	if total > 0 {
		stats = fmt.Sprintf("%3d%% %s/%s %s %s", percent(n, total), human(n), human(total),
			rateText(n, elapsed), etaText(n, total, elapsed))
	} else {
		stats = fmt.Sprintf("%s %s %s", human(n), rateText(n, elapsed), duration(elapsed))
	}
	labelLen := utf8.RuneCountInString(label)
	if total > 0 {
		if room := avail - labelLen - len(stats) - 4; room >= minBar { // 2 spaces, 2 brackets
			w := min(room, maxBar)
			fill := int(int64(w) * percent(n, total) / 100)
			return label + " [" + strings.Repeat("=", fill) + strings.Repeat(" ", w-fill) + "] " + stats
		}
	}
	line := label + " " + stats
	if utf8.RuneCountInString(line) <= avail {
		return line
	}
	if keep := avail - len(stats) - 4; keep > 0 { // "..." and a space
		return string([]rune(label)[:keep]) + "... " + stats
	}
	return string([]rune(line)[:max(avail, 0)])
}

// printable replaces every character that is not printable (control
// characters, escape sequences' ESC among them) with '?', so that text from
// elsewhere (a name read from a repository, an error from a server) cannot
// drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
}
