package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sentinel-ml/sentinel/internal/cbpe"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/infer"
	"github.com/sentinel-ml/sentinel/internal/profile"
)

func runBaseline(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("baseline", "baseline [--contract C] --input train.csv|train.jsonl --out baseline.json", stderr)
	contractPath := fs.String("contract", "", "the model's contract; inferred from the input when absent")
	model := fs.String("model", "", "model name when no contract is given (default: the input's file name); with --contract, it must be the contract's")
	input := fs.String("input", "", "training data, CSV with a header row or JSON Lines (required)")
	out := fs.String("out", "", "where to write the baseline JSON (required; - for standard output)")
	accuracy := fs.Float64("sketch-accuracy", profile.DefaultRelativeAccuracy, "relative error of the quantile sketch")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *input == "" || *out == "" {
		return usageError(fs, "--input and --out are required")
	}
	open := func() (dataset.Reader, io.Closer, error) {
		f, err := dataset.Open(*input)
		if err != nil {
			return nil, nil, err
		}
		return f, f, nil
	}
	var c *config.Contract
	if *contractPath != "" {
		var err error
		if c, err = config.LoadContract(*contractPath); err != nil {
			return fail(stderr, "baseline", err)
		}
		if *model != "" && *model != c.Model {
			return usageError(fs, fmt.Sprintf("--model %q: the contract %s is of model %q", *model, *contractPath, c.Model))
		}
	} else {
		name := *model
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(*input), filepath.Ext(*input))
		}
		r, closer, err := open()
		if err != nil {
			return fail(stderr, "baseline", err)
		}
		c, err = infer.Contract(ctx, name, r, config.DefaultMaxCategories)
		closer.Close()
		if err != nil {
			return fail(stderr, "baseline", fmt.Errorf("inferring a contract from %s: %w", *input, err))
		}
		c.ApplyDefaults()
	}
	b, err := profile.Build(ctx, c, open, profile.BuildOptions{RelativeAccuracy: *accuracy, Source: filepath.Base(*input)})
	if err != nil {
		return fail(stderr, "baseline", fmt.Errorf("%s: %w", *input, err))
	}
	if *out == "-" {
		if err := b.Write(stdout); err != nil {
			return fail(stderr, "baseline", err)
		}
		return exitOK
	}
	if err := writeFileAtomic(*out, b.Write); err != nil {
		return fail(stderr, "baseline", err)
	}
	fmt.Fprintf(stderr, "sentinel baseline: wrote %s (%d rows, %d features%s)\n", *out, b.Rows, len(b.Features), calibrationNote(b.Calibration))
	return exitOK
}

// calibrationNote says what the baseline learnt for estimating quality
// before labels, and why it calibrates or not.
func calibrationNote(c *profile.Calibration) string {
	if c == nil {
		return ""
	}
	what := "applied"
	if c.Method == cbpe.Uncalibrated {
		what = "not applied: the probabilities are as well calibrated"
	}
	return fmt.Sprintf("; calibration from %d labelled rows, %s (expected calibration error %.3f, %.3f calibrated)",
		c.Rows, what, c.ECE, c.ECECalibrated)
}

// writeFileAtomic writes through a temporary file and renames it, so that a failed
// run never leaves half a baseline where CI will read it.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("creating output: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
