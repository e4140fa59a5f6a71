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

var pubkeyCommand = &command{
	name:    "pubkey",
	summary: "write the public key of a KMS key (or of a private key file)",
	usage:   "pubkey --key KEY [--out FILE] [--passphrase-file F]",
	about: `Reads the public key of KEY, a KMS key URI (awskms://, gcpkms://, azurekms://,
hashivault://) or a private key file, and writes it as PEM to FILE (mode 0644),
else to standard output, so that it can be pinned in a client or put into a root
with 'repotool init' or 'repotool rotate'. The key id is printed after it (to
standard error when the key goes to standard output).
FILE is never overwritten, and is either complete or absent.`,
	example: `  repotool pubkey --key awskms:///alias/app-release --out keys/release.pub
  repotool pubkey --key 'gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/release/cryptoKeyVersions/1'`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("key", "", "the `KEY`: a KMS key URI or a private key file (required)")
		fs.String("out", "", "write the public key to `FILE` (default: standard output)")
		fs.String("passphrase-file", "", "read the passphrase of an encrypted key file from `FILE`")
	},
	run: runPubkey,
}

func runPubkey(c *cli, args []string) error {
	fs, err := c.parseNoArgs(args, "key")
	if err != nil {
		return err
	}
	key, _ := fs.GetString("key")
	out, _ := fs.GetString("out")
	passFile, _ := fs.GetString("passphrase-file")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pub, id, err := repotool.PublicKeyOf(ctx, key, c.passphrase(passFile, key, false))
	if err != nil {
		return err
	}
	if out != "" {
		if err := repotool.WritePublicKey(out, pub); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "wrote the public key of %s to %s\n", key, out)
		fmt.Fprintln(c.stdout, id)
		return nil
	}
	data, err := keys.MarshalPublic(pub)
	if err != nil {
		return err
	}
	c.stdout.Write(data)
	fmt.Fprintln(c.stderr, id)
	return nil
}
