// Package skew compares serving data with the training baseline: the distribution
// statistics of each feature, its drift rule, contract violations and schema skew.
package skew

import (
	"fmt"
	"math"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/stats"
)

// Report is the result of comparing a sample with a baseline. Its JSON names are
// part of Sentinel's interface: fields may be added, never renamed.
type Report struct {
	Model string `json:"model"`
	Rows  uint64 `json:"rows"`
	// RowErrors counts rows that could not be read, by reason.
	RowErrors map[string]uint64 `json:"row_errors,omitempty"`
	// RowsWithExtraCells counts CSV rows longer than the header.
	RowsWithExtraCells uint64   `json:"rows_with_extra_cells,omitempty"`
	Drifted            []string `json:"drifted"`
	Violated           []string `json:"violated"`
	// UnexpectedFeatures are fields the contract does not list, with their counts
	// (schema skew); UnexpectedOther counts those past the bound on names.
	UnexpectedFeatures map[string]uint64 `json:"unexpected_features,omitempty"`
	UnexpectedOther    uint64            `json:"unexpected_other,omitempty"`
	// NotInBaseline lists contract features the baseline lacks: no skew statistic
	// can be computed for them.
	NotInBaseline []string `json:"not_in_baseline,omitempty"`
	// RowErrorLines holds, per reason of RowErrors, the first lines it struck.
	RowErrorLines map[string][]int `json:"row_error_lines,omitempty"`
	// MinSamples is the fewest values either side needs for the distribution
	// statistics of a feature to be computed.
	MinSamples int             `json:"min_samples"`
	Features   []FeatureReport `json:"features"`
}

// Options tune Compare.
type Options struct {
	// MinSamples: below it on either side, a feature's distribution checks are
	// skipped, not judged; a handful of values makes PSI and friends noise.
	MinSamples int
	// Unreadable are the input's unreadable rows, for their first lines.
	Unreadable []dataset.Unreadable
}

// Skipped says why a feature's distribution checks were not run.
type Skipped struct {
	Reason string `json:"reason"` // too_few_samples
	// Side is "sample" or "baseline": the side with too few values.
	Side       string `json:"side"`
	Values     uint64 `json:"values"`
	MinSamples int    `json:"min_samples"`
}

// FeatureReport is one feature's result. Statistics that do not apply to the
// feature's type, or that its data cannot define, are absent.
type FeatureReport struct {
	Name string             `json:"name"`
	Type config.FeatureType `json:"type"`
	// Count is the rows that had the feature, nulls included.
	Count    uint64  `json:"count"`
	NullRate float64 `json:"null_rate"`
	NaNRate  float64 `json:"nan_rate"`
	InfRate  float64 `json:"inf_rate"`

	PSI               *float64 `json:"psi,omitempty"`
	JSDivergence      *float64 `json:"js_divergence,omitempty"`
	KSStatistic       *float64 `json:"ks_statistic,omitempty"`
	KSPValue          *float64 `json:"ks_p_value,omitempty"`
	Wasserstein       *float64 `json:"wasserstein,omitempty"`
	WassersteinNormed *float64 `json:"wasserstein_normed,omitempty"`
	LInfinity         *float64 `json:"l_infinity,omitempty"`
	LInfinityValue    *string  `json:"l_infinity_value,omitempty"`
	Chi2Statistic     *float64 `json:"chi2_statistic,omitempty"`
	Chi2PValue        *float64 `json:"chi2_p_value,omitempty"`
	// NewCategories is present, possibly empty, for every categorical feature
	// compared, so a consumer need not tell "none" from "not computed".
	NewCategories *[]string `json:"new_categories,omitempty"`

	Violations  map[string]uint64  `json:"violations"`
	Drift       bool               `json:"drift"`
	DriftMethod config.DriftMethod `json:"drift_method"`
	// Threshold is what DriftValue was compared with: the contract's, or what
	// chance alone reaches at the samples' sizes when that is further (see
	// Threshold).
	Threshold float64 `json:"threshold"`
	// DriftValue is the statistic the drift rule compared, absent when it could not
	// be computed (no baseline, no values).
	DriftValue *float64 `json:"drift_value,omitempty"`
	// Skipped is present when the distribution checks were not run.
	Skipped *Skipped `json:"skipped,omitempty"`
}

