package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sentinel-ml/sentinel/internal/alerts"
)

func runAlerts(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		w := stderr
		if len(args) > 0 {
			w = stdout
		}
		fmt.Fprintln(w, "Usage: sentinel alerts <rules|list> [flags]\n\n"+
			"  rules   print the Prometheus rules file of Sentinel's alerts\n"+
			"  list    print the alerts: name, severity, for and what each covers")
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "rules", "list":
	default:
		fmt.Fprintf(stderr, "sentinel alerts: unknown sub-command %q (want rules or list)\n", args[0])
		return exitUsage
	}
	fs := newFlagSet("alerts "+args[0], "alerts "+args[0]+" [--window 1m] [--time-scale 1] [--job REGEX] [--runbook-url URL]", stderr)
	def := alerts.DefaultOptions()
	window := fs.Duration("window", def.Window, "the daemon's windows.size: a check alert's for counts windows of this size")
	timeScale := fs.Float64("time-scale", def.TimeScale, "multiplies the health alerts' for and rate ranges (tests run faster than production)")
	job := fs.String("job", def.Job, "regular expression matching Sentinel's scrape job, for the down and absent alerts")
	runbook := fs.String("runbook-url", def.RunbookURL, "where docs/runbooks.md is published; each alert links to its section")
	if code := parseFlags(fs, args[1:]); code >= 0 {
		return code
	}
	opts := alerts.Options{Window: *window, TimeScale: *timeScale, Job: *job, RunbookURL: *runbook}
	if args[0] == "list" {
		if err := opts.Validate(); err != nil {
			return usageError(fs, err.Error())
		}
		alerts.WriteTable(stdout, opts)
		return exitOK
	}
	out, err := alerts.Rules(opts)
	if err != nil {
		return usageError(fs, err.Error())
	}
	_, _ = stdout.Write(out)
	return exitOK
}
