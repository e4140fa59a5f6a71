package securitydoc

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the repository's root, from this package's directory.
const repoRoot = "../.."

var (
	// A test as SECURITY.md writes it: `DIR/TestName` or `DIR/FuzzName`.
	qualified = regexp.MustCompile("`([a-z0-9_]+(?:/[a-z0-9_]+)*)/((?:Test|Fuzz)[A-Za-z0-9_]*)`")
	// Any word that looks like a test or fuzz function name.
	anyName = regexp.MustCompile(`\b(?:Test|Fuzz)[A-Z][A-Za-z0-9_]*`)
	// A test or fuzz function declared in a _test.go file.
	declared = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Za-z0-9_]*)\(`)
)

// functions returns the test and fuzz functions declared in the _test.go
// files of the package in dir.
func functions(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range declared.FindAllSubmatch(src, -1) {
			names = append(names, string(m[1]))
		}
	}
	return names
}

func TestSecurityMdNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	refs := qualified.FindAllSubmatch(doc, -1)
	if len(refs) < 50 {
		t.Fatalf("SECURITY.md names %d tests; the table should name far more", len(refs))
	}
	cache := make(map[string][]string)
	seen := make(map[string]bool)
	for _, m := range refs {
		dir, name := string(m[1]), string(m[2])
		seen[name] = true
		fns, ok := cache[dir]
		if !ok {
			fns = functions(t, dir)
			cache[dir] = fns
		}
		if !slices.Contains(fns, name) {
			t.Errorf("SECURITY.md names %s/%s, but no _test.go file in %s declares it", dir, name, dir)
		}
	}
	// Every test name must be written with its directory, so that it is
	// checked above.
	for _, name := range anyName.FindAll(doc, -1) {
		if !seen[string(name)] {
			t.Errorf("SECURITY.md mentions %s without its directory (write `DIR/%s`)", name, name)
		}
	}
	// What the document leaves out, for a reviewer to judge.
	var missing []string
	for _, dir := range []string{"apply", "release", "trust", "channel", "keys"} {
		for _, fn := range functions(t, dir) {
			if (strings.HasPrefix(fn, "TestRejects") || strings.HasPrefix(fn, "TestSurvives")) && !seen[fn] {
				missing = append(missing, dir+"/"+fn)
			}
		}
	}
	if len(missing) > 0 {
		t.Logf("attack and fault tests not named in SECURITY.md: %s", strings.Join(missing, ", "))
	}
}
