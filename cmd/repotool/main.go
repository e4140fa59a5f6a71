// Command repotool is the publisher's tool for a safeupdate repository: it
// makes signing keys, adds binaries as signed releases, adds signatures,
// audits a repository and serves one. Run "repotool --help" for the list of
// commands; the logic lives in package repotool.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
