package kms

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/aws/smithy-go"
	vault "github.com/hashicorp/vault/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// What went wrong with a key, for errors.Is. Each is wrapped in an *Error
// naming the provider and the key, with the service's own message.
var (
	ErrBadRef      = errors.New("not a valid KMS key reference")
	ErrUnreachable = errors.New("cannot reach the service")
	ErrNotFound    = errors.New("no such key")
	ErrDisabled    = errors.New("the key is disabled")
	ErrKeyState    = errors.New("the key cannot be used in its state (scheduled for deletion, or pending import)")
	ErrKeyUsage    = errors.New("the key is not a signing key (wrong key usage)")
	ErrKeyType     = errors.New("the key is of an unsupported type (want ECDSA P-256 or Ed25519)")
	ErrPermission  = errors.New("permission denied (check the credentials and the key's policy)")
	ErrExists      = errors.New("a key of that name exists already")
	ErrInsecure    = errors.New("the connection to the KMS would not be verified")
)

// Error is a failed operation on one key.
type Error struct {
	Provider string // "AWS KMS", "Google Cloud KMS", "Azure Key Vault", "HashiCorp Vault"
	Ref      string // the key reference
	Op       string // what was being done: "reading the public key", "signing", ...
	Err      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("kms: %s key %s: %s: %v", e.Provider, e.Ref, e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// fail wraps err as an *Error of s, with the sentinel its cause tells.
func (s *Signer) fail(op string, err error) error {
	var ke *Error
	if errors.As(err, &ke) {
		return err
	}
	return &Error{Provider: s.p.name, Ref: s.ref, Op: op, Err: classify(err)}
}

// classify wraps err with the sentinel that says what it means, when the
// provider's error tells: a network failure, or the service's error code.
func classify(err error) error {
	for _, sentinel := range []error{ErrBadRef, ErrInsecure, ErrUnreachable, ErrNotFound, ErrDisabled, ErrKeyState, ErrKeyUsage, ErrKeyType, ErrPermission, ErrExists} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	if sentinel := sentinelOf(err); sentinel != nil {
		return fmt.Errorf("%w: %v", sentinel, err)
	}
	return err
}

func sentinelOf(err error) error {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// EOF: the service hung up before it answered.
		return ErrUnreachable
	}
	// AWS KMS: the error codes of its API reference.
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFoundException":
			return ErrNotFound
		case "DisabledException":
			return ErrDisabled
		case "KMSInvalidStateException":
			return ErrKeyState
		case "InvalidKeyUsageException", "UnsupportedOperationException":
			return ErrKeyUsage
		case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException":
			return ErrPermission
		}
	}
	// Google Cloud KMS: gRPC status codes.
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK && st.Code() != codes.Unknown {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return ErrUnreachable
		case codes.NotFound:
			return ErrNotFound
		case codes.PermissionDenied, codes.Unauthenticated:
			return ErrPermission
		case codes.FailedPrecondition:
			return ErrKeyState
		}
	}
	// Azure Key Vault and Vault: HTTP status codes.
	statusCode := 0
	var azErr *azcore.ResponseError
	var vErr *vault.ResponseError
	switch {
	case errors.As(err, &azErr):
		statusCode = azErr.StatusCode
	case errors.As(err, &vErr):
		statusCode = vErr.StatusCode
	}
	switch statusCode {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrPermission
	}
	// Providers that flatten the cause into a string (sigstore's GCP
	// provider for a key of another purpose).
	if strings.Contains(err.Error(), "cannot be used to sign") {
		return ErrKeyUsage
	}
	return nil
}
