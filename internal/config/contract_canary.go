package config

// Canary compares a version that takes a slice of the traffic (the
// candidate) with the version serving the rest (the reference), window by
// window: its predictions' distribution, error, NaN and latency, its quality
// once labels arrive, and whether the two saw the same inputs. Both versions
// are profiled separately, features included, so a canary costs about a
// second profile of the model's events while the contract has it.
type Canary struct {
	// Reference is the version the candidate is judged against; unset, the
	// version with the most events in the last reference period (in the
	// window, before one has passed).
	Reference string `yaml:"reference,omitempty"`
	// Candidate is the version on trial; unset, every other version with a
	// label of its own is.
	Candidate string `yaml:"candidate,omitempty"`
	// MinEvents is how many events each version needs in a window before the
	// two are compared; labelled pairs need as many for the quality checks.
	MinEvents int `yaml:"min_events,omitempty"`
	// MaxPredictionDrift is the threshold of the model's prediction drift
	// statistic between the two versions; unset, that statistic's default.
	MaxPredictionDrift *float64 `yaml:"max_prediction_drift,omitempty"`
	// MaxErrorRateIncrease and MaxNaNRateIncrease are how much higher than
	// the reference's the candidate's share of predictions missing, null or
	// of the wrong type, and NaN or infinite, may be.
	MaxErrorRateIncrease *float64 `yaml:"max_error_rate_increase,omitempty"`
	MaxNaNRateIncrease   *float64 `yaml:"max_nan_rate_increase,omitempty"`
	// MaxLatencyRatio bounds the candidate's p95 and p99 latency over the
	// reference's.
	MaxLatencyRatio *float64 `yaml:"max_latency_ratio,omitempty"`
	// MaxQualityLoss is the loss of label-based quality tolerated: points of
	// accuracy and ROC AUC, or the relative increase of the mean absolute
	// error of a regression.
	MaxQualityLoss *float64 `yaml:"max_quality_loss,omitempty"`
	// SplitAlpha is the significance at which the two versions' inputs are
	// found to differ: the traffic split is biased, and the comparison is not
	// of like with like.
	SplitAlpha *float64 `yaml:"split_alpha,omitempty"`
}

// Defaults of canary.
const (
	DefaultCanaryMinEvents      = 100
	DefaultMaxErrorRateIncrease = 0.01
	DefaultMaxNaNRateIncrease   = 0.0
	DefaultMaxLatencyRatio      = 1.5
	DefaultMaxQualityLoss       = 0.02
	DefaultMaxMAEIncrease       = 0.1
	DefaultSplitAlpha           = 0.001
)

func (c *Contract) applyCanaryDefaults() {
	k := c.Canary
	if k == nil {
		return
	}
	if k.MinEvents == 0 {
		k.MinEvents = DefaultCanaryMinEvents
	}
	set := func(p **float64, v float64) {
		if *p == nil {
			*p = &v
		}
	}
	set(&k.MaxErrorRateIncrease, DefaultMaxErrorRateIncrease)
	set(&k.MaxNaNRateIncrease, DefaultMaxNaNRateIncrease)
	set(&k.MaxLatencyRatio, DefaultMaxLatencyRatio)
	loss := DefaultMaxQualityLoss
	if c.Prediction != nil && (c.Prediction.Kind == Regression || c.Prediction.Kind == Score) {
		loss = DefaultMaxMAEIncrease
	}
	set(&k.MaxQualityLoss, loss)
	set(&k.SplitAlpha, DefaultSplitAlpha)
}

// validateCanary reports the problems of canary.
func (c *Contract) validateCanary(p *problemList) {
	k := c.Canary
	if k == nil {
		return
	}
	for _, side := range []struct{ key, name string }{{"reference", k.Reference}, {"candidate", k.Candidate}} {
		if side.name == VersionOther {
			p.add("canary."+side.key, "%q is the label of the versions without one of their own; name the version otherwise", side.name)
		}
	}
	if k.Reference != "" && k.Reference == k.Candidate {
		p.add("canary.candidate", "is the reference version %q too: a canary compares two versions", k.Candidate)
	}
	if k.MinEvents < 0 {
		p.add("canary.min_events", "must not be negative, got %d", k.MinEvents)
	}
	if v := k.MaxPredictionDrift; v != nil && !(*v >= 0) {
		p.add("canary.max_prediction_drift", "must not be negative, got %v", *v)
	}
	validateRate(p, "canary.max_error_rate_increase", k.MaxErrorRateIncrease)
	validateRate(p, "canary.max_nan_rate_increase", k.MaxNaNRateIncrease)
	if v := k.MaxLatencyRatio; v != nil && !(*v >= 1) {
		p.add("canary.max_latency_ratio", "must be at least 1 (the candidate as fast as the reference), got %v", *v)
	}
	if v := k.MaxQualityLoss; v != nil && !(*v >= 0) {
		p.add("canary.max_quality_loss", "must not be negative, got %v", *v)
	}
	if v := k.SplitAlpha; v != nil && !(*v > 0 && *v < 1) {
		p.add("canary.split_alpha", "must be a significance in (0, 1), got %v", *v)
	}
}
