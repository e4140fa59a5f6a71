// Package kms opens signing keys that live in a key management service and
// never leave it, through the providers of sigstore/sigstore's
// pkg/signature/kms: AWS KMS (awskms://[ENDPOINT]/KEY), Google Cloud KMS
// (gcpkms://projects/.../cryptoKeyVersions/N), Azure Key Vault
// (azurekms://VAULT.vault.azure.net/KEY) and HashiCorp Vault's transit
// engine (hashivault://KEY). Credentials and settings come from each SDK's
// usual environment (AWS_REGION, AWS_PROFILE, GOOGLE_APPLICATION_CREDENTIALS,
// AZURE_CLIENT_ID, VAULT_ADDR, VAULT_TOKEN, ...).
//
// Only the publisher's tool imports it: the client, package apply, links no
// KMS code, and .ci/run checks that it does not.
//
// # Threat model
//
// A key in a KMS cannot be copied: a leaked CI log, disk or backup holds no
// key. Whoever runs code with the job's credentials can still sign while
// they hold them; thresholds with an offline key limit that. Open reads the
// public key once and refuses types other than ECDSA P-256 and Ed25519;
// keys.Sign then checks every signature the service returns against that
// public key, so a key swapped behind an alias fails at signing time. Only
// the four schemes above are dispatched: sigstore's plugin mechanism, which
// runs a program named after an unknown scheme from PATH, is never used.
// Every call to a service is bounded by limits.KMSRequest.
package kms

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	sigkms "github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/kms/aws"
	"github.com/sigstore/sigstore/pkg/signature/kms/azure"
	"github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	"github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/api/option"

	"github.com/safeupdate/safeupdate/internal/limits"
	"github.com/safeupdate/safeupdate/keys"
)

// provider is one KMS service.
type provider struct {
	scheme string // the URI scheme with "://"
	name   string // for messages
	valid  func(ref string) error
	load   func(ctx context.Context, ref string, hash crypto.Hash, c *config) (sigkms.SignerVerifier, error)
	// algorithms maps a key type to the provider's name for it in
	// CreateKey; a type missing here cannot be created there.
	algorithms map[keys.Type]string
	// createRef, when not nil, says why a reference cannot name a new key.
	createRef func(ref string) error
	// refuse, when not nil, says why the environment is unsafe for it.
	refuse func() error
}

// config is what tests change: the GCP client has no setting in the
// environment for its endpoint, so they point it at 127.0.0.1 here.
type config struct {
	gcp []option.ClientOption
}

var providers = []*provider{
	{
		scheme: aws.ReferenceScheme, name: "AWS KMS", valid: aws.ValidReference,
		load: func(ctx context.Context, ref string, _ crypto.Hash, _ *config) (sigkms.SignerVerifier, error) {
			return aws.LoadSignerVerifier(ctx, ref)
		},
		algorithms: map[keys.Type]string{keys.ECDSAP256: "ECC_NIST_P256"},
		createRef: func(ref string) error {
			if _, _, alias, err := aws.ParseReference(ref); err != nil || alias == "" {
				return fmt.Errorf("%w: a new AWS KMS key is named by an alias: awskms://[ENDPOINT]/alias/NAME", ErrBadRef)
			}
			return nil
		},
		// sigstore's AWS provider turns TLS verification off when this is
		// set: whoever is on the path would then hand out the public key.
		refuse: func() error {
			if os.Getenv("AWS_TLS_INSECURE_SKIP_VERIFY") == "1" {
				return fmt.Errorf("%w: refusing AWS_TLS_INSECURE_SKIP_VERIFY=1, which turns off TLS verification of the KMS; unset it, and give a private endpoint's CA with AWS_CA_BUNDLE", ErrInsecure)
			}
			return nil
		},
	},
	{
		scheme: gcp.ReferenceScheme, name: "Google Cloud KMS", valid: gcp.ValidReference,
		load: func(ctx context.Context, ref string, _ crypto.Hash, c *config) (sigkms.SignerVerifier, error) {
			return gcp.LoadSignerVerifier(ctx, ref, c.gcp...)
		},
		algorithms: map[keys.Type]string{keys.ECDSAP256: gcp.AlgorithmECDSAP256SHA256},
	},
	{
		scheme: azure.ReferenceScheme, name: "Azure Key Vault", valid: azure.ValidReference,
		load: func(ctx context.Context, ref string, _ crypto.Hash, _ *config) (sigkms.SignerVerifier, error) {
			return azure.LoadSignerVerifier(ctx, ref)
		},
		// sigstore's Azure provider makes P-256 keys whatever it is asked.
		algorithms: map[keys.Type]string{keys.ECDSAP256: "ES256"},
	},
	{
		scheme: hashivault.ReferenceScheme, name: "HashiCorp Vault", valid: hashivault.ValidReference,
		load: func(ctx context.Context, ref string, hash crypto.Hash, _ *config) (sigkms.SignerVerifier, error) {
			return hashivault.LoadSignerVerifier(ref, hash, options.WithContext(ctx))
		},
		algorithms: map[keys.Type]string{keys.ECDSAP256: hashivault.AlgorithmECDSAP256, keys.Ed25519: hashivault.AlgorithmED25519},
	},
}

