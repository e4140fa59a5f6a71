package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/safeupdate/safeupdate/repotool"
)

var serveCommand = &command{
	name:    "serve",
	summary: "serve a repository read-only over HTTP(S)",
	usage:   "serve --repo DIR [--addr HOST:PORT] [--tls-cert F --tls-key F]",
	about: `Serves DIR read-only over HTTP, or HTTPS with --tls-cert and --tls-key, until
interrupted (SIGINT or SIGTERM). The first line on stdout is "serving DIR at URL";
each request is logged on stderr. No directory listings, hidden files or private
keys are served, and nothing outside DIR. Port 0 picks a free port.`,
	example: `  repotool serve --repo repo --addr 127.0.0.1:8080`,
	flags: func(fs *pflag.FlagSet) {
		fs.String("repo", "", "repository `DIR` (required)")
		fs.String("addr", "127.0.0.1:8080", "`HOST:PORT` to listen on")
		fs.String("tls-cert", "", "TLS certificate `FILE` (PEM), for HTTPS")
		fs.String("tls-key", "", "TLS private key `FILE` (PEM), for HTTPS")
	},
	run: runServe,
}

func runServe(c *cli, args []string) error {
	fs, err := c.parseNoArgs(args, "repo")
	if err != nil {
		return err
	}
	var cfg repotool.ServeConfig
	cfg.Dir, _ = fs.GetString("repo")
	cfg.Addr, _ = fs.GetString("addr")
	cfg.TLSCert, _ = fs.GetString("tls-cert")
	cfg.TLSKey, _ = fs.GetString("tls-key")
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	cfg.Log = c.stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return repotool.Serve(ctx, cfg, c.stdout)
}
