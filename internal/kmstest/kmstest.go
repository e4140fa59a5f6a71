// Package kmstest gives tests the AWS KMS emulator (local-kms) that
// scripts/emulators.sh runs and .ci/run starts, behind a TLS front: the
// AWS SDK, as sigstore's awskms provider uses it, speaks HTTPS to the
// endpoint of an awskms://HOST:PORT/KEY reference, and local-kms speaks
// plain HTTP. The front is a TLS server on 127.0.0.1 with a test CA, which
// the SDK trusts through its normal setting (AWS_CA_BUNDLE), so the code
// under test is the production path. It is for tests only.
package kmstest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Env is the variable holding the emulator's URL, as scripts/emulators.sh
// env exports it.
const Env = "SAFEUPDATE_TEST_KMS"

// Region is the region the emulator runs in (scripts/emulators.sh).
const Region = "us-east-1"

// Front is a TLS front of the emulator for one test.
type Front struct {
	// Host is the front's address, the ENDPOINT of awskms://ENDPOINT/KEY.
	Host     string
	emulator string
	srv      *httptest.Server
	t        testing.TB

	mu     sync.Mutex
	calls  map[string]int  // requests by operation (X-Amz-Target without the service)
	sigs   [][]byte        // signatures of Sign responses, as the emulator made them
	denied map[string]bool // operations answered with AccessDeniedException
}

// Start returns a TLS front of the emulator and sets the AWS SDK's
// environment for t: the test CA (AWS_CA_BUNDLE), fixed test credentials
// (local-kms accepts any), the emulator's region, and no shared config
// files, EC2 metadata service or profile, so that nothing reaches beyond
// 127.0.0.1. It skips t when the emulator is not configured, and fails it
// under CI, which must run every test.
func Start(t testing.TB) *Front {
	t.Helper()
	raw := os.Getenv(Env)
	if raw == "" {
		msg := "AWS KMS emulator (local-kms) not configured (" + Env + " is unset): start it with scripts/emulators.sh start, " +
			`then eval "$(scripts/emulators.sh env)"`
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || !strings.HasPrefix(u.Host, "127.0.0.1:") {
		t.Fatalf("kmstest: %s=%q: want http://127.0.0.1:PORT", Env, raw)
	}
	f := &Front{emulator: raw, t: t, calls: make(map[string]int), denied: make(map[string]bool)}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = f.record
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		op := operation(r)
		f.calls[op]++
		denied := f.denied[op]
		f.mu.Unlock()
		if denied {
			// AWS KMS's answer to a caller whose policy lacks kms:OP.
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"AccessDeniedException","message":"User: arn:aws:sts::111122223333:assumed-role/ci/job is not authorized to perform: kms:%s on this resource"}`, op)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	f.Host = strings.TrimPrefix(f.srv.URL, "https://")

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_CA_BUNDLE":                ca,
		"AWS_ACCESS_KEY_ID":            "safeupdate-test-access",
		"AWS_SECRET_ACCESS_KEY":        "safeupdate-test-secret-key",
		"AWS_SESSION_TOKEN":            "",
		"AWS_REGION":                   Region,
		"AWS_DEFAULT_REGION":           Region,
		"AWS_PROFILE":                  "",
		"AWS_CONFIG_FILE":              filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE":  filepath.Join(dir, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED":    "true",
		"AWS_ENDPOINT_URL":             "",
		"AWS_ENDPOINT_URL_KMS":         "",
		"AWS_TLS_INSECURE_SKIP_VERIFY": "",
	} {
		t.Setenv(k, v)
	}
	return f
}

func operation(r *http.Request) string {
	op := r.Header.Get("X-Amz-Target")
	return op[strings.LastIndexByte(op, '.')+1:]
}

// record keeps the signature of each Sign response.
func (f *Front) record(resp *http.Response) error {
	if operation(resp.Request) != "Sign" || resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var out struct{ Signature []byte }
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("kmstest: Sign response: %v", err)
	}
	f.mu.Lock()
	f.sigs = append(f.sigs, out.Signature)
	f.mu.Unlock()
	return nil
}

// Calls returns how many requests of operation op ("Sign", "GetPublicKey")
// went through the front.
func (f *Front) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// Ops returns how many requests of each operation went through the front.
func (f *Front) Ops() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.calls))
	for op, n := range f.calls {
		out[op] = n
	}
	return out
}

// Signatures returns the signatures the emulator returned so far, before
// any normalisation by the code under test.
func (f *Front) Signatures() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.sigs...)
}

// Deny makes the front answer operation op ("Sign", "GetPublicKey") as AWS
// KMS answers a caller whose policy does not allow it, which local-kms
// cannot emulate (it checks no permissions).
func (f *Front) Deny(op string) {
	f.mu.Lock()
	f.denied[op] = true
	f.mu.Unlock()
}

// Stop closes the front: from then on the KMS is unreachable, as if the
// emulator had stopped, without stopping the emulator other tests share.
func (f *Front) Stop() { f.srv.Close() }

// Ref returns the awskms reference of key (a key id, "alias/NAME" or an
// ARN) through the front.
func (f *Front) Ref(key string) string { return "awskms://" + f.Host + "/" + key }

// Alias returns a new alias name, unique in the shared emulator.
func Alias(t testing.TB) string {
	var b [6]byte
	rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	return "alias/safeupdate-test/" + name + "-" + hex.EncodeToString(b[:])
}

// Call sends one KMS API request straight to the emulator, for a test's
// set-up (make a key of another type, disable one): what a KMS
// administrator would do in the console. It returns the decoded answer.
func (f *Front) Call(op string, in any) map[string]any {
	f.t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		f.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, f.emulator+"/", bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService."+op)
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatalf("kmstest: %s: %v", op, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("kmstest: %s: HTTP %d: %s", op, resp.StatusCode, data)
	}
	out := map[string]any{}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			f.t.Fatalf("kmstest: %s: %v", op, err)
		}
	}
	return out
}

// CreateKey makes a key of spec ("ECC_NIST_P256", "RSA_2048", ...) and
// usage ("SIGN_VERIFY", "ENCRYPT_DECRYPT") in the emulator and returns its
// key id.
func (f *Front) CreateKey(spec, usage string) string {
	f.t.Helper()
	out := f.Call("CreateKey", map[string]any{"KeySpec": spec, "KeyUsage": usage})
	md, _ := out["KeyMetadata"].(map[string]any)
	id, _ := md["KeyId"].(string)
	if id == "" {
		f.t.Fatalf("kmstest: CreateKey: no key id in %v", out)
	}
	return id
}
