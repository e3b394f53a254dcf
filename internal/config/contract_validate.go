package config

import (
	"fmt"
	"math"
)

// The rules a contract must keep. They run after ApplyDefaults, so they judge
// the values the daemon will use, and every problem is collected rather than
// the first returned: a contract author fixes them in one pass.

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
	c.validateVersions(&p)
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
