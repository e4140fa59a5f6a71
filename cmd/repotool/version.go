package main

import (
	"fmt"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version string

var versionCommand = &command{
	name:    "version",
	summary: "print repotool's version",
	usage:   "version",
	about:   "Prints the version of repotool.",
	example: "  repotool version",
	run: func(c *cli, args []string) error {
		fs, err := c.parse(args)
		if err != nil {
			return err
		}
		if _, err := exactArgs(fs); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "repotool %s\n", currentVersion())
		return nil
	},
}

func currentVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
