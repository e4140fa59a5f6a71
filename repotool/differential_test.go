package repotool_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
	"github.com/safeupdate/safeupdate/channel"
	"github.com/safeupdate/safeupdate/internal/payload"
	"github.com/safeupdate/safeupdate/release"
	"github.com/safeupdate/safeupdate/repotool"
	"github.com/safeupdate/safeupdate/trust"
)

// TestVerifyRejectsWhatClientsReject runs every repository of the corpus
// (differential_corpus_test.go and differential_roots_test.go: attacks,
// oddities and good releases) through the client,
// apply.Check then apply.Apply, over HTTP on 127.0.0.1 and from the
// directory, and through the publisher's audit, repotool.Verify, with the
// same pinned trust: the release keys and threshold, or (separately) the
// root. A verify that passes must mean every client installs, and a client
// that refuses must be refused by verify for the same reason: the client's
// sentinel (apply.ErrSignature...), and the lower-level sentinels of
// release, trust, channel and payload that both messages name.
func TestVerifyRejectsWhatClientsReject(t *testing.T) {
	for _, mode := range []struct {
		name string
		root bool
	}{{"keys", false}, {"root", true}} {
		t.Run(mode.name, func(t *testing.T) {
			for _, c := range corpus() {
				if (mode.root && c.modes == keysOnly) || (!mode.root && c.modes == rootOnly) {
					continue
				}
				t.Run(c.name, func(t *testing.T) {
					w := newWorld(t, mode.root, c.threshold)
					if c.build != nil {
						c.build(w)
					}
					compare(t, w, c.want)
					if c.stateful != nil {
						c.stateful(w)
					}
				})
			}
		})
	}
}

// wantAudit is the want of a case where every client installs and Verify
// refuses only files no client reads (1.root.json, root.json, a root a gap
// hides): checks a publisher wants of the repository and only Verify
// makes. Verify must refuse there, and nowhere else.
const wantAudit = "audit only"

// compare runs every client of w and Verify, and fails where they
// disagree, or where the clients do not refuse with want ("" for: all
// install; wantAudit: all install, and Verify refuses only files no client
// reads).
func compare(t *testing.T, w *world, want string) {
	audit := want == wantAudit
	if audit {
		want = ""
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(w.dir)))
	defer srv.Close()
	dirSrc, err := apply.DirSource(w.dir)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuditView(w.audit(t.Context()), w.pinnedVersion())
	for _, r := range a.results {
		if r.OK {
			t.Logf("verify: OK %s", r.Path)
		} else {
			t.Logf("verify: FAIL %s: %s", r.Path, r.Error)
		}
	}

	targets := w.targets()
	var refusals []string
	for _, tg := range targets {
		got := w.runClient(t.Context(), tg, apply.SourceRepo(srv.URL))
		fromDir := w.runClient(t.Context(), tg, apply.WithSource(dirSrc))
		t.Logf("client %s: %v", tg, got)
		if !got.same(fromDir) {
			t.Errorf("%s: the client says %v over HTTP but %v from the directory", tg, got, fromDir)
		}
		if v := a.forTarget(tg); !got.same(v) {
			t.Errorf("DRIFT %s: the client says %v, verify says %v", tg, got, v)
		}
		comparePatches(w, tg, apply.SourceRepo(srv.URL), a)
		if got.class != "" && !slices.Contains(refusals, got.class) {
			refusals = append(refusals, got.class)
		}
	}
	var wantRefusals []string
	if want != "" {
		wantRefusals = []string{want}
	}
	if !slices.Equal(refusals, wantRefusals) {
		t.Errorf("clients refused with %q, the corpus says %q: the fixture is not the attack it names", refusals, want)
	}
	for _, r := range a.results {
		if r.Kind == repotool.KindRelease && !slices.ContainsFunc(targets, func(tg target) bool { return tg.channel == "" && tg.String() == r.Path }) {
			t.Errorf("verify audits %s, which no client of the corpus asks for", r.Path)
		}
	}
	// A release whose only failure is a patch is one every client
	// installs (comparePatches compared the patch itself).
	verifyOK := !slices.ContainsFunc(a.results, func(r repotool.Result) bool { return !r.OK && !patchOnly(r) })
	audits := a.auditOnly()
	onlyAudits := !verifyOK && !slices.ContainsFunc(a.results, func(r repotool.Result) bool {
		return !r.OK && !slices.ContainsFunc(audits, func(o repotool.Result) bool { return o.Path == r.Path })
	})
	switch {
	case audit && len(refusals) == 0 && onlyAudits:
		for _, r := range audits {
			t.Logf("verify fails %s (%s), which no client reads: a publisher's check, as the corpus says", r.Path, r.Error)
		}
	case audit:
		t.Errorf("the corpus says every client installs and verify refuses only files no client reads; clients refused with %q, verify passed: %v", refusals, verifyOK)
	case len(refusals) == 0 && !verifyOK:
		for _, r := range a.results {
			if !r.OK && !patchOnly(r) {
				why := ""
				if slices.ContainsFunc(audits, func(o repotool.Result) bool { return o.Path == r.Path }) {
					why = ": no client reads it"
				}
				t.Errorf("DRIFT verify fails %s (%s) where every client installs%s", r.Path, r.Error, why)
			}
		}
	case len(refusals) > 0 && verifyOK:
		t.Errorf("DRIFT verify passes the repository, clients refuse with %q", refusals)
	default:
		for _, r := range audits {
			t.Logf("verify also fails %s (%s), which no client reads", r.Path, r.Error)
		}
	}
}

