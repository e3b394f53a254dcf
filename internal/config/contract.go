// Package config reads Sentinel's YAML files: per-model data contracts (and, later,
// the daemon's sentinel.yaml). Files are read strictly: an unknown key is an error,
// because a misspelt threshold that is silently ignored is a monitor that never
// fires.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// FeatureType is how a feature's values are read and compared.
type FeatureType string

// Feature types.
const (
	Numeric     FeatureType = "numeric"
	Categorical FeatureType = "categorical"
	Boolean     FeatureType = "boolean"
)

// PredictionKind says what a model's prediction is, which decides the label-based
// quality metrics and numerical checks that apply.
type PredictionKind string

// Prediction kinds.
const (
	Probability PredictionKind = "probability"
	Score       PredictionKind = "score"
	Class       PredictionKind = "class"
	Regression  PredictionKind = "regression"
)

// DriftMethod names the statistic a feature's drift rule compares with its threshold.
type DriftMethod string

// Drift methods. For the p-value methods drift means a value below the threshold;
// for the others, above it.
const (
	PSI               DriftMethod = "psi"
	JSDivergence      DriftMethod = "js_divergence"
	LInfinity         DriftMethod = "l_infinity"
	KSPValue          DriftMethod = "ks_p_value"
	WassersteinNormed DriftMethod = "wasserstein_normed"
	Chi2PValue        DriftMethod = "chi2_p_value"
)

// DefaultThreshold returns the method's threshold when the contract gives none, and
// false for an unknown method. They are the usual rules of thumb: PSI 0.2 is
// "significant shift" in credit-scoring practice; 0.01 is a conventional
// significance level.
func (m DriftMethod) DefaultThreshold() (float64, bool) {
	switch m {
	case PSI:
		return 0.2, true
	case JSDivergence, LInfinity, WassersteinNormed:
		return 0.1, true
	case KSPValue, Chi2PValue:
		return 0.01, true
	}
	return 0, false
}

// Below reports whether drift is a value below the threshold (p-values) rather than
// above it (distances).
func (m DriftMethod) Below() bool { return m == KSPValue || m == Chi2PValue }

func (m DriftMethod) appliesTo(t FeatureType) bool {
	switch m {
	case KSPValue, WassersteinNormed:
		return t == Numeric
	case LInfinity, Chi2PValue:
		return t != Numeric
	}
	return true
}

// DefaultMaxCategories bounds the category counts kept per feature.
const DefaultMaxCategories = 100

// Contract is one model's data contract.
type Contract struct {
	Model         string        `yaml:"model"`
	ModelVersion  string        `yaml:"model_version,omitempty"`
	TrainedAt     time.Time     `yaml:"trained_at,omitempty"`
	Prediction    *Prediction   `yaml:"prediction,omitempty"`
	Seasonality   time.Duration `yaml:"seasonality,omitempty"`
	Drift         DriftRule     `yaml:"drift,omitempty"`
	MaxCategories int           `yaml:"max_categories,omitempty"`
	Features      []Feature     `yaml:"features"`
}

// Prediction describes the model's output.
type Prediction struct {
	Kind PredictionKind `yaml:"kind"`
	// Classes lists the labels of a class prediction.
	Classes []string `yaml:"classes,omitempty"`
}

// DriftRule says when a feature has drifted.
type DriftRule struct {
	Method    DriftMethod `yaml:"method,omitempty"`
	Threshold *float64    `yaml:"threshold,omitempty"`
}

// Feature is one input of the model.
type Feature struct {
	Name       string      `yaml:"name"`
	Type       FeatureType `yaml:"type"`
	Nullable   bool        `yaml:"nullable,omitempty"`
	Min        *float64    `yaml:"min,omitempty"`
	Max        *float64    `yaml:"max,omitempty"`
	Categories []string    `yaml:"categories,omitempty"`
	// MaxNullRate is the largest share of nulls that is not a violation; only
	// meaningful with nullable: true, since any null breaks a non-nullable feature.
	MaxNullRate *float64  `yaml:"max_null_rate,omitempty"`
	Drift       DriftRule `yaml:"drift,omitempty"`
}

