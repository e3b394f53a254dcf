// Package config reads Sentinel's YAML files: per-model data contracts and the
// daemon's sentinel.yaml. Files are read strictly: an unknown key is an error,
// because a misspelt threshold that is silently ignored is a monitor that never
// fires. Every problem is reported in the file's own terms: the line, the key's
// path, what is allowed there.
package config

import (
	"bytes"
	"fmt"
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
	Features []Feature  `yaml:"features"`
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

// Validate reports every problem of the contract, each naming its field and
// value. Its error is a *Problems.
func (c *Contract) Validate() error {
	var p problemList
	if c.Model == "" {
		p.add("model", "is required")
	}
	if c.Prediction != nil {
		switch c.Prediction.Kind {
		case Probability, Score, Class, Regression:
		default:
			p.add("prediction.kind", "unknown kind %q (want probability, score, class or regression)", c.Prediction.Kind)
		}
		c.validateCalibration(&p)
	}
	if c.Seasonality < 0 {
		p.add("seasonality", "must not be negative, got %s", c.Seasonality)
	}
	if c.MaxCategories < 1 {
		p.add("max_categories", "must be at least 1, got %d", c.MaxCategories)
	}
	validateSeverity(&p, "severity", c.Severity)
	validateRule(&p, "drift", c.Drift, "")
	d := c.Defaults
	for _, r := range []struct {
		key string
		v   *float64
	}{{"max_null_rate", d.MaxNullRate}, {"max_out_of_range_rate", d.MaxOutOfRangeRate},
		{"max_unknown_category_rate", d.MaxUnknownCategoryRate}, {"max_wrong_type_rate", d.MaxWrongTypeRate}} {
		validateRate(&p, "defaults."+r.key, r.v)
	}
	if len(c.Features) == 0 {
		p.add("features", "at least one feature is required")
	}
	seen := make(map[string]int, len(c.Features))
	for i := range c.Features {
		c.validateFeature(&p, i, seen)
	}
	return p.err()
}

// validateCalibration checks the columns a calibration is learnt from and
// the gap its estimates tolerate.
func (c *Contract) validateCalibration(p *problemList) {
	pr := c.Prediction
	switch {
	case pr.Column != "" && pr.LabelColumn == "":
		p.add("prediction.column", "is set without prediction.label_column: a calibration needs both")
	case pr.Column == "" && pr.LabelColumn != "":
		p.add("prediction.label_column", "is set without prediction.column: a calibration needs both")
	case pr.Column != "" && pr.Column == pr.LabelColumn:
		p.add("prediction.label_column", "is the prediction's column %q too", pr.Column)
	}
	if (pr.Column != "" || pr.LabelColumn != "") && pr.Kind != Probability && pr.Kind != "" {
		p.add("prediction.kind", "is %s, but a calibration (prediction.column, prediction.label_column) applies to probability predictions only", pr.Kind)
	}
	for _, col := range []struct{ key, name string }{{"column", pr.Column}, {"label_column", pr.LabelColumn}} {
		if col.name != "" && c.Feature(col.name) != nil {
			p.add("prediction."+col.key, "%q is a feature of the contract; the model's output and its ground truth are not its inputs", col.name)
		}
	}
	if g := pr.MaxQualityGap; g != nil {
		switch {
		case !(*g > 0 && *g <= 1):
			p.add("prediction.max_quality_gap", "must be in (0, 1], got %v", *g)
		case pr.LabelColumn == "":
			p.add("prediction.max_quality_gap", "is set without prediction.label_column: without a calibration there is no estimate to fall short of")
		}
	}
}

func (c *Contract) validateFeature(p *problemList, i int, seen map[string]int) {
	f := &c.Features[i]
	field := fmt.Sprintf("features[%d]", i)
	if f.Name != "" {
		field = fmt.Sprintf("features[%d] (%s)", i, f.Name)
	}
	if f.Name == "" {
		p.add(field+".name", "is required")
	} else if j, dup := seen[f.Name]; dup {
		p.add(field+".name", "duplicate feature %q, first defined at features[%d]", f.Name, j)
	} else {
		seen[f.Name] = i
	}
	switch f.Type {
	case Numeric, Categorical, Boolean:
	case "":
		p.add(field+".type", "is required (numeric, categorical or boolean)")
	default:
		p.add(field+".type", "unknown type %q (want numeric, categorical or boolean)", f.Type)
	}
	if f.Type != Numeric && (f.Min != nil || f.Max != nil) {
		p.add(field, "min and max apply only to numeric features, not %s", f.Type)
	}
	for _, b := range []struct {
		key string
		v   *float64
	}{{"min", f.Min}, {"max", f.Max}} {
		if b.v != nil && (math.IsNaN(*b.v) || math.IsInf(*b.v, 0)) {
			p.add(field+"."+b.key, "must be a finite number, got %v", *b.v)
		}
	}
	if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
		p.add(field, "min %v is greater than max %v", *f.Min, *f.Max)
	}
	if len(f.Categories) > 0 && f.Type != Categorical {
		p.add(field+".categories", "apply only to categorical features, not %s", f.Type)
	}
	cats := make(map[string]bool, len(f.Categories))
	for _, cat := range f.Categories {
		if cats[cat] {
			p.add(field+".categories", "duplicate category %q", cat)
		}
		cats[cat] = true
	}
	d := c.Defaults
	// A value shared with the defaults was inherited and is judged there.
	own := func(v, def *float64) *float64 {
		if v == def {
			return nil
		}
		return v
	}
	if r := own(f.MaxNullRate, d.MaxNullRate); r != nil && validateRate(p, field+".max_null_rate", r) && !f.Nullable {
		p.add(field+".max_null_rate", "is set but the feature is not nullable")
	}
	if r := own(f.MaxOutOfRangeRate, d.MaxOutOfRangeRate); r != nil && validateRate(p, field+".max_out_of_range_rate", r) {
		switch {
		case f.Type != Numeric:
			p.add(field+".max_out_of_range_rate", "applies only to numeric features, not %s", f.Type)
		case f.Min == nil && f.Max == nil:
			p.add(field+".max_out_of_range_rate", "is set but the feature has neither min nor max")
		}
	}
	if r := own(f.MaxUnknownCategoryRate, d.MaxUnknownCategoryRate); r != nil && validateRate(p, field+".max_unknown_category_rate", r) {
		switch {
		case f.Type != Categorical:
			p.add(field+".max_unknown_category_rate", "applies only to categorical features, not %s", f.Type)
		case len(f.Categories) == 0:
			p.add(field+".max_unknown_category_rate", "is set but the feature lists no categories")
		}
	}
	validateRate(p, field+".max_wrong_type_rate", own(f.MaxWrongTypeRate, d.MaxWrongTypeRate))
	if f.Severity != c.Severity {
		validateSeverity(p, field+".severity", f.Severity)
	}
	rule := f.Drift
	if rule.Threshold == c.Drift.Threshold {
		rule.Threshold = nil // the model-wide threshold, judged at drift.threshold
	}
	validateRule(p, field+".drift", rule, f.Type)
}

