package main

import (
	"errors"
	"runtime"

	"github.com/safeupdate/safeupdate/blobrepo"
	"github.com/safeupdate/safeupdate/internal/kms"
	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/repotool"
	"github.com/safeupdate/safeupdate/trust"
)

// hintFor returns the line printed after an error to say what to do next,
// or "".
func hintFor(cmd string, err error) string {
	var he *hintError
	var pe *repotool.PlatformError
	switch {
	case errors.As(err, &he):
		return he.hint
	case errors.Is(err, repotool.ErrUnanchored) && (cmd == "add" || cmd == "delta"):
		return "nothing was written: a patch is made only from a base release you can verify: give --pin DIR, a pin whose root you verified, or sign with a --key whose signature the release carries"
	case errors.Is(err, repotool.ErrUnanchored):
		return "nothing was signed: sign only a release you can tie to what you hold: --pin DIR, a pin whose root you verified, once a release key has signed it; or --binary FILE, the binary you built or received out of band"
	case errors.Is(err, repotool.ErrPin):
		return "nothing was signed or written: find out who changed the storage before trusting it; the pin (--pin) is your own record of the trust root and channel versions"
	case errors.Is(err, keys.ErrWrongPassphrase):
		return "the passphrase is read from --passphrase-file, else $REPOTOOL_PASSPHRASE, else the terminal"
	case errors.Is(err, keys.ErrNoPassphrase), errors.Is(err, repotool.ErrNoPassphrase):
		if cmd == "keygen" {
			return "give --passphrase-file, set REPOTOOL_PASSPHRASE or run in a terminal; or use --unencrypted"
		}
		return "give --passphrase-file, set REPOTOOL_PASSPHRASE or run in a terminal"
	case errors.Is(err, keys.ErrEncryptedPEM):
		return "decrypt it with 'openssl pkey -in KEY -out PLAIN', then protect it again with age"
	case errors.Is(err, keys.ErrUnsupportedKey), errors.Is(err, keys.ErrNotPEM):
		return "keys must be ed25519 or ECDSA P-256, as made by 'repotool keygen' or openssl"
	case errors.Is(err, kms.ErrUnreachable):
		return "check the network path to the KMS and its endpoint; nothing was signed or written"
	case errors.Is(err, kms.ErrNotFound) && cmd == "keygen":
		return "check the key reference"
	case errors.Is(err, kms.ErrNotFound):
		return "check the key reference; make a key with 'repotool keygen --kms URI --out PREFIX'"
	case errors.Is(err, kms.ErrDisabled):
		return "enable the key in the KMS, or sign with another key"
	case errors.Is(err, kms.ErrKeyState):
		return "a key scheduled for deletion cannot sign: cancel the deletion in the KMS, or rotate the key out of the root"
	case errors.Is(err, kms.ErrKeyUsage), errors.Is(err, kms.ErrKeyType):
		return "release keys are ECDSA P-256 (or Ed25519) signing keys: make one with 'repotool keygen --kms URI --out PREFIX'"
	case errors.Is(err, kms.ErrPermission):
		return "the credentials need kms:GetPublicKey and kms:Sign (or the service's equivalents) on this key"
	case errors.Is(err, kms.ErrExists):
		return "write the existing key's public key with 'repotool pubkey --key URI --out FILE', or choose another name"
	case errors.Is(err, kms.ErrBadRef):
		return "KMS keys are awskms://[ENDPOINT]/KEY, gcpkms://projects/..., azurekms://VAULT.vault.azure.net/KEY or hashivault://KEY"
	case errors.As(err, &pe):
		return "omit --os and --arch to use the platform the binary was built for"
	case errors.Is(err, repotool.ErrExists) && cmd == "add":
		return "use --force to replace it"
	case errors.Is(err, repotool.ErrForbidden):
		return "the repository refused to serve the file (HTTP 403, or the bucket's permission denied): check the credentials and the read policy for it"
	case errors.Is(err, repotool.ErrUnverified) && cmd == "mirror":
		return "the source is corrupt or compromised; nothing of that file was written to the destination"
	case errors.Is(err, repotool.ErrExists) && cmd == "mirror":
		return "the destination has other content; check it, then use --force to replace it"
	case errors.Is(err, blobrepo.ErrUnsupported) && runtime.GOOS == "windows":
		return "replacing files of a local directory safely needs flock(2), which Windows lacks; use a bucket (s3://, gs://, azblob://) or a Unix machine"
	case errors.Is(err, repotool.ErrConflict):
		return "another publisher changed the repository meanwhile; run the command again"
	case errors.Is(err, repotool.ErrExists) && cmd == "keygen":
		return "choose another --out, or move the old key files away first"
	case errors.Is(err, repotool.ErrPayloadMismatch):
		return "the payload changed after the release was made; add the binary again with 'repotool add --force'"
	case errors.Is(err, repotool.ErrNoRelease) && cmd == "promote":
		return "add and sign the release first with 'repotool add', or check --repo and --version"
	case errors.Is(err, repotool.ErrNoRelease):
		return "check --repo and --version"
	case errors.Is(err, repotool.ErrExists) && cmd == "init":
		return "change the keys of an existing root with 'repotool rotate'"
	case errors.Is(err, repotool.ErrDraftPending):
		return "add signatures with 'repotool sign-root', or delete the draft to start over"
	case errors.Is(err, repotool.ErrNoRoot) && cmd == "sign":
		return "a repository without a trust root has nothing to pin: give only --binary FILE"
	case errors.Is(err, repotool.ErrNoRoot):
		return "create the trust root first with 'repotool init'"
	case errors.Is(err, repotool.ErrNotInRole) && cmd == "promote":
		return "channels are signed by channel keys: 'repotool init --channel-key', or 'repotool rotate --add-channel-key'"
	case errors.Is(err, repotool.ErrNotInRole):
		return "roots are signed by root keys: 'repotool init --root-key', or 'repotool rotate --add-root-key'"
	case errors.Is(err, repotool.ErrNotFound) && cmd == "sign-root":
		return "a draft is made by 'repotool rotate' (or 'repotool init') when its --sign keys are not enough"
	case errors.Is(err, repotool.ErrNotFound) && cmd == "promote":
		return "promote a version first with --version"
	case errors.Is(err, trust.ErrThreshold) && cmd == "promote":
		return "give a --key for each channel key the root's channel threshold requires"
	case errors.Is(err, trust.ErrExpired) && cmd == "promote":
		return "extend the root with 'repotool rotate --expires DURATION'"
	case errors.Is(err, repotool.ErrNotFound) && cmd == "sign":
		return "add it first with 'repotool add', or check --repo, --version, --os and --arch"
	}
	return ""
}