// LoadContract reads and validates a contract file.
func LoadContract(path string) (*Contract, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading contract: %w", err)
	}
	c, err := ParseContract(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseContract decodes a contract strictly, applies defaults and validates it.
func ParseContract(data []byte) (*Contract, error) {
	var c Contract
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("contract is empty")
		}
		return nil, fmt.Errorf("parsing contract: %w", err)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ApplyDefaults fills in what the contract leaves out: the category bound and each
// feature's drift rule (the model-wide rule, else PSI above 0.2).
func (c *Contract) ApplyDefaults() {
	if c.MaxCategories == 0 {
		c.MaxCategories = DefaultMaxCategories
	}
	if c.Drift.Method == "" {
		c.Drift.Method = PSI
	}
	if c.Drift.Threshold == nil {
		if t, ok := c.Drift.Method.DefaultThreshold(); ok {
			c.Drift.Threshold = &t
		}
	}
	for i := range c.Features {
		f := &c.Features[i]
		if f.Drift.Method == "" {
			f.Drift.Method = c.Drift.Method
			if f.Drift.Threshold == nil {
				f.Drift.Threshold = c.Drift.Threshold
			}
			// A model-wide method that cannot apply to this type (say, KS for a
			// categorical feature) falls back to PSI, which applies to every type.
			if !f.Drift.Method.appliesTo(f.Type) {
				f.Drift.Method = PSI
				f.Drift.Threshold = nil
			}
		}
		if f.Drift.Threshold == nil {
			if t, ok := f.Drift.Method.DefaultThreshold(); ok {
				f.Drift.Threshold = &t
			}
		}
	}
}

// Validate reports every problem of the contract, each naming its field and value.
func (c *Contract) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Model == "" {
		bad("model", "is required")
	}
	if c.Prediction != nil {
		switch c.Prediction.Kind {
		case Probability, Score, Class, Regression:
		default:
			bad("prediction.kind", "unknown kind %q (want probability, score, class or regression)", c.Prediction.Kind)
		}
	}
	if c.Seasonality < 0 {
		bad("seasonality", "must not be negative, got %s", c.Seasonality)
	}
	if c.MaxCategories < 1 {
		bad("max_categories", "must be at least 1, got %d", c.MaxCategories)
	}
	validateRule("drift", c.Drift, "", bad)
	if len(c.Features) == 0 {
		bad("features", "at least one feature is required")
	}
	seen := make(map[string]int, len(c.Features))
	for i, f := range c.Features {
		field := fmt.Sprintf("features[%d]", i)
		if f.Name != "" {
			field = fmt.Sprintf("features[%d] (%s)", i, f.Name)
		}
		if f.Name == "" {
			bad(field+".name", "is required")
		} else if j, dup := seen[f.Name]; dup {
			bad(field+".name", "duplicate feature %q, first defined at features[%d]", f.Name, j)
		} else {
			seen[f.Name] = i
		}
		switch f.Type {
		case Numeric, Categorical, Boolean:
		case "":
			bad(field+".type", "is required (numeric, categorical or boolean)")
		default:
			bad(field+".type", "unknown type %q (want numeric, categorical or boolean)", f.Type)
		}
		if f.Type != Numeric && (f.Min != nil || f.Max != nil) {
			bad(field, "min and max apply only to numeric features, not %s", f.Type)
		}
		for name, v := range map[string]*float64{"min": f.Min, "max": f.Max} {
			if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
				bad(field+"."+name, "must be a finite number, got %v", *v)
			}
		}
		if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			bad(field, "min %v is greater than max %v", *f.Min, *f.Max)
		}
		if len(f.Categories) > 0 && f.Type != Categorical {
			bad(field+".categories", "apply only to categorical features, not %s", f.Type)
		}
		cats := make(map[string]bool, len(f.Categories))
		for _, cat := range f.Categories {
			if cats[cat] {
				bad(field+".categories", "duplicate category %q", cat)
			}
			cats[cat] = true
		}
		if r := f.MaxNullRate; r != nil {
			if !(*r >= 0 && *r <= 1) {
				bad(field+".max_null_rate", "must be in [0, 1], got %v", *r)
			} else if !f.Nullable {
				bad(field+".max_null_rate", "is set but the feature is not nullable")
			}
		}
		validateRule(field+".drift", f.Drift, f.Type, bad)
	}
	return errors.Join(errs...)
}

func validateRule(field string, r DriftRule, t FeatureType, bad func(string, string, ...any)) {
	if _, ok := r.Method.DefaultThreshold(); !ok {
		bad(field+".method", "unknown method %q (want psi, js_divergence, l_infinity, ks_p_value, wasserstein_normed or chi2_p_value)", r.Method)
		return
	}
	if t != "" && !r.Method.appliesTo(t) {
		bad(field+".method", "%s does not apply to %s features", r.Method, t)
	}
	if r.Threshold != nil && (math.IsNaN(*r.Threshold) || *r.Threshold < 0) {
		bad(field+".threshold", "must be a non-negative number, got %v", *r.Threshold)
	}
	if r.Threshold != nil && r.Method.Below() && *r.Threshold > 1 {
		bad(field+".threshold", "a p-value threshold must be in [0, 1], got %v", *r.Threshold)
	}
}

// Feature returns the named feature, or nil.
func (c *Contract) Feature(name string) *Feature {
	for i := range c.Features {
		if c.Features[i].Name == name {
			return &c.Features[i]
		}
	}
	return nil
}

// Marshal renders the contract as YAML.
func (c *Contract) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encoding contract: %w", err)
	}
	return buf.Bytes(), enc.Close()
}
