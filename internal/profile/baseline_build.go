package profile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
)

// Opener opens the training data afresh: the baseline reads it twice.
type Opener func() (dataset.Reader, io.Closer, error)

// BuildOptions tune Build.
type BuildOptions struct {
	RelativeAccuracy float64
	Source           string
	Now              func() time.Time
}

// Build profiles the training data into a baseline. A first pass builds the
// profiles and sketches; the second collects only the values in the sketch buckets
// that hold the deciles' ranks, which makes the deciles and the counts in their bins
// exact while memory stays bounded by those few buckets rather than by the rows.
func Build(ctx context.Context, c *config.Contract, open Opener, opts BuildOptions) (*Baseline, error) {
	if opts.RelativeAccuracy == 0 {
		opts.RelativeAccuracy = DefaultRelativeAccuracy
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	specs := make([]Spec, len(c.Features))
	for i, f := range c.Features {
		specs[i] = Spec{Name: f.Name, Type: f.Type, Nullable: f.Nullable, Min: f.Min, Max: f.Max,
			Categories: f.Categories, MaxCategories: c.MaxCategories, RelativeAccuracy: opts.RelativeAccuracy}
		if f.Type != config.Numeric && len(f.Categories) == 0 {
			// Count every category exactly up to the bound; the top ones are kept.
			specs[i].MaxCategories = max(c.MaxCategories, 10_000)
		}
	}
	set, err := NewSet(specs)
	if err != nil {
		return nil, err
	}
	var labelled *labelledRows
	scan := func(r dataset.Reader) error { return set.Scan(ctx, r) }
	if c.Prediction.Calibrated() {
		// The first pass also gathers the rows the calibration learns from.
		labelled = newLabelledRows(c.Prediction)
		scan = func(r dataset.Reader) error {
			if cols := r.Columns(); cols != nil {
				set.SetColumns(cols)
				labelled.setColumns(cols)
			}
			return dataset.ForEach(ctx, r, func(rec *dataset.Record) {
				set.Add(rec)
				labelled.add(rec)
			}, func(e *dataset.RowError) { set.AddRowError(e.Reason) })
		}
	}
	if err := withInput(open, scan); err != nil {
		return nil, err
	}
	if set.Records == 0 {
		return nil, errors.New("training data has no rows")
	}
	targets := make(map[int]*decileTargets)
	for i, f := range set.Features {
		if f.Sketch != nil && f.Finite > 0 {
			targets[i] = newDecileTargets(i, f)
		}
	}
	if len(targets) > 0 {
		if err := withInput(open, func(r dataset.Reader) error { return set.collect(ctx, r, targets) }); err != nil {
			return nil, fmt.Errorf("second pass: %w", err)
		}
	}
	b := &Baseline{
		FormatVersion: FormatVersion, Model: c.Model, CreatedAt: opts.Now().UTC(), Source: opts.Source,
		Rows: set.Records, RelativeAccuracy: opts.RelativeAccuracy,
	}
	if len(set.RowErrors) > 0 {
		b.RowErrors = set.RowErrors
	}
	for i, f := range set.Features {
		fb, err := summarise(f, targets[i], c.MaxCategories)
		if err != nil {
			return nil, err
		}
		b.Features = append(b.Features, fb)
	}
	if labelled != nil {
		if b.Calibration, err = labelled.learn(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func withInput(open Opener, f func(dataset.Reader) error) error {
	r, closer, err := open()
	if err != nil {
		return err
	}
	defer closer.Close()
	return f(r)
}

// collect feeds the finite values of the numeric features with targets to them.
func (s *Set) collect(ctx context.Context, r dataset.Reader, targets map[int]*decileTargets) error {
	if cols := r.Columns(); cols != nil {
		s.SetColumns(cols)
	}
	// Unreadable rows were counted by the first pass.
	return dataset.ForEach(ctx, r, func(rec *dataset.Record) {
		for c := range rec.Fields {
			t := targets[s.featureOf(rec, c)]
			if t == nil {
				continue
			}
			if x, ok := finiteValue(rec.Fields[c].Value, rec.Text); ok {
				t.collect(s.Features[t.feature].Sketch.bucketOf(x), x)
			}
		}
	}, func(*dataset.RowError) {})
}

// decileTargets finds exact deciles: the ranks each decile interpolates between,
// the sketch buckets holding those ranks, and the values collected from them.
type decileTargets struct {
	feature int
	n       uint64
	ranks   []uint64 // per decile, the lower rank k of h = (n−1)p
	frac    []float64
	bucket  map[bucket]*collected
}

type collected struct {
	below, count uint64
	values       []float64
}

func newDecileTargets(i int, f *Feature) *decileTargets {
	t := &decileTargets{feature: i, n: f.Finite, bucket: make(map[bucket]*collected)}
	want := make(map[uint64]bool)
	for d := 1; d <= 9; d++ {
		h := float64(t.n-1) * float64(d) / 10
		k := uint64(math.Floor(h))
		t.ranks = append(t.ranks, k)
		t.frac = append(t.frac, h-float64(k))
		want[k] = true
		if k+1 < t.n {
			want[k+1] = true
		}
	}
	f.Sketch.buckets(func(b bucket, below, count uint64) bool {
		for r := range want {
			if r >= below && r < below+count {
				t.bucket[b] = &collected{below: below, count: count}
				break
			}
		}
		return true
	})
	return t
}

func (t *decileTargets) collect(b bucket, x float64) {
	if c := t.bucket[b]; c != nil {
		c.values = append(c.values, x)
	}
}

// at returns the value of rank r and its bucket.
func (t *decileTargets) at(r uint64) (float64, *collected, error) {
	for _, c := range t.bucket {
		if r >= c.below && r < c.below+c.count {
			if uint64(len(c.values)) != c.count {
				return 0, nil, fmt.Errorf("the input changed between the two passes (%d values in a bucket, then %d)", c.count, len(c.values))
			}
			return c.values[r-c.below], c, nil
		}
	}
	return 0, nil, fmt.Errorf("rank %d not in any collected bucket", r)
}

// exact computes the deciles (numpy's linear interpolation), the merged bin edges
// and the exact count of values in each bin.
func (t *decileTargets) exact() (deciles, edges []float64, bins []uint64, err error) {
	for _, c := range t.bucket {
		slices.Sort(c.values)
	}
	// atMost[j] counts the values ≤ decile j.
	var atMost []uint64
	for j, k := range t.ranks {
		lo, cLo, err := t.at(k)
		if err != nil {
			return nil, nil, nil, err
		}
		d, cHi := lo, cLo
		if k+1 < t.n {
			var hi float64
			if hi, cHi, err = t.at(k + 1); err != nil {
				return nil, nil, nil, err
			}
			d = lerp(lo, hi, t.frac[j])
		}
		deciles = append(deciles, d)
		n := cLo.below
		for _, v := range cLo.values {
			if v <= d {
				n++
			}
		}
		if cHi != cLo {
			for _, v := range cHi.values {
				if v <= d {
					n++
				}
			}
		}
		atMost = append(atMost, n)
	}
	prev := uint64(0)
	for j, d := range deciles {
		if len(edges) > 0 && d == edges[len(edges)-1] {
			continue
		}
		edges = append(edges, d)
		bins = append(bins, atMost[j]-prev)
		prev = atMost[j]
	}
	bins = append(bins, t.n-prev)
	return deciles, edges, bins, nil
}

func summarise(f *Feature, t *decileTargets, maxCategories int) (FeatureBaseline, error) {
	fb := FeatureBaseline{
		Name: f.spec.Name, Type: f.spec.Type, Count: f.Rows, Nulls: f.Nulls,
		NaN: f.NaN, PosInf: f.PosInf, NegInf: f.NegInf, Distinct: math.Round(f.Distinct.Estimate()),
	}
	if v := f.ViolationCounts(); len(v) > 0 {
		fb.Violations = v
	}
	if f.Sketch != nil {
		fb.Finite = f.Finite
		if f.Finite > 0 {
			fb.Min, fb.Max, fb.Mean = ptr(f.Min), ptr(f.Max), ptr(f.Mean)
			if f.Finite > 1 {
				fb.StdDev = ptr(f.StdDev())
			}
			var err error
			if fb.Deciles, fb.BinEdges, fb.BinCounts, err = t.exact(); err != nil {
				return fb, fmt.Errorf("feature %s: %w", f.spec.Name, err)
			}
			fb.Quantiles = make([]float64, QuantilePoints)
			for i := range fb.Quantiles {
				q := f.Sketch.Quantile(float64(i) / (QuantilePoints - 1))
				fb.Quantiles[i] = math.Min(math.Max(q, f.Min), f.Max)
			}
			fb.Quantiles[0], fb.Quantiles[QuantilePoints-1] = f.Min, f.Max
			fb.Sketch = f.Sketch.stored()
		}
		return fb, nil
	}
	counts := f.CategoryCounts()
	fb.Categories = topCategories(counts, maxCategories)
	fb.Other = f.Other
	var kept uint64
	for _, c := range fb.Categories {
		kept += c.Count
	}
	for _, n := range counts {
		fb.Other += n
	}
	fb.Other -= kept
	return fb, nil
}

// topCategories returns the n most frequent categories, ties broken by name so
// that the file is reproducible.
func topCategories(m map[string]uint64, n int) []CategoryCount {
	out := make([]CategoryCount, 0, len(m))
	for k, c := range m {
		if c > 0 {
			out = append(out, CategoryCount{k, c})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return strings.Compare(out[i].Value, out[j].Value) < 0
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// lerp interpolates as numpy does (from the nearer end), so that deciles match
// numpy.percentile to the last bit.
func lerp(a, b, t float64) float64 {
	if t >= 0.5 {
		return b - (b-a)*(1-t)
	}
	return a + (b-a)*t
}

func ptr(x float64) *float64 { return &x }
