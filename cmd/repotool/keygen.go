package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/repotool"
)

var keygenCommand = &command{
	name:    "keygen",
	summary: "make a signing key pair (PREFIX.pub, PREFIX.key), or a key in a KMS (PREFIX.pub)",
	usage:   "keygen --out PREFIX [--type ed25519|ecdsa-p256] [--unencrypted] [--passphrase-file F] | keygen --kms URI --out PREFIX [--type T]",
	about: `Makes a new signing key and writes PREFIX.pub (public, PEM, mode 0644) and
PREFIX.key (private, PKCS#8 PEM, mode 0600), then prints the key id. The private
key is encrypted with age (scrypt) to a passphrase read from --passphrase-file,
else $REPOTOOL_PASSPHRASE, else the terminal (asked twice). Existing files are
never overwritten.
With --kms, the key is made in a key management service and never leaves it;
only PREFIX.pub is written, and --key URI signs with it. URI is awskms://[ENDPOINT]/alias/NAME,
gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K, azurekms://VAULT.vault.azure.net/NAME
or hashivault://NAME; credentials come from the service's usual environment. The
type defaults to ecdsa-p256 there (ed25519: Vault only). A key that exists in the
KMS already is refused: write its public key with 'repotool pubkey'.`,
	example: `  repotool keygen --out keys/release
  REPOTOOL_PASSPHRASE=... repotool keygen --out keys/ci --type ecdsa-p256
  repotool keygen --kms awskms:///alias/app-release --out keys/release`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("out", "", "path `PREFIX` of the key files (required)")
		fs.String("type", string(keys.Ed25519), "key `TYPE`: ed25519 or ecdsa-p256 (ecdsa-p256 with --kms)")
		fs.Bool("unencrypted", false, "write the private key unencrypted (anyone who can read it can sign)")
		fs.String("passphrase-file", "", "read the passphrase from `FILE`")
		fs.String("kms", "", "make the key in the KMS key `URI` instead of a file")
	},
	run: runKeygen,
}

func runKeygen(c *cli, args []string) error {
	fs, err := c.parseNoArgs(args, "out")
	if err != nil {
		return err
	}
	out, _ := fs.GetString("out")
	typ, _ := fs.GetString("type")
	unencrypted, _ := fs.GetBool("unencrypted")
	passFile, _ := fs.GetString("passphrase-file")
	kmsRef, _ := fs.GetString("kms")
	switch keys.Type(typ) {
	case keys.Ed25519, keys.ECDSAP256:
	default:
		return usagef("--type: unknown key type %q (want ed25519 or ecdsa-p256)", typ)
	}
	if kmsRef != "" {
		if unencrypted || passFile != "" {
			return usagef("--kms makes no private key file: --unencrypted and --passphrase-file do not apply")
		}
		if !fs.Changed("type") {
			typ = string(keys.ECDSAP256)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		res, err := repotool.KeygenKMS(ctx, repotool.KMSKeygenConfig{Key: kmsRef, Out: out, Type: keys.Type(typ)})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "made %s in the KMS; its public key is in %s\n", kmsRef, res.PublicPath)
		fmt.Fprintln(c.stdout, res.ID)
		return nil
	}
	if unencrypted && passFile != "" {
		return usagef("--unencrypted and --passphrase-file cannot be used together")
	}
	res, err := repotool.Keygen(repotool.KeygenConfig{
		Out:         out,
		Type:        keys.Type(typ),
		Passphrase:  c.passphrase(passFile, out+".key", true),
		Unencrypted: unencrypted,
	})
	if err != nil {
		return err
	}
	if unencrypted {
		fmt.Fprintf(c.stderr, "warning: %s is not encrypted; anyone who can read it can sign releases\n", res.KeyPath)
	}
	fmt.Fprintln(c.stdout, res.ID)
	return nil
}
