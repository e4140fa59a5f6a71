package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// maxPassphraseFile bounds what is read from --passphrase-file.
const maxPassphraseFile = 4 << 10

// errNoPassphrase is returned when no source of a passphrase is available.
var errNoPassphrase = errors.New("no passphrase available (no --passphrase-file, no REPOTOOL_PASSPHRASE, and stdin is not a terminal)")

// passphrase returns a function that reads the passphrase from, in order:
// file (--passphrase-file), $REPOTOOL_PASSPHRASE, or a no-echo prompt on
// the terminal when stdin is one (asked twice when confirm is set). With
// none of these it fails: it never falls back to an empty passphrase.
func (c *cli) passphrase(file, what string, confirm bool) func() ([]byte, error) {
	return func() ([]byte, error) {
		if file != "" {
			f, err := os.Open(file)
			if err != nil {
				return nil, fmt.Errorf("--passphrase-file: %w", err)
			}
			defer f.Close()
			data, err := io.ReadAll(io.LimitReader(f, maxPassphraseFile+1))
			if err != nil {
				return nil, fmt.Errorf("--passphrase-file: %w", err)
			}
			if len(data) > maxPassphraseFile {
				return nil, fmt.Errorf("--passphrase-file %s is larger than %d bytes", file, maxPassphraseFile)
			}
			// One trailing newline is what editors and echo add.
			data = bytes.TrimSuffix(data, []byte("\n"))
			data = bytes.TrimSuffix(data, []byte("\r"))
			if len(data) == 0 {
				return nil, fmt.Errorf("--passphrase-file %s is empty", file)
			}
			return data, nil
		}
		if p := c.getenv("REPOTOOL_PASSPHRASE"); p != "" {
			return []byte(p), nil
		}
		if c.stdin == nil || !term.IsTerminal(int(c.stdin.Fd())) {
			return nil, errNoPassphrase
		}
		p, err := c.prompt(fmt.Sprintf("Passphrase for %s: ", what))
		if err != nil {
			return nil, err
		}
		if len(p) == 0 {
			return nil, errors.New("empty passphrase")
		}
		if confirm {
			again, err := c.prompt("Repeat the passphrase: ")
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(p, again) {
				return nil, errors.New("the passphrases do not match")
			}
		}
		return p, nil
	}
}

func (c *cli) prompt(msg string) ([]byte, error) {
	fmt.Fprint(c.stderr, msg)
	p, err := term.ReadPassword(int(c.stdin.Fd()))
	fmt.Fprintln(c.stderr)
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase: %w", err)
	}
	return p, nil
}
