package kms

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/safeupdate/safeupdate/keys"
)

// refusedAddr returns a 127.0.0.1 address where nothing listens: it was
// listening a moment ago, so no other program had it.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// noCloud sets the environment of every SDK so that none can reach past
// 127.0.0.1: no credentials, no cloud metadata services (they point at a
// refused loopback address), no config files from the user's home.
func noCloud(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	refused := refusedAddr(t)
	for k, v := range map[string]string{
		"HOME":                           dir,
		"AWS_EC2_METADATA_DISABLED":      "true",
		"AWS_CONFIG_FILE":                filepath.Join(dir, "none"),
		"AWS_SHARED_CREDENTIALS_FILE":    filepath.Join(dir, "none"),
		"GCE_METADATA_HOST":              refused,
		"GCE_METADATA_IP":                refused,
		"GOOGLE_APPLICATION_CREDENTIALS": filepath.Join(dir, "none.json"),
		"AZURE_CLIENT_ID":                "",
		"AZURE_TENANT_ID":                "",
		"AZURE_CLIENT_SECRET":            "",
		"AZURE_FEDERATED_TOKEN_FILE":     "",
		"AZURE_AUTHORITY_HOST":           "https://" + refused + "/",
		"IDENTITY_ENDPOINT":              "http://" + refused + "/",
		"MSI_ENDPOINT":                   "http://" + refused + "/",
		"IMDS_ENDPOINT":                  "http://" + refused + "/",
		"VAULT_ADDR":                     "",
		"VAULT_TOKEN":                    "",
		"HTTPS_PROXY":                    "",
		"HTTP_PROXY":                     "",
		"NO_PROXY":                       "",
	} {
		t.Setenv(k, v)
	}
}

// hangUp listens on 127.0.0.1 and closes every connection at once, as a
// service that is down behind a load balancer does; it counts them.
func hangUp(t *testing.T) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), conns
}

// TestProvidersAreReached opens a key of each provider that has no
// emulator here, pointed at a 127.0.0.1 address that hangs up, and checks
// that the provider connected there and that the error says the service
// cannot be reached, naming the provider and the key.
func TestProvidersAreReached(t *testing.T) {
	cases := []struct {
		provider string
		ref      func(addr string) string
		setup    func(t *testing.T, addr string) *config
	}{
		{"Google Cloud KMS",
			func(string) string {
				return "gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1"
			},
			// The Go client has no endpoint setting in the environment.
			func(t *testing.T, addr string) *config {
				return &config{gcp: []option.ClientOption{
					option.WithEndpoint(addr), option.WithoutAuthentication(),
					option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
				}}
			}},
		{"Azure Key Vault",
			func(addr string) string { return "azurekms://" + addr + "/release" },
			func(*testing.T, string) *config { return &config{} }},
		{"HashiCorp Vault",
			func(string) string { return "hashivault://release" },
			func(t *testing.T, addr string) *config {
				t.Setenv("VAULT_ADDR", "http://"+addr)
				t.Setenv("VAULT_TOKEN", "safeupdate-test-token")
				return &config{}
			}},
	}
	for _, c := range cases {
		t.Run(c.provider, func(t *testing.T) {
			noCloud(t)
			addr, conns := hangUp(t)
			ref := c.ref(addr)
			// The SDKs retry for a while before giving up; the bound
			// keeps the test short whatever their policy.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := open(ctx, ref, c.setup(t, addr))
			if !errors.Is(err, ErrUnreachable) || s != nil {
				t.Fatalf("open(%s) = %v, %v; want ErrUnreachable", ref, s, err)
			}
			checkNames(t, err, c.provider, ref)
			if conns.Load() == 0 {
				t.Errorf("%s never connected to %s", c.provider, addr)
			}
			t.Log(err)
		})
	}
}

// TestRejectsUnknownScheme checks that a reference of no known provider is
// refused, never handed to sigstore's plugin mechanism (which would run a
// program named after the scheme).
func TestRejectsUnknownScheme(t *testing.T) {
	for _, ref := range []string{"pkcs11://token/key", "sigstore://x", "awskms:/missing-slash", "AWSKMS:///alias/x"} {
		if IsRef(ref) {
			t.Errorf("IsRef(%q) = true", ref)
		}
		if _, err := Open(context.Background(), ref); !errors.Is(err, ErrBadRef) {
			t.Errorf("Open(%q): %v, want ErrBadRef", ref, err)
		}
	}
}

// TestRejectsMalformedReferences checks each provider's form before any
// request is made.
func TestRejectsMalformedReferences(t *testing.T) {
	noCloud(t)
	for ref, provider := range map[string]string{
		"awskms://127.0.0.1:1/not-a-key-id": "AWS KMS",
		"gcpkms://projects/p/keyRings/r":    "Google Cloud KMS",
		"azurekms://vault.vault.azure.net":  "Azure Key Vault",
		"hashivault://a/b":                  "HashiCorp Vault",
	} {
		if !IsRef(ref) {
			t.Errorf("IsRef(%q) = false", ref)
		}
		_, err := Open(context.Background(), ref)
		if !errors.Is(err, ErrBadRef) {
			t.Errorf("Open(%q): %v, want ErrBadRef", ref, err)
			continue
		}
		checkNames(t, err, provider, ref)
	}
	if _, err := Create(context.Background(), "hashivault://a/b", keys.Ed25519); !errors.Is(err, ErrBadRef) {
		t.Errorf("Create: %v, want ErrBadRef", err)
	}
}
