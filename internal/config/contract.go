// Package config reads Sentinel's YAML files: per-model data contracts and the
// daemon's sentinel.yaml. Files are read strictly: an unknown key is an error,
// because a misspelt threshold that is silently ignored is a monitor that never
// fires. Every problem is reported in the file's own terms: the line, the key's
// path, what is allowed there.
package config

import (
	"bytes"
	"fmt"
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

// Built-in tolerances, used when neither the feature nor the contract's defaults
// give one. Each is the share of a window's values that may break the rule
// before the window is in breach; the daemon treats it as the rate expected of
// healthy traffic and flags a window whose count is significantly above rate × n.
//
// Out-of-range values and unknown categories occur in healthy traffic: a range
// or category list written from a training sample misses the rare tail value and
// the rare category, so one in a thousand is tolerated. A value of the wrong
// type is never healthy: it is a producer sending what the model cannot read,
// so none is tolerated.
const (
	DefaultMaxOutOfRangeRate      = 0.001
	DefaultMaxUnknownCategoryRate = 0.001
	DefaultMaxWrongTypeRate       = 0.0
)

// Severity says how urgently a breach needs a person: it becomes the alert's
// severity label. Empty leaves each alert its own default.
type Severity string

// Severities.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// Contract is one model's data contract.
type Contract struct {
	Model         string        `yaml:"model"`
	ModelVersion  string        `yaml:"model_version,omitempty"`
	TrainedAt     time.Time     `yaml:"trained_at,omitempty"`
	Prediction    *Prediction   `yaml:"prediction,omitempty"`
	Seasonality   time.Duration `yaml:"seasonality,omitempty"`
	Drift         DriftRule     `yaml:"drift,omitempty"`
	MaxCategories int           `yaml:"max_categories,omitempty"`
	// Severity is every feature's severity unless the feature sets its own.
	Severity Severity `yaml:"severity,omitempty"`
	// Defaults are the tolerances of the features that set none.
	Defaults Tolerances `yaml:"defaults,omitempty"`
	// Versions, Shadow and Canary turn on the checks of the model's versions
	// (contract_versions.go, contract_canary.go).
	Versions *Versions `yaml:"versions,omitempty"`
	Shadow   *Shadow   `yaml:"shadow,omitempty"`
	Canary   *Canary   `yaml:"canary,omitempty"`
	Features []Feature `yaml:"features"`
}

// Tolerances are the shares of a window's values that may break a rule before
// the window is in breach, each in [0, 1]. A feature's own value wins over the
// contract's defaults, which win over the built-in ones.
type Tolerances struct {
	// MaxNullRate applies to nullable features only: any null breaks a feature
	// that is not nullable. It has no built-in default (a nullable feature's
	// nulls are then not limited).
	MaxNullRate *float64 `yaml:"max_null_rate,omitempty"`
	// MaxOutOfRangeRate applies to numeric features with a min or a max.
	MaxOutOfRangeRate *float64 `yaml:"max_out_of_range_rate,omitempty"`
	// MaxUnknownCategoryRate applies to categorical features that list their
	// categories.
	MaxUnknownCategoryRate *float64 `yaml:"max_unknown_category_rate,omitempty"`
	// MaxWrongTypeRate applies to every feature.
	MaxWrongTypeRate *float64 `yaml:"max_wrong_type_rate,omitempty"`
}

// Prediction describes the model's output.
type Prediction struct {
	Kind PredictionKind `yaml:"kind"`
	// Classes lists the labels of a class prediction.
	Classes []string `yaml:"classes,omitempty"`
	// Column and LabelColumn name the columns of the data `sentinel baseline`
	// reads that hold, row by row, the model's probability and the ground
	// truth (0 or 1): with both, the baseline learns the calibration that
	// estimates the model's quality before labels arrive. Probability
	// predictions only; both or neither.
	Column      string `yaml:"column,omitempty"`
	LabelColumn string `yaml:"label_column,omitempty"`
	// MaxQualityGap is how far realised accuracy and AUC may fall below their
	// estimates before the window is in breach (significantly, for the labels
	// it has). It applies with LabelColumn, and defaults there to
	// DefaultMaxQualityGap.
	MaxQualityGap *float64 `yaml:"max_quality_gap,omitempty"`
}

// DefaultMaxQualityGap is the tolerated shortfall of realised quality below
// its estimate: five points of accuracy or AUC, more than a calibration
// learnt from a few thousand rows is off by, less than a concept drift worth
// knowing of costs.
const DefaultMaxQualityGap = 0.05

// Calibrated reports whether the contract names the columns a calibration is
// learnt from.
func (p *Prediction) Calibrated() bool { return p != nil && p.LabelColumn != "" }

// QualityGap is the tolerated shortfall of realised quality below its
// estimate.
func (p *Prediction) QualityGap() float64 {
	if p != nil && p.MaxQualityGap != nil {
		return *p.MaxQualityGap
	}
	return DefaultMaxQualityGap
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
	// Tolerances, after ApplyDefaults, hold the effective value of each tolerance
	// that applies to the feature and nil for those that do not (no min or max,
	// no category list, not nullable): the checks read them from here alone.
	Tolerances `yaml:",inline"`
	Drift      DriftRule `yaml:"drift,omitempty"`
	// Severity, after ApplyDefaults, is the feature's own or the contract's; a
	// feature not worth waking anyone for is marked warning or info.
	Severity Severity `yaml:"severity,omitempty"`
}

// LoadContract reads and validates a contract file. Its error, a *Problems,
// names the file on every line.
func LoadContract(path string) (*Contract, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading contract: %w", err)
	}
	return parseContract(data, path)
}

