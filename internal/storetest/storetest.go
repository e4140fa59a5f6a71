// Package storetest gives tests the object-store emulators that
// scripts/emulators.sh runs and .ci/run starts: the bucket URLs it exports,
// and a fresh key prefix of the shared bucket for each test. It is for
// tests only.
package storetest

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
)

// A Bucket is one emulated store.
type Bucket struct {
	Name string // s3, gcs, azure
	Env  string // the variable holding the bucket's URL
	What string // the emulator, for messages
}

// Buckets are the emulated stores.
var Buckets = []Bucket{
	{"s3", "SAFEUPDATE_TEST_S3", "S3 (versitygw)"},
	{"gcs", "SAFEUPDATE_TEST_GCS", "GCS (fake-gcs-server)"},
	{"azure", "SAFEUPDATE_TEST_AZURE", "Azure (Azurite)"},
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// BucketURL returns the URL of the named emulator's bucket, as
// scripts/emulators.sh env exports it. It skips t, naming the condition
// and how to meet it, when the variable is unset; .ci/run always sets it,
// and fails on any skipped test.
func BucketURL(t testing.TB, name string) string {
	t.Helper()
	for _, b := range Buckets {
		if b.Name != name {
			continue
		}
		raw := os.Getenv(b.Env)
		if raw == "" {
			t.Skipf("%s emulator not configured (%s is unset): start it with scripts/emulators.sh start, "+
				`then eval "$(scripts/emulators.sh env)"`, b.What, b.Env)
		}
		return raw
	}
	t.Fatalf("storetest: no emulated store %q", name)
	return ""
}

// URL returns the URL of an empty repository in the named emulator's
// bucket: a fresh random key prefix, under dir, named after the test. The
// bucket is shared, so a test must touch nothing outside its prefix.
func URL(t testing.TB, name, dir string) string {
	t.Helper()
	u, err := url.Parse(BucketURL(t, name))
	if err != nil {
		t.Fatalf("storetest: %s bucket URL: %v", name, err)
	}
	var nonce [6]byte
	rand.Read(nonce[:])
	u.Path = "/" + dir + "/" + strings.Trim(unsafeChars.ReplaceAllString(t.Name(), "-"), "-") + "-" + hex.EncodeToString(nonce[:])
	return u.String()
}