// A reason is why a client refused, or a verify result failed: its class
// (one of the classes below; "" when it installs or passes), the
// lower-level sentinels its message names, and the message.
type reason struct {
	class string
	fine  []string
	msg   string
}

func (r reason) String() string {
	if r.class == "" {
		return "installs"
	}
	return fmt.Sprintf("%s %v (%s)", r.class, r.fine, r.msg)
}

func (r reason) same(o reason) bool { return r.class == o.class && slices.Equal(r.fine, o.fine) }

// The classes are the client's sentinels; the audit classes are checks
// only Verify makes, of files no client reads.
const (
	clsSignature = "signature" // apply.ErrSignature
	clsMetadata  = "metadata"  // apply.ErrMetadata
	clsChecksum  = "checksum"  // apply.ErrChecksum
	clsTooLarge  = "too large" // apply.ErrTooLarge
	clsNotFound  = "not found" // apply.ErrNotFound
	clsExpired   = "expired"   // apply.ErrExpired
	clsReplay    = "replay"    // apply.ErrReplay
	clsDowngrade = "downgrade" // apply.ErrDowngrade

	auditPinned    = "audit: not the pinned root"
	auditRootJSON  = "audit: root.json"
	auditUnreached = "audit: root not reached"
	auditHistory   = "audit: root before the pinned one"
	// derived is a channel failed because a release it points to did.
	derived = "derived"
)

var clientClasses = []struct {
	err   error
	class string
}{
	{apply.ErrExpired, clsExpired}, {apply.ErrReplay, clsReplay}, {apply.ErrDowngrade, clsDowngrade},
	{apply.ErrSignature, clsSignature}, {apply.ErrTooLarge, clsTooLarge}, {apply.ErrChecksum, clsChecksum},
	{apply.ErrMetadata, clsMetadata}, {apply.ErrNotFound, clsNotFound},
}

// applyClass is the class of a client's error, by its sentinel.
func applyClass(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range clientClasses {
		if errors.Is(err, c.err) {
			return c.class
		}
	}
	return "unclassified"
}

func clientReason(err error) reason {
	return reason{class: applyClass(err), fine: fineSentinels(err.Error()), msg: err.Error()}
}

// fine are the sentinels below apply and repotool whose text a message may
// carry. A Result holds only a message, so they are recognised by their
// text, on both sides alike: the sentinel's message less its "pkg: "
// prefix, which is how both packages word it after wrapping.
var fine = []error{
	release.ErrMalformed, release.ErrTooLarge, release.ErrMismatch, release.ErrUnsigned,
	trust.ErrMalformedRoot, trust.ErrExpired, trust.ErrRootVersion, trust.ErrThreshold,
	channel.ErrMalformed, channel.ErrTooLarge, channel.ErrUnsigned, channel.ErrMismatch, channel.ErrExpired, channel.ErrReplay,
	payload.ErrUnknownFormat,
}

func text(err error) string {
	msg := err.Error()
	if pkg, rest, ok := strings.Cut(msg, ": "); ok && !strings.Contains(pkg, " ") {
		return rest
	}
	return msg
}

func fineSentinels(msg string) []string {
	var out []string
	for _, s := range fine {
		if strings.Contains(msg, text(s)) {
			out = append(out, s.Error())
		}
	}
	return out
}

