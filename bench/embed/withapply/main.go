// Command withapply is the smallest program that updates a file with
// package apply and a pinned key. bench/run.sh compares its size with
// plainhttp's to show what embedding apply costs.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/safeupdate/safeupdate/apply"
)

// releaseKey is a throwaway ed25519 public key; its private half was
// deleted. The program is only built, never run against a real repository.
const releaseKey = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAulymYkswbx4f4oe30XC2kDlAV0eUKV/P+6cQtfcAV6Q=
-----END PUBLIC KEY-----
`

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: withapply REPO-URL VERSION TARGET")
		os.Exit(2)
	}
	err := apply.Apply(context.Background(),
		apply.SourceRepo(os.Args[1]),
		apply.Version(os.Args[2]),
		apply.PublicKey([]byte(releaseKey)),
		apply.TargetFile(os.Args[3]),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