// ParseContract decodes a contract strictly, applies defaults and validates it.
func ParseContract(data []byte) (*Contract, error) { return parseContract(data, "") }

func parseContract(data []byte, file string) (*Contract, error) {
	var c Contract
	lines, err := decodeStrict(data, &c, "contract")
	if err != nil {
		return nil, locate(err, file, nil)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, locate(err, file, lines)
	}
	return &c, nil
}

// ApplyDefaults fills in what the contract leaves out: the category bound and each
// feature's drift rule (the model-wide rule, else PSI above 0.2).
func (c *Contract) ApplyDefaults() {
	if c.MaxCategories == 0 {
		c.MaxCategories = DefaultMaxCategories
	}
	if p := c.Prediction; p.Calibrated() && p.MaxQualityGap == nil {
		gap := DefaultMaxQualityGap
		p.MaxQualityGap = &gap
	}
	c.applyVersionDefaults()
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
		c.resolveTolerances(f)
		if f.Severity == "" {
			f.Severity = c.Severity
		}
	}
}

// resolveTolerances gives f the effective value of each tolerance that applies
// to it, and leaves the others nil.
func (c *Contract) resolveTolerances(f *Feature) {
	pick := func(own, contract *float64, builtIn float64) *float64 {
		switch {
		case own != nil:
			return own
		case contract != nil:
			// Shared, not copied: Validate reports a bad default once, at
			// defaults, rather than again at every feature that inherits it.
			return contract
		}
		return &builtIn
	}
	d := c.Defaults
	if f.Nullable && f.MaxNullRate == nil {
		f.MaxNullRate = d.MaxNullRate
	}
	if f.Type == Numeric && (f.Min != nil || f.Max != nil) {
		f.MaxOutOfRangeRate = pick(f.MaxOutOfRangeRate, d.MaxOutOfRangeRate, DefaultMaxOutOfRangeRate)
	}
	if f.Type == Categorical && len(f.Categories) > 0 {
		f.MaxUnknownCategoryRate = pick(f.MaxUnknownCategoryRate, d.MaxUnknownCategoryRate, DefaultMaxUnknownCategoryRate)
	}
	f.MaxWrongTypeRate = pick(f.MaxWrongTypeRate, d.MaxWrongTypeRate, DefaultMaxWrongTypeRate)
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
