// Package modeltest builds models for tests: a contract and a baseline profiled
// from generated or shipped training data.
package modeltest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/profile"
)

// FromCSV returns the model of contract c with a baseline built from csv, a
// header row and data rows.
func FromCSV(tb testing.TB, c *config.Contract, csv string) *model.Model {
	tb.Helper()
	bl, err := profile.Build(context.Background(), c, func() (dataset.Reader, io.Closer, error) {
		r, err := dataset.NewCSV(strings.NewReader(csv))
		return r, io.NopCloser(nil), err
	}, profile.BuildOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := model.New(c, bl)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// Rows returns the model of a contract's YAML with a baseline of n rows, each
// written by row as one CSV line (no newline), drawing from r.
func Rows(tb testing.TB, contract string, n int, r *rand.Rand, row func(r *rand.Rand, csv *strings.Builder)) *model.Model {
	tb.Helper()
	c, err := config.ParseContract([]byte(contract))
	if err != nil {
		tb.Fatal(err)
	}
	var csv strings.Builder
	for i, f := range c.Features {
		if i > 0 {
			csv.WriteByte(',')
		}
		csv.WriteString(f.Name)
	}
	csv.WriteByte('\n')
	for range n {
		row(r, &csv)
		csv.WriteByte('\n')
	}
	return FromCSV(tb, c, csv.String())
}

// Generated returns a model of numeric then categorical features, with the
// given YAML attributes on each, and a baseline of 2,000 generated rows: normal
// numbers scaled by the feature's position, categories c0…c<categories-1>.
func Generated(tb testing.TB, name string, numeric, categorical, categories int, numericAttrs, categoricalAttrs string) *model.Model {
	tb.Helper()
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "model: %s\nprediction: {kind: probability}\nfeatures:\n", name)
	for i := 0; i < numeric; i++ {
		fmt.Fprintf(&yaml, "  - {name: n%d, type: numeric, %s}\n", i, numericAttrs)
	}
	for i := 0; i < categorical; i++ {
		fmt.Fprintf(&yaml, "  - {name: c%d, type: categorical, %s}\n", i, categoricalAttrs)
	}
	return Rows(tb, yaml.String(), 2000, rand.New(rand.NewPCG(1, 1)), func(r *rand.Rand, csv *strings.Builder) {
		for i := 0; i < numeric+categorical; i++ {
			if i > 0 {
				csv.WriteByte(',')
			}
			if i < numeric {
				fmt.Fprintf(csv, "%.3f", r.NormFloat64()*float64(i+1))
			} else {
				fmt.Fprintf(csv, "c%d", r.IntN(categories))
			}
		}
	})
}

// Example returns a shipped example model: dir holds contract.yaml and
// train.csv. The baseline's creation time is fixed, so goldens do not move.
func Example(tb testing.TB, dir string) *model.Model {
	tb.Helper()
	c, err := config.LoadContract(dir + "/contract.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	b, err := profile.Build(context.Background(), c, func() (dataset.Reader, io.Closer, error) {
		f, err := dataset.Open(dir + "/train.csv")
		if err != nil {
			return nil, nil, err
		}
		return f, f, nil
	}, profile.BuildOptions{Now: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := model.New(c, b)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