// validateRate reports a tolerance outside [0, 1]; it returns whether v is
// absent or valid.
func validateRate(p *problemList, field string, v *float64) bool {
	if v != nil && !(*v >= 0 && *v <= 1) {
		p.add(field, "must be a share in [0, 1], got %v", *v)
		return false
	}
	return true
}

func validateSeverity(p *problemList, field string, s Severity) {
	switch s {
	case "", Critical, Warning, Info:
	default:
		p.add(field, "unknown severity %q (want critical, warning or info)", s)
	}
}

func validateRule(p *problemList, field string, r DriftRule, t FeatureType) {
	if _, ok := r.Method.DefaultThreshold(); !ok {
		p.add(field+".method", "unknown method %q (want psi, js_divergence, l_infinity, ks_p_value, wasserstein_normed or chi2_p_value)", r.Method)
		return
	}
	if t != "" && !r.Method.appliesTo(t) {
		p.add(field+".method", "%s does not apply to %s features", r.Method, t)
	}
	if r.Threshold != nil && (math.IsNaN(*r.Threshold) || *r.Threshold < 0) {
		p.add(field+".threshold", "must be a non-negative number, got %v", *r.Threshold)
	}
	if r.Threshold != nil && r.Method.Below() && *r.Threshold > 1 {
		p.add(field+".threshold", "a p-value threshold must be in [0, 1], got %v", *r.Threshold)
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
