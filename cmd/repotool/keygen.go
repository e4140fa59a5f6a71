package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/safeupdate/safeupdate/keys"
	"github.com/safeupdate/safeupdate/repotool"
)

var keygenCommand = &command{
	name:    "keygen",
	summary: "make a signing key pair (PREFIX.pub, PREFIX.key)",
	usage:   "keygen --out PREFIX [--type ed25519|ecdsa-p256] [--unencrypted] [--passphrase-file F]",
	about: `Makes a new signing key and writes PREFIX.pub (public, PEM, mode 0644) and
PREFIX.key (private, PKCS#8 PEM, mode 0600), then prints the key id. The private
key is encrypted with age (scrypt) to a passphrase read from --passphrase-file,
else $REPOTOOL_PASSPHRASE, else the terminal (asked twice). Existing files are
never overwritten.`,
	example: `  repotool keygen --out keys/release
  REPOTOOL_PASSPHRASE=... repotool keygen --out keys/ci --type ecdsa-p256`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("out", "", "path `PREFIX` of the key files (required)")
		fs.String("type", string(keys.Ed25519), "key `TYPE`: ed25519 or ecdsa-p256")
		fs.Bool("unencrypted", false, "write the private key unencrypted (anyone who can read it can sign)")
		fs.String("passphrase-file", "", "read the passphrase from `FILE`")
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
	switch keys.Type(typ) {
	case keys.Ed25519, keys.ECDSAP256:
	default:
		return usagef("--type: unknown key type %q (want ed25519 or ecdsa-p256)", typ)
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
