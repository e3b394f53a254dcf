package config

import (
	"slices"
	"testing"
	"time"
)

// TestVersionDefaults: a shadow pair turns the version checks on; what the
// contract leaves out takes the documented defaults, and the named versions
// are the pair first, without repeats.
func TestVersionDefaults(t *testing.T) {
	c, err := LoadContract("testdata/contracts/shadow.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	s, v := c.Shadow, c.Versions
	if !c.TracksVersions() || *s.MaxUnpairedRatio != DefaultMaxUnpairedRatio || s.MaxPending != DefaultShadowMaxPending ||
		s.MaxDelay != 30*time.Second || *s.MaxDisagreement != 0.05 {
		t.Errorf("shadow %+v", s)
	}
	if *v.MaxOthers != 2 || v.MaxSilence != 10*time.Minute {
		t.Errorf("versions %+v", v)
	}
	if got, want := c.NamedVersions(), []string{"2026-11-01", "2026-11-20", "2026-10-01"}; !slices.Equal(got, want) {
		t.Errorf("named versions %q, want %q", got, want)
	}
	c, err = ParseContract([]byte("model: m\nshadow: {reference: a, candidate: b}\nfeatures: [{name: x, type: numeric}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Versions == nil || *c.Versions.MaxOthers != DefaultMaxOtherVersions || c.Versions.MaxSilence != DefaultVersionSilence ||
		c.Shadow.MaxDelay != DefaultShadowMaxDelay || c.Shadow.MaxDisagreement != nil {
		t.Errorf("defaults of a bare shadow: versions %+v shadow %+v", c.Versions, c.Shadow)
	}
	c, err = ParseContract([]byte("model: m\nfeatures: [{name: x, type: numeric}]\n"))
	if err != nil || c.TracksVersions() {
		t.Errorf("a contract without versions or shadow tracks them (%v)", err)
	}
}

// TestCanaryDefaults: a canary turns the version checks on, names its
// candidate, and takes the documented defaults; a regression tolerates a
// relative loss of its error, not points of accuracy.
func TestCanaryDefaults(t *testing.T) {
	c, err := LoadContract("testdata/contracts/canary.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	k := c.Canary
	if !c.TracksVersions() || c.Versions == nil || k.MinEvents != 200 || *k.MaxLatencyRatio != 1.2 ||
		*k.MaxErrorRateIncrease != DefaultMaxErrorRateIncrease || *k.MaxNaNRateIncrease != 0 ||
		*k.MaxQualityLoss != DefaultMaxQualityLoss || *k.SplitAlpha != DefaultSplitAlpha || k.MaxPredictionDrift != nil {
		t.Errorf("canary %+v", k)
	}
	if got, want := c.NamedVersions(), []string{"2026-11-20"}; !slices.Equal(got, want) {
		t.Errorf("named versions %q, want %q", got, want)
	}
	c, err = ParseContract([]byte("model: m\nprediction: {kind: regression}\ncanary: {}\nfeatures: [{name: x, type: numeric}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *c.Canary.MaxQualityLoss != DefaultMaxMAEIncrease || len(c.NamedVersions()) != 0 {
		t.Errorf("a bare canary of a regression: %+v, named %q", c.Canary, c.NamedVersions())
	}
}
