package profile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
)

// FormatVersion is the baseline file's format. A reader refuses other versions
// rather than misread them.
const FormatVersion = 1

// QuantilePoints is how many quantiles, 0 to 1 inclusive, the baseline lists.
const QuantilePoints = 1001

const maxFinite = math.MaxFloat64

// Baseline is the profile of a model's training data.
type Baseline struct {
	FormatVersion    int               `json:"format_version"`
	Model            string            `json:"model"`
	CreatedAt        time.Time         `json:"created_at"`
	Source           string            `json:"source,omitempty"`
	Rows             uint64            `json:"rows"`
	RowErrors        map[string]uint64 `json:"row_errors,omitempty"`
	RelativeAccuracy float64           `json:"sketch_relative_accuracy"`
	Features         []FeatureBaseline `json:"features"`
	// Calibration, learnt when the contract names the prediction's and the
	// label's columns, estimates the model's quality before labels arrive.
	// Baselines without one (all those written before there were any) load
	// as before, and the daemon estimates nothing for them.
	Calibration *Calibration `json:"calibration,omitempty"`
}

// FeatureBaseline summarises one feature of the training data. Statistics of a
// feature without finite values are absent (JSON has no NaN).
type FeatureBaseline struct {
	Name       string             `json:"name"`
	Type       config.FeatureType `json:"type"`
	Count      uint64             `json:"count"`
	Nulls      uint64             `json:"nulls"`
	NaN        uint64             `json:"nan"`
	PosInf     uint64             `json:"pos_inf"`
	NegInf     uint64             `json:"neg_inf"`
	Violations map[string]uint64  `json:"violations,omitempty"`
	Distinct   float64            `json:"distinct_estimate"`

	Finite    uint64         `json:"finite,omitempty"`
	Min       *float64       `json:"min,omitempty"`
	Max       *float64       `json:"max,omitempty"`
	Mean      *float64       `json:"mean,omitempty"`
	StdDev    *float64       `json:"std_dev,omitempty"`
	Deciles   []float64      `json:"deciles,omitempty"`
	BinEdges  []float64      `json:"bin_edges,omitempty"`
	BinCounts []uint64       `json:"bin_counts,omitempty"`
	Quantiles []float64      `json:"quantiles,omitempty"`
	Sketch    *SketchBuckets `json:"sketch,omitempty"`

	Categories []CategoryCount `json:"categories,omitempty"`
	Other      uint64          `json:"other,omitempty"`
}

// CategoryCount is one category and how often it occurred.
type CategoryCount struct {
	Value string `json:"value"`
	Count uint64 `json:"count"`
}

// SketchBuckets are a sketch's non-empty bucket runs.
type SketchBuckets struct {
	PosOffset int      `json:"positive_offset"`
	Pos       []uint64 `json:"positive"`
	NegOffset int      `json:"negative_offset"`
	Neg       []uint64 `json:"negative"`
	Zero      uint64   `json:"zero"`
}

// Sketch rebuilds the quantile sketch.
func (fb *FeatureBaseline) sketch(alpha float64) (*Sketch, error) {
	s, err := NewSketch(alpha)
	if err != nil {
		return nil, err
	}
	if fb.Sketch == nil {
		return s, nil
	}
	s.count += s.pos.load(fb.Sketch.PosOffset, fb.Sketch.Pos)
	s.count += s.neg.load(fb.Sketch.NegOffset, fb.Sketch.Neg)
	s.zero = fb.Sketch.Zero
	s.count += s.zero
	return s, nil
}

// Feature returns the named feature, or nil.
func (b *Baseline) Feature(name string) *FeatureBaseline {
	for i := range b.Features {
		if b.Features[i].Name == name {
			return &b.Features[i]
		}
	}
	return nil
}

// Spec returns the spec for profiling serving data of the feature against this
// baseline: its bins, its categories and the sketch accuracy.
func (b *Baseline) Spec(f *config.Feature, maxCategories int) Spec {
	spec := Spec{
		Name: f.Name, Type: f.Type, Nullable: f.Nullable, Min: f.Min, Max: f.Max,
		Categories: f.Categories, MaxCategories: maxCategories, RelativeAccuracy: b.RelativeAccuracy,
	}
	if fb := b.Feature(f.Name); fb != nil && fb.Type == f.Type {
		spec.Edges = fb.BinEdges
		if spec.Edges == nil && f.Type == config.Numeric {
			spec.Edges = []float64{}
		}
		for _, c := range fb.Categories {
			spec.Tracked = append(spec.Tracked, c.Value)
		}
	}
	return spec
}

// Write encodes the baseline as indented JSON.
func (b *Baseline) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(b); err != nil {
		return fmt.Errorf("writing baseline: %w", err)
	}
	return nil
}

