package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the operation failed, or verification found a problem
	exitUsage = 2 // the command line is wrong
)

// command is one subcommand of repotool.
type command struct {
	name    string
	summary string // one line, for the command list
	usage   string // synopsis after "repotool "
	about   string // what it does, for --help
	example string
	flags   func(fs *pflag.FlagSet) // declares the flags, for --help
	run     func(c *cli, args []string) error
}

// commands lists every command, in the order the help shows them.
var commands = []*command{
	keygenCommand,
	pubkeyCommand,
	addCommand,
	signCommand,
	deltaCommand,
	verifyCommand,
	mirrorCommand,
	serveCommand,
	versionCommand,
}

// rootCommands manage the trust root and channels; the help lists them
// apart.
var rootCommands = []*command{
	initCommand,
	rotateCommand,
	signRootCommand,
	promoteCommand,
}

// cli is what a command may use besides its arguments.
type cli struct {
	cmd    *command
	stdin  *os.File
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// usageError is a mistake on the command line: exit 2 with a hint to the
// command's help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// hintError carries a hint line to print after the error.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// failError is a failure already reported on stdout (verify's FAIL lines):
// exit 1 without a message.
var errReported = errors.New("reported")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printCommands(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			if cmd := lookup(args[1]); cmd != nil {
				printHelp(stdout, cmd)
				return exitOK
			}
			fmt.Fprintf(stderr, "repotool: help: unknown command %q\nhint: see 'repotool --help'\n", args[1])
			return exitUsage
		}
		printCommands(stdout)
		return exitOK
	case "--version":
		args = []string{"version"}
	}
	cmd := lookup(args[0])
	if cmd == nil {
		if strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stderr, "repotool: unknown flag %s (flags go after the command)\nhint: see 'repotool --help'\n", args[0])
		} else {
			fmt.Fprintf(stderr, "repotool: unknown command %q\nhint: see 'repotool --help'\n", args[0])
		}
		return exitUsage
	}
	c := &cli{cmd: cmd, stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	err := cmd.run(c, args[1:])
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, pflag.ErrHelp):
		printHelp(stdout, cmd)
		return exitOK
	case errors.Is(err, errReported):
		return exitFail
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "repotool: %s: %s\nhint: see 'repotool %s --help'\n", cmd.name, ue.msg, cmd.name)
		return exitUsage
	}
	fmt.Fprintf(stderr, "repotool: %s: %s\n", cmd.name, message(cmd.name, err))
	if hint := hintFor(cmd.name, err); hint != "" {
		fmt.Fprintf(stderr, "hint: %s\n", hint)
	}
	return exitFail
}

func lookup(name string) *command {
	for _, c := range append(commands[:len(commands):len(commands)], rootCommands...) {
		if c.name == name {
			return c
		}
	}
	return nil
}

// message strips the "repotool: " and "CMD: " prefixes the library puts
// on its errors, since run prints its own.
func message(name string, err error) string {
	msg := strings.TrimPrefix(err.Error(), "repotool: ")
	return strings.TrimPrefix(msg, name+": ")
}

func printCommands(w io.Writer) {
	fmt.Fprint(w, "repotool publishes signed releases for safeupdate clients.\n\nUsage: repotool COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nTrust root and channels:\n")
	for _, c := range rootCommands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'repotool COMMAND --help' for a command's flags and an example.\n")
}

func printHelp(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "Usage: repotool %s\n\n%s\n", cmd.usage, cmd.about)
	fs := newFlagSet(cmd.name)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	if fs.HasFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	}
	fmt.Fprintf(w, "\nExample:\n%s\n", cmd.example)
}

func newFlagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	return fs
}

// parse declares cmd's flags on a new set and parses args, rewording
// pflag's errors as usage errors.
func (c *cli) parse(args []string) (*pflag.FlagSet, error) {
	fs := newFlagSet(c.cmd.name)
	if c.cmd.flags != nil {
		c.cmd.flags(fs)
	}
	err := fs.Parse(args)
	if err == nil || errors.Is(err, pflag.ErrHelp) {
		return fs, err
	}
	var (
		notExist *pflag.NotExistError
		required *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
		syntax   *pflag.InvalidSyntaxError
	)
	switch {
	case errors.As(err, &notExist):
		name := notExist.GetSpecifiedName()
		if notExist.GetSpecifiedShortnames() != "" {
			return nil, usagef("unknown flag -%s", name)
		}
		return nil, usagef("unknown flag --%s", name)
	case errors.As(err, &required):
		return nil, usagef("--%s needs a value", required.GetFlag().Name)
	case errors.As(err, &invalid):
		return nil, usagef("--%s: invalid value %q", invalid.GetFlag().Name, invalid.GetValue())
	case errors.As(err, &syntax):
		return nil, usagef("bad flag syntax %s", syntax.GetSpecifiedFlag())
	}
	return nil, &usageError{err.Error()}
}

// args checks the positional arguments: want names the required ones.
func exactArgs(fs *pflag.FlagSet, want ...string) ([]string, error) {
	got := fs.Args()
	if len(got) < len(want) {
		return nil, usagef("missing %s argument", want[len(got)])
	}
	if len(got) > len(want) {
		return nil, usagef("unexpected argument %q", got[len(want)])
	}
	return got, nil
}

// parseNoArgs parses the flags of a command that takes no positional
// argument and fails unless every named string flag was given.
func (c *cli) parseNoArgs(args []string, requiredFlags ...string) (*pflag.FlagSet, error) {
	fs, err := c.parse(args)
	if err != nil {
		return fs, err
	}
	if _, err := exactArgs(fs); err != nil {
		return fs, err
	}
	return fs, required(fs, requiredFlags...)
}

// required fails unless every named string flag was given a non-empty value.
func required(fs *pflag.FlagSet, names ...string) error {
	for _, n := range names {
		if v, _ := fs.GetString(n); v == "" {
			return usagef("missing --%s", n)
		}
	}
	return nil
}
