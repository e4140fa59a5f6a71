package repotool

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
)

var (
	// pemBegin starts a PEM block; its type follows, then pemDashes.
	pemBegin  = []byte("-----BEGIN ")
	pemDashes = []byte("-----")
	// ageBinary starts an unarmored age file.
	ageBinary = []byte("age-encryption.org/v1\n")
)

// servePEMTypeMax is the longest PEM type looked at after pemBegin ("PGP
// PRIVATE KEY BLOCK" and "AGE ENCRYPTED FILE" are far shorter).
const servePEMTypeMax = 64

// pemLineMax is the longest BEGIN line looked at. The scan keeps this much
// of one chunk with the next, so that a line cut by the end of a chunk is
// seen whole in the next.
var pemLineMax = len(pemBegin) + servePEMTypeMax + len(pemDashes)

// privateKeyIn reports whether the file r holds a private key, reading all
// of it, once, through one servePrivateKeyChunk buffer whatever its size.
// It is the only guard of the repository server against serving a key, and
// refuses:
//   - a PEM block anywhere in the file whose type contains "PRIVATE KEY"
//     (PKCS#8, encrypted PKCS#8, SEC 1 EC, PKCS#1 RSA, OpenSSH, PGP);
//   - the armor of an age-encrypted file anywhere ("AGE ENCRYPTED FILE"),
//     which is how keygen stores private keys, and a binary age file;
//   - a DER private key (PKCS#8 of any algorithm, SEC 1 EC or PKCS#1 RSA):
//     a file of at most serveDERKeyMax bytes that starts with an ASN.1
//     SEQUENCE of one of those shapes.
//
// An error reading r is returned: the file could not be vetted, so it must
// not be served.
func privateKeyIn(r io.Reader) (bool, error) {
	buf := make([]byte, servePrivateKeyChunk)
	kept := 0 // bytes carried over from the previous chunk
	for first := true; ; first = false {
		n, err := io.ReadFull(r, buf[kept:])
		n += kept
		end := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !end {
			return false, err
		}
		if first && (bytes.HasPrefix(buf[:n], ageBinary) || (end && isDERPrivateKey(buf[:n]))) {
			return true, nil
		}
		if hasPEMPrivateKey(buf[:n]) {
			return true, nil
		}
		if end {
			return false, nil
		}
		kept = copy(buf, buf[n-pemLineMax:n])
	}
}

// hasPEMPrivateKey reports whether b holds a complete PEM BEGIN line of a
// private key or of an age-encrypted file.
func hasPEMPrivateKey(b []byte) bool {
	for {
		i := bytes.Index(b, pemBegin)
		if i < 0 {
			return false
		}
		b = b[i+len(pemBegin):]
		typ := b[:min(len(b), servePEMTypeMax+len(pemDashes))]
		if j := bytes.Index(typ, pemDashes); j >= 0 {
			typ = typ[:j]
			if bytes.Contains(typ, []byte("PRIVATE KEY")) || bytes.Equal(typ, []byte("AGE ENCRYPTED FILE")) {
				return true
			}
		}
	}
}

// isDERPrivateKey reports whether data, a whole file, is a DER private
// key, alone or followed by other bytes.
func isDERPrivateKey(data []byte) bool {
	if len(data) == 0 || len(data) > serveDERKeyMax || data[0] != 0x30 {
		return false
	}
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(data, &seq); err != nil {
		return false
	}
	der := seq.FullBytes
	// PKCS#8 by its shape rather than by x509.ParsePKCS8PrivateKey, which
	// fails on algorithms it does not know (DSA, X448) that are keys all
	// the same.
	var p8 struct {
		Version    int
		Algo       pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	if rest, err := asn1.Unmarshal(der, &p8); err == nil && len(rest) == 0 &&
		(p8.Version == 0 || p8.Version == 1) && len(p8.Algo.Algorithm) > 0 && len(p8.PrivateKey) > 0 {
		return true
	}
	if _, err := x509.ParseECPrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParsePKCS1PrivateKey(der)
	return err == nil
}
