// Command app is the program the end-to-end tests publish and update: it
// prints the version it was built with (-ldflags "-X main.version=...").
package main

import "os"

var version = "dev"

func main() { os.Stdout.WriteString("app " + version + "\n") }
