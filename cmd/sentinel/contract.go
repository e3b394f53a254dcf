package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/infer"
)

func runContract(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		w := stderr
		if len(args) > 0 {
			w = stdout
		}
		fmt.Fprintln(w, "Usage: sentinel contract <infer|check> [flags]\n\n  infer   print a draft contract inferred from training data\n  check   validate contract files")
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "infer":
		return runContractInfer(ctx, args[1:], stdout, stderr)
	case "check":
		return runContractCheck(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "sentinel contract: unknown sub-command %q (want infer or check)\n", args[0])
	return exitUsage
}

func runContractInfer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("contract infer", "contract infer --model NAME --input train.csv|train.jsonl", stderr)
	model := fs.String("model", "", "model name (required)")
	input := fs.String("input", "", "training data, CSV with a header row or JSON Lines (required)")
	maxCats := fs.Int("max-categories", config.DefaultMaxCategories, "list the categories of columns with at most this many distinct values")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *model == "" || *input == "" {
		return usageError(fs, "--model and --input are required")
	}
	f, err := dataset.Open(*input)
	if err != nil {
		return fail(stderr, "contract infer", err)
	}
	defer f.Close()
	c, err := infer.Contract(ctx, *model, f, *maxCats)
	if err != nil {
		return fail(stderr, "contract infer", fmt.Errorf("%s: %w", *input, err))
	}
	out, err := c.Marshal()
	if err != nil {
		return fail(stderr, "contract infer", err)
	}
	fmt.Fprintf(stdout, "# Draft contract inferred from %s: review the types, ranges and categories before committing it.\n"+
		"# A range is 0 on a side the data never crossed, else a power of ten an order of magnitude past the\n"+
		"# data's extreme: tighten it to what you know. Out-of-range values and unknown categories are\n"+
		"# tolerated up to 0.1%% of a window unless a feature says otherwise (docs/configuration.md).\n", *input)
	_, _ = stdout.Write(out)
	return exitOK
}

func runContractCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("contract check", "contract check FILE...", stderr)
	if err := fs.Parse(args); err != nil {
		return parseFlags(fs, args)
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "sentinel contract check: name at least one contract file")
		return exitUsage
	}
	// An invalid contract is an input error, as it is to compare and baseline:
	// exit 2, so that one rule reads every command's exit code.
	code := exitOK
	for _, path := range fs.Args() {
		if _, err := config.LoadContract(path); err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			code = exitUsage
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", path)
	}
	return code
}