// verifyWords maps what a Result's message says to a class: first the
// client's own sentinels (Verify checks releases, channels and payloads
// with the client's reader, internal/reader, whose errors start with
// them), then the fine sentinels' texts, and for checks that have no
// sentinel (the root chain, the audit's own checks) the words Verify uses.
// The first match wins.
var verifyWords = []struct{ words, class string }{
	{"not the pinned root", auditPinned},
	{"not a copy of", auditRootJSON},
	{"not reached:", auditUnreached},
	{"which does not verify", derived},
	{apply.ErrExpired.Error(), clsExpired},
	{apply.ErrReplay.Error(), clsReplay},
	{apply.ErrSignature.Error(), clsSignature},
	{apply.ErrTooLarge.Error(), clsTooLarge},
	{apply.ErrChecksum.Error(), clsChecksum},
	{apply.ErrMetadata.Error(), clsMetadata},
	{apply.ErrNotFound.Error(), clsNotFound},
	{"is missing", clsNotFound},
	{text(trust.ErrExpired), clsExpired},
	{text(channel.ErrExpired), clsExpired},
	{text(channel.ErrReplay), clsReplay},
	{text(release.ErrTooLarge), clsTooLarge},
	{text(channel.ErrTooLarge), clsTooLarge},
	{"rotations after the pinned root", clsTooLarge},
	{"is larger than", clsTooLarge},
	{"decompresses to more than", clsTooLarge},
	{text(trust.ErrThreshold), clsSignature},
	{text(trust.ErrRootVersion), clsSignature},
	{text(release.ErrUnsigned), clsSignature},
	{text(channel.ErrUnsigned), clsSignature},
	{text(release.ErrMalformed), clsMetadata},
	{text(release.ErrMismatch), clsMetadata},
	{text(trust.ErrMalformedRoot), clsMetadata},
	{text(channel.ErrMalformed), clsMetadata},
	{text(channel.ErrMismatch), clsMetadata},
	{text(payload.ErrUnknownFormat), clsMetadata},
	{"does not match compressed_hash", clsChecksum},
	{"not compressed_size", clsChecksum},
	{"does not decompress", clsChecksum},
	{"decompresses to", clsChecksum},
}

func verifyReason(r repotool.Result) reason {
	if r.OK {
		return reason{}
	}
	for _, v := range verifyWords {
		if strings.Contains(r.Error, v.words) {
			return reason{class: v.class, fine: fineSentinels(r.Error), msg: r.Path + ": " + r.Error}
		}
	}
	return reason{class: "unclassified", msg: r.Path + ": " + r.Error}
}

// An auditView answers, from Verify's results, what a client of each
// target would meet.
type auditView struct {
	results []repotool.Result
	pinned  int64 // the pinned root's version; 0 in key mode
}

func newAuditView(results []repotool.Result, pinned int64) auditView {
	return auditView{results: results, pinned: pinned}
}

// rootClass is the class of a failed root result, auditHistory for a root
// no client fetches: root.json, and the roots up to the pinned one, whose
// only client-visible failure is the expiry of the pinned root.
func (a auditView) rootClass(r repotool.Result) reason {
	v := verifyReason(r)
	if strings.HasPrefix(v.class, "audit") {
		return v
	}
	if r.Path == "root.json" || (r.Version <= a.pinned && v.class != clsExpired) {
		v.class = auditHistory
	}
	return v
}

// rootFailure is the first root failure every client meets, if any.
func (a auditView) rootFailure() (reason, bool) {
	for _, r := range a.results {
		if r.Kind != repotool.KindRoot || r.OK {
			continue
		}
		if v := a.rootClass(r); !strings.HasPrefix(v.class, "audit") {
			return v, true
		}
	}
	return reason{}, false
}

// auditOnly are the failed root results no client meets.
func (a auditView) auditOnly() []repotool.Result {
	var out []repotool.Result
	for _, r := range a.results {
		if r.Kind == repotool.KindRoot && !r.OK && strings.HasPrefix(a.rootClass(r).class, "audit") {
			out = append(out, r)
		}
	}
	return out
}

func (a auditView) find(kind, path string) (repotool.Result, bool) {
	i := slices.IndexFunc(a.results, func(r repotool.Result) bool { return r.Kind == kind && r.Path == path })
	if i < 0 {
		return repotool.Result{}, false
	}
	return a.results[i], true
}

// forTarget is what Verify says a client of tg meets: a root failure, else
// for a channel its own failure, else the release it names.
func (a auditView) forTarget(tg target) reason {
	if v, ok := a.rootFailure(); ok {
		return v
	}
	path := tg.String()
	if tg.channel != "" {
		ch, ok := a.find(repotool.KindChannel, "channels/"+tg.channel+".json")
		if !ok {
			return reason{class: "no verify result for channel " + tg.channel}
		}
		v := verifyReason(ch)
		if v.class != "" && v.class != derived && !strings.HasPrefix(ch.Error, "points to") {
			return v
		}
		path = ch.Release + "/" + tg.goos + "/" + tg.goarch
		if _, ok := a.find(repotool.KindRelease, path); !ok {
			if v.class == clsNotFound {
				return v
			}
			return reason{class: clsNotFound, msg: "verify has no result for " + path}
		}
	}
	r, ok := a.find(repotool.KindRelease, path)
	if !ok {
		return reason{class: "no verify result for " + path}
	}
	if patchOnly(r) {
		// Only a patch failed: a client whose binary is not its base
		// never reads it, and one whose binary is falls back to the
		// payload (comparePatches checks what it met on the way).
		return reason{}
	}
	return verifyReason(r)
}
