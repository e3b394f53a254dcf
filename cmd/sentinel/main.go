// Command sentinel monitors ML models: it checks serving data against each model's
// data contract and training baseline, offline in CI and as a daemon on Kafka.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Exit codes shared by every sub-command, so CI scripts can tell a broken contract
// from a broken invocation.
const (
	exitOK       = 0
	exitFindings = 1
	exitUsage    = 2
	// exitFailed is the daemon stopping on an error: a non-zero status that
	// Kubernetes restarts, distinct from usage errors.
	exitFailed = 1
)

// command is one sub-command. run gets the arguments after the sub-command's name and
// returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"version":  {"print the version and exit", runVersion},
		"contract": {"work with data contracts (infer)", runContract},
		"baseline": {"profile training data into a baseline file", runBaseline},
		"compare":  {"check a data sample against a baseline; exit 1 on drift", runCompare},
		"backtest": {"score a metric time series with the anomaly detector", runBacktest},
		"replay":   {"run the daemon's checks over recorded events, printing findings", runReplay},
		"run":      {"run the monitoring daemon on Kafka traffic", runRun},
		"demo":     {"show the whole system on one machine: traffic, incidents, alerts, a scorecard", runDemo},
		"alerts":   {"print the Prometheus alert rules (or the alert list)", runAlerts},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 {
		usage(stderr, cmds)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout, cmds)
		return exitOK
	case "--version", "-version":
		return runVersion(ctx, nil, stdout, stderr)
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "sentinel: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return exitUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "Usage: sentinel <command> [flags]\n\nCommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'sentinel <command> --help' for the flags of a command.")
}

// newFlagSet returns a flag set that reports errors instead of exiting, so that every
// sub-command maps a usage error to exit code 2 in one place.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: sentinel %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and returns the exit code to use when parsing ended the
// command: 0 for --help, 2 for a usage error, -1 to go on.
func parseFlags(fs *flag.FlagSet, args []string) int {
	err := fs.Parse(args)
	switch {
	case err == nil:
		if fs.NArg() > 0 {
			return usageError(fs, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
		}
		return -1
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	default:
		return exitUsage
	}
}

// usageError reports a missing or inconsistent flag with the command's usage.
func usageError(fs *flag.FlagSet, problem string) int {
	fmt.Fprintf(fs.Output(), "sentinel %s: %s\n", fs.Name(), problem)
	fs.Usage()
	return exitUsage
}

// fail prints err for a sub-command and returns the exit code for input errors.
func fail(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "sentinel %s: %v\n", name, err)
	return exitUsage
}