// Schemes are the URI schemes of the key references Open accepts.
func Schemes() []string {
	out := make([]string, len(providers))
	for i, p := range providers {
		out[i] = p.scheme
	}
	return out
}

// IsRef reports whether s names a key in a KMS (by its scheme) rather than
// a file. It says nothing of whether the rest of s is valid.
func IsRef(s string) bool { return providerOf(s) != nil }

func providerOf(ref string) *provider {
	for _, p := range providers {
		if strings.HasPrefix(ref, p.scheme) {
			return p
		}
	}
	return nil
}

// Signer is a signing key in a KMS, as a crypto.Signer: pass it to
// keys.NewSigner. Its public key was read once, by Open. Each Sign is one
// call to the service, bounded by limits.KMSRequest and by the context
// given to Open. Safe for concurrent use if the provider's client is (the
// four here are).
type Signer struct {
	ref string
	p   *provider
	sv  sigkms.SignerVerifier
	pub crypto.PublicKey
	typ keys.Type
	ctx context.Context
}

// Open reaches the key ref in its KMS and reads its public key, which must
// be ECDSA P-256 or Ed25519. ctx bounds Open and every later Sign. Errors
// are *Error wrapping one of this package's sentinels when the cause is
// known (ErrUnreachable, ErrNotFound, ErrDisabled, ...).
func Open(ctx context.Context, ref string) (*Signer, error) {
	return open(ctx, ref, &config{})
}

func open(ctx context.Context, ref string, c *config) (*Signer, error) {
	p, err := check(ref)
	if err != nil {
		return nil, err
	}
	s := &Signer{ref: ref, p: p, ctx: ctx}
	// The providers keep this context for later calls: not one bounded by
	// call. Making a client sends no request.
	if s.sv, err = p.load(ctx, ref, crypto.SHA256, c); err != nil {
		return nil, s.fail("opening the key", err)
	}
	if s.pub, err = s.publicKey(); err != nil {
		return nil, err
	}
	if s.typ, err = keys.TypeOf(s.pub); err != nil {
		return nil, s.fail("reading the public key", fmt.Errorf("%w: %v", ErrKeyType, err))
	}
	if s.typ == keys.Ed25519 && p.scheme == hashivault.ReferenceScheme {
		// Vault is told the scheme when the client is made: none
		// (pure Ed25519) rather than SHA-256.
		if s.sv, err = p.load(ctx, ref, crypto.Hash(0), c); err != nil {
			return nil, s.fail("opening the key", err)
		}
	}
	return s, nil
}

// check finds the provider of ref and checks ref's form.
func check(ref string) (*provider, error) {
	p := providerOf(ref)
	if p == nil {
		return nil, fmt.Errorf("kms: %q: %w: the scheme is none of %s", ref, ErrBadRef, strings.Join(Schemes(), ", "))
	}
	if err := p.valid(ref); err != nil {
		return nil, &Error{Provider: p.name, Ref: ref, Op: "parsing the reference", Err: fmt.Errorf("%w: %v", ErrBadRef, err)}
	}
	if p.refuse != nil {
		if err := p.refuse(); err != nil {
			return nil, &Error{Provider: p.name, Ref: ref, Op: "opening the key", Err: err}
		}
	}
	return p, nil
}