// LoadBaseline reads a baseline file and checks its format version. A file that
// is not a baseline at all (another JSON document, a CSV given by mistake) is
// said to be so, rather than reported as a decoding error.
func LoadBaseline(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("opening baseline: %w", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: baseline file is empty", path)
	}
	if data[0] != '{' {
		return nil, fmt.Errorf("%s is not a Sentinel baseline: not a JSON object", path)
	}
	var b Baseline
	if !decodeBaseline(data, &b) {
		var err error
		if b, err = decodeBaselineJSON(path, data); err != nil {
			return nil, err
		}
	}
	if b.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%s: baseline format version %d is not supported (this sentinel reads version %d): rebuild it with 'sentinel baseline'", path, b.FormatVersion, FormatVersion)
	}
	if _, err := NewSketch(b.RelativeAccuracy); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	for i, fb := range b.Features {
		if fb.Name == "" {
			errs = append(errs, fmt.Errorf("features[%d]: no name", i))
		}
		switch fb.Type {
		case config.Numeric:
			if len(fb.BinCounts) != len(fb.BinEdges)+1 && fb.Finite > 0 {
				errs = append(errs, fmt.Errorf("features[%d] (%s): %d bin counts for %d edges", i, fb.Name, len(fb.BinCounts), len(fb.BinEdges)))
			}
		case config.Categorical, config.Boolean:
		default:
			errs = append(errs, fmt.Errorf("features[%d] (%s): unknown type %q", i, fb.Name, fb.Type))
		}
	}
	if c := b.Calibration; c != nil {
		if err := c.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("calibration: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &b, nil
}

// decodeBaselineJSON decodes a baseline file with encoding/json, in one
// pass: the version is kept raw beside the rest, and judged first, so that a
// file of another version or none says so rather than how its fields fail to
// fit. A syntax error stops decoding before any field.
func decodeBaselineJSON(path string, data []byte) (Baseline, error) {
	var file baselineFile
	err := json.Unmarshal(data, &file)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
		return Baseline{}, fmt.Errorf("%s: reading baseline: %s", path, describeJSONError(err, data))
	}
	version := file.Version
	if version == nil {
		return Baseline{}, fmt.Errorf("%s is not a Sentinel baseline: no format_version (baselines are written by 'sentinel baseline')", path)
	}
	b := file.Baseline
	if err := json.Unmarshal(version, &b.FormatVersion); err != nil {
		return Baseline{}, fmt.Errorf("%s is not a Sentinel baseline: format_version is %s, not a version number", path, version)
	}
	if b.FormatVersion != FormatVersion {
		return b, nil // said by the caller, before what the fields of another version make of this one
	}
	if err != nil {
		// Fields are named as in the file, not through baselineFile.
		if typ := (*json.UnmarshalTypeError)(nil); errors.As(err, &typ) {
			typ.Field = strings.TrimPrefix(typ.Field, "Baseline.")
		}
		return Baseline{}, fmt.Errorf("%s: reading baseline: %s", path, describeJSONError(err, data))
	}
	return b, nil
}

// baselineFile is a baseline file as decoded: its format_version raw, which
// shadows the Baseline's own, so that it is judged before the rest.
type baselineFile struct {
	Version json.RawMessage `json:"format_version"`
	Baseline
}

// describeJSONError says what is wrong with a baseline's JSON without the Go
// types encoding/json names.
func describeJSONError(err error, data []byte) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		if syntax.Offset >= int64(len(data)) {
			return "the JSON ends early (a truncated file?)"
		}
		return fmt.Sprintf("invalid JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typ):
		want := "a number"
		switch typ.Type.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			want = "a whole number"
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			want = "a count (a whole number, 0 or more)"
		case reflect.String:
			want = "a string"
		case reflect.Bool:
			want = "true or false"
		case reflect.Slice, reflect.Array:
			want = "a list"
		case reflect.Struct, reflect.Map:
			want = "an object"
		}
		field := typ.Field
		if field == "" {
			field = "the document"
		}
		return fmt.Sprintf("%s: %s at byte %d where %s belongs", field, jsonKind(typ.Value), typ.Offset, want)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends early (a truncated file?)"
	}
	return err.Error()
}

// jsonKind names the JSON value encoding/json reports in a type error.
func jsonKind(v string) string {
	switch {
	case v == "array":
		return "a list"
	case v == "object":
		return "an object"
	case v == "bool":
		return "true or false"
	case v == "string":
		return "a string"
	case strings.HasPrefix(v, "number"):
		return "a number (" + strings.TrimSpace(strings.TrimPrefix(v, "number")) + ")"
	}
	return v
}

// CheckContract reports whether c can be checked against b: the same model,
// and each feature the baseline has of the contract's type.
func (b *Baseline) CheckContract(c *config.Contract) error {
	var errs []error
	if b.Model != "" && b.Model != c.Model {
		errs = append(errs, fmt.Errorf("the baseline is of model %q, the contract of %q", b.Model, c.Model))
	}
	for _, f := range c.Features {
		if fb := b.Feature(f.Name); fb != nil && fb.Type != f.Type {
			errs = append(errs, fmt.Errorf("feature %s is %s in the contract but %s in the baseline", f.Name, f.Type, fb.Type))
		}
	}
	if b.Calibration != nil && (c.Prediction == nil || c.Prediction.Kind != config.Probability) {
		errs = append(errs, errors.New("the baseline calibrates probabilities, but the contract's prediction kind is not probability"))
	}
	return errors.Join(errs...)
}

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

// Contract is the contract assumed when the user gives none: the baseline's
// features, all nullable and unbounded, with the default drift rule.
func (b *Baseline) Contract() *config.Contract {
	c := &config.Contract{Model: b.Model}
	for _, fb := range b.Features {
		c.Features = append(c.Features, config.Feature{Name: fb.Name, Type: fb.Type, Nullable: true})
	}
	c.ApplyDefaults()
	return c
}
