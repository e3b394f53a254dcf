package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
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
	var l BaselineLoader
	return l.Load(path)
}

// BaselineLoader reads baselines one after another through one buffer: a
// fleet's files are a megabyte or more each, and read into fresh memory a
// hundred of them spent a tenth of the start-up faulting its pages in. A
// Baseline keeps nothing of the buffer.
type BaselineLoader struct{ buf bytes.Buffer }

// Load is LoadBaseline through l's buffer.
func (l *BaselineLoader) Load(path string) (*Baseline, error) {
	data, err := l.read(path)
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

// read reads the file at path into l's buffer.
func (l *BaselineLoader) read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l.buf.Reset()
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		// Room for the file and the read that finds its end.
		l.buf.Grow(int(st.Size()) + bytes.MinRead)
	}
	if _, err := l.buf.ReadFrom(f); err != nil {
		return nil, err
	}
	return l.buf.Bytes(), nil
}