func (s *Signer) publicKey() (crypto.PublicKey, error) {
	pub, err := call(s.ctx, func(ctx context.Context) (crypto.PublicKey, error) {
		return s.sv.PublicKey(options.WithContext(ctx))
	})
	if err != nil {
		return nil, s.fail("reading the public key", err)
	}
	return pub, nil
}

// Public returns the key's public key, as read by Open.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Ref returns the key reference Open was given.
func (s *Signer) Ref() string { return s.ref }

// Sign asks the service to sign: the SHA-256 digest for ECDSA P-256
// (opts must be crypto.SHA256), the message itself for Ed25519 (opts
// crypto.Hash(0)). An ECDSA signature is returned as the service made it,
// in either S form: keys.Sign normalises it.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	want := crypto.SHA256
	if s.typ == keys.Ed25519 {
		want = crypto.Hash(0)
	}
	if opts == nil || opts.HashFunc() != want {
		return nil, fmt.Errorf("kms: %s key %s: a %s key signs with hash %v only", s.p.name, s.ref, s.typ, want)
	}
	sig, err := call(s.ctx, func(ctx context.Context) ([]byte, error) {
		if s.typ == keys.Ed25519 {
			return s.sv.SignMessage(bytes.NewReader(digest), options.WithContext(ctx))
		}
		return s.sv.SignMessage(bytes.NewReader(nil), options.WithContext(ctx),
			options.WithDigest(digest), options.WithCryptoSignerOpts(crypto.SHA256))
	})
	if err != nil {
		return nil, s.fail("signing", err)
	}
	return sig, nil
}

// Create makes a new signing key of type t in the KMS under the name ref
// and returns its public key. It fails with ErrExists if ref names a key
// already (use Open to read its public key), and with ErrKeyType if the
// service offers no keys of type t through sigstore's provider.
func Create(ctx context.Context, ref string, t keys.Type) (crypto.PublicKey, error) {
	return create(ctx, ref, t, &config{})
}

func create(ctx context.Context, ref string, t keys.Type, c *config) (crypto.PublicKey, error) {
	p, err := check(ref)
	if err != nil {
		return nil, err
	}
	s := &Signer{ref: ref, p: p, ctx: ctx}
	alg, ok := p.algorithms[t]
	if !ok {
		return nil, s.fail("creating the key", fmt.Errorf("%w: %s offers no %s keys here", ErrKeyType, p.name, t))
	}
	if p.createRef != nil {
		if err := p.createRef(ref); err != nil {
			return nil, s.fail("creating the key", err)
		}
	}
	hash := crypto.SHA256
	if t == keys.Ed25519 {
		hash = crypto.Hash(0)
	}
	if s.sv, err = p.load(ctx, ref, hash, c); err != nil {
		return nil, s.fail("opening the key", err)
	}
	// The providers return an existing key's public key from CreateKey as
	// if they had made it: a publisher asking for a new key gets an error.
	if _, err := s.publicKey(); err == nil {
		return nil, s.fail("creating the key", fmt.Errorf("%w; read its public key with 'repotool pubkey'", ErrExists))
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	pub, err := call(ctx, func(ctx context.Context) (crypto.PublicKey, error) {
		return s.sv.CreateKey(ctx, alg)
	})
	if err != nil {
		return nil, s.fail("creating the key", err)
	}
	if _, err := keys.TypeOf(pub); err != nil {
		return nil, s.fail("creating the key", fmt.Errorf("%w: the service made %v", ErrKeyType, err))
	}
	return pub, nil
}

// call runs one request to a service, and returns when it is done or when
// limits.KMSRequest has passed, whichever is first: some providers do not
// pass the context on (sigstore's GCP provider looks a key up with a
// background context), so the bound cannot be left to them. A request
// given up on goes on in the background until its SDK's own timeout.
//
// A provider that panics (sigstore's AWS provider indexes a key's signing
// algorithms, of which a key that cannot sign has none) is reported as a
// key of the wrong usage rather than crashing the tool.
func call[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, limits.KMSRequest)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("%w (the provider failed on it: %v)", ErrKeyUsage, p)
			}
			done <- r
		}()
		r.v, r.err = f(ctx)
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	if r.err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		r.err = fmt.Errorf("%w: no answer in time: %v", ErrUnreachable, r.err)
	}
	return r.v, r.err
}
