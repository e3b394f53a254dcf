package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/skew"
)

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("compare", "compare --baseline B --input serving.csv|serving.jsonl [--contract C] [--format json|text] [--fail-on drift|violation|never]", stderr)
	baselinePath := fs.String("baseline", "", "baseline file written by 'sentinel baseline' (required)")
	input := fs.String("input", "", "the sample to check, CSV with a header row or JSON Lines (required)")
	contractPath := fs.String("contract", "", "the model's contract (default: every baseline feature, nullable, PSI above 0.2 is drift)")
	format := fs.String("format", "text", "report format: text or json")
	failOn := fs.String("fail-on", "drift", "exit 1 when this is found: drift (drift or violations), violation (violations only) or never")
	minSamples := fs.Int("min-samples", config.DefaultMinSamples, "fewest values a feature needs on each side for its distribution checks; below, they are skipped, not failed")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *baselinePath == "" || *input == "" {
		return usageError(fs, "--baseline and --input are required")
	}
	if *format != "text" && *format != "json" {
		return usageError(fs, fmt.Sprintf("--format %q: want text or json", *format))
	}
	if *failOn != "drift" && *failOn != "violation" && *failOn != "never" {
		return usageError(fs, fmt.Sprintf("--fail-on %q: want drift, violation or never", *failOn))
	}
	if *minSamples < 1 {
		return usageError(fs, fmt.Sprintf("--min-samples %d: must be at least 1", *minSamples))
	}
	b, err := profile.LoadBaseline(*baselinePath)
	if err != nil {
		return fail(stderr, "compare", err)
	}
	c := b.Contract()
	if *contractPath != "" {
		if c, err = config.LoadContract(*contractPath); err != nil {
			return fail(stderr, "compare", err)
		}
		if err := b.CheckContract(c); err != nil {
			return fail(stderr, "compare", fmt.Errorf("contract %s does not fit baseline %s: %w", *contractPath, *baselinePath, err))
		}
	}
	specs := make([]profile.Spec, len(c.Features))
	for i := range c.Features {
		specs[i] = b.Spec(&c.Features[i], c.MaxCategories)
	}
	set, err := profile.NewSet(specs)
	if err != nil {
		return fail(stderr, "compare", err)
	}
	f, err := dataset.Open(*input)
	if err != nil {
		return fail(stderr, "compare", err)
	}
	defer f.Close()
	if err := set.Scan(ctx, f); err != nil {
		return fail(stderr, "compare", fmt.Errorf("%s: %w", *input, err))
	}
	if set.Records == 0 && len(set.RowErrors) == 0 {
		return fail(stderr, "compare", fmt.Errorf("%s: no rows to compare", *input))
	}
	report, err := skew.Compare(c, b, set, skew.Options{MinSamples: *minSamples, Unreadable: f.Unreadable()})
	if err != nil {
		return fail(stderr, "compare", err)
	}
	if *format == "json" {
		err = report.WriteJSON(stdout)
	} else {
		err = report.WriteText(stdout)
	}
	if err != nil {
		return fail(stderr, "compare", err)
	}
	violations := len(report.Violated) > 0 || len(report.RowErrors) > 0 || report.RowsWithExtraCells > 0
	switch {
	case *failOn == "never":
	case violations, *failOn == "drift" && len(report.Drifted) > 0:
		return exitFindings
	}
	return exitOK
}