// Compare checks the profiled sample against the baseline under the contract.
func Compare(c *config.Contract, b *profile.Baseline, set *profile.Set, opts Options) (*Report, error) {
	r := &Report{
		Model: c.Model, Rows: set.Records, RowsWithExtraCells: set.ExtraCells,
		Drifted: []string{}, Violated: []string{}, UnexpectedOther: set.UnexpectedOther, MinSamples: opts.MinSamples,
	}
	if len(set.RowErrors) > 0 {
		r.RowErrors = set.RowErrors
	}
	for _, u := range opts.Unreadable {
		if r.RowErrorLines == nil {
			r.RowErrorLines = make(map[string][]int)
		}
		r.RowErrorLines[u.Reason] = u.Lines
	}
	if len(set.Unexpected) > 0 {
		r.UnexpectedFeatures = set.Unexpected
	}
	for i := range c.Features {
		cf := &c.Features[i]
		f := set.Feature(cf.Name)
		if f == nil {
			return nil, fmt.Errorf("feature %s: not profiled", cf.Name)
		}
		fr := FeatureReport{
			Name: cf.Name, Type: cf.Type, Count: f.Rows - f.Violations[profile.Missing],
			NullRate: f.Rate(f.Nulls), NaNRate: f.Rate(f.NaN), InfRate: f.Rate(f.PosInf + f.NegInf),
			Violations: f.ViolationCounts(), DriftMethod: cf.Drift.Method, Threshold: *cf.Drift.Threshold,
		}
		if cf.MaxNullRate != nil && fr.NullRate > *cf.MaxNullRate {
			fr.Violations["null_rate_above_max"] = f.Nulls
		}
		fb := b.Feature(cf.Name)
		switch {
		case fb == nil:
			r.NotInBaseline = append(r.NotInBaseline, cf.Name)
		case fb.Type != cf.Type:
			return nil, fmt.Errorf("feature %s is %s in the contract but %s in the baseline", cf.Name, cf.Type, fb.Type)
		default:
			ref, err := b.Distribution(fb)
			if err != nil {
				return nil, err
			}
			cur := f.Distribution()
			if fr.Skipped = tooFew(ref.N, cur.N, opts.MinSamples); fr.Skipped != nil {
				break
			}
			var c stats.Comparison
			if cf.Type == config.Numeric {
				c = stats.CompareNumeric(ref, cur)
			} else {
				c = stats.CompareCategorical(ref, cur)
			}
			fr.fill(c, cf.Type == config.Numeric)
			fr.DriftValue = finite(Statistic(c, cf.Drift.Method))
			fr.Threshold = Threshold(cf.Drift, ref, cur)
		}
		if v := fr.DriftValue; v != nil {
			if cf.Drift.Method.Below() {
				fr.Drift = *v < fr.Threshold
			} else {
				fr.Drift = *v > fr.Threshold
			}
		}
		if fr.Drift {
			r.Drifted = append(r.Drifted, fr.Name)
		}
		if len(fr.Violations) > 0 {
			r.Violated = append(r.Violated, fr.Name)
		}
		r.Features = append(r.Features, fr)
	}
	return r, nil
}

// tooFew returns why a feature's distribution checks are skipped, or nil.
func tooFew(baseline, sample float64, minSamples int) *Skipped {
	switch {
	case sample < float64(minSamples):
		return &Skipped{Reason: "too_few_samples", Side: "sample", Values: uint64(sample), MinSamples: minSamples}
	case baseline < float64(minSamples):
		return &Skipped{Reason: "too_few_samples", Side: "baseline", Values: uint64(baseline), MinSamples: minSamples}
	}
	return nil
}

// NoiseAlpha is how often chance alone may breach one distribution check of
// healthy data: a feature's window has up to three (skew, drift against the
// previous window and against the reference period), so at most about 0.3%
// of its windows are flagged by sampling noise, whatever their size.
const NoiseAlpha = 0.001

// Threshold is the rule's threshold for comparing cur with ref: the
// contract's, raised (for a p-value, lowered) to what two samples of their
// sizes reach by chance in NoiseAlpha of comparisons. Two windows of 500
// values of one distribution differ by a normed Wasserstein distance above
// 0.1 in 15-20% of cases, so the contract's 0.1 alone would flag healthy
// traffic; a change of the contract's size still breaches once the samples
// hold enough data to tell it from noise.
func Threshold(rule config.DriftRule, ref, cur stats.Distribution) float64 {
	return stats.EffectiveThreshold(stats.Method(rule.Method), *rule.Threshold, ref, cur, NoiseAlpha)
}

// Statistic returns the comparison's value of a drift method's statistic.
func Statistic(c stats.Comparison, m config.DriftMethod) float64 {
	switch m {
	case config.PSI:
		return c.PSI
	case config.JSDivergence:
		return c.JSDivergence
	case config.LInfinity:
		return c.LInfinity
	case config.KSPValue:
		return c.KSPValue
	case config.WassersteinNormed:
		return c.WassersteinNormed
	case config.Chi2PValue:
		return c.Chi2PValue
	}
	return math.NaN()
}

// fill copies the comparison into the report, leaving out what is undefined.
func (fr *FeatureReport) fill(c stats.Comparison, numeric bool) {
	fr.PSI = finite(c.PSI)
	fr.JSDivergence = finite(c.JSDivergence)
	if numeric {
		fr.KSStatistic = finite(c.KSStatistic)
		fr.KSPValue = finite(c.KSPValue)
		fr.Wasserstein = finite(c.Wasserstein)
		fr.WassersteinNormed = finite(c.WassersteinNormed)
		return
	}
	fr.LInfinity = finite(c.LInfinity)
	if fr.LInfinity != nil {
		fr.LInfinityValue = &c.LInfinityValue
	}
	fr.Chi2Statistic = finite(c.Chi2Statistic)
	fr.Chi2PValue = finite(c.Chi2PValue)
	newCategories := append([]string{}, c.NewCategories...)
	fr.NewCategories = &newCategories
}

// finite returns a pointer to x, or nil for NaN and ±Inf, which JSON cannot hold.
func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}
