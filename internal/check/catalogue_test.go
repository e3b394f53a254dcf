package check

import (
	"math"
	"strings"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
)

// TestCatalogueIsConsistent: every metric is described for people, named once
// per kind and scope, and consistent in what it claims.
func TestCatalogueIsConsistent(t *testing.T) {
	seen := map[key]bool{}
	units := map[string]bool{"ratio": true, "count": true, "seconds": true, "milliseconds": true, "p-value": true,
		"statistic": true, "bits": true, "value": true}
	for _, m := range Metrics() {
		k := key{m.Kind, m.Name, m.Scope == OfPrediction}
		if seen[k] {
			t.Errorf("%s %s is in the catalogue twice", m.Kind, m.Name)
		}
		seen[k] = true
		if m.Help == "" || !units[m.Unit] {
			t.Errorf("%s %s: help %q, unit %q", m.Kind, m.Name, m.Help, m.Unit)
		}
		if m.Threshold == Never && m.Watch == WatchedWithThreshold {
			t.Errorf("%s %s is watched with a threshold it never has", m.Kind, m.Name)
		}
		if m.Threshold == ByMethod && m.Method == "" {
			t.Errorf("%s %s is thresholded by a method it does not name", m.Kind, m.Name)
		}
		if m.Scope != OfFeature && m.Types != nil {
			t.Errorf("%s %s restricts feature types but is not a feature metric", m.Kind, m.Name)
		}
	}
}

func TestLookupAndWatched(t *testing.T) {
	c := NewCatalogue()
	tests := []struct {
		r     Result
		found bool
		watch bool
	}{
		{Result{Kind: Quality, Feature: "amount", Metric: NullRatio, Threshold: 0}, true, true},
		{Result{Kind: Quality, Feature: "amount", Metric: NaNRatio, Threshold: math.NaN()}, true, false},
		{Result{Kind: Numerical, Feature: PredictionFeature, Metric: NaNRatio, Threshold: 0}, true, true},
		{Result{Kind: Skew, Feature: "amount", Metric: string(config.PSI), Threshold: 0.2}, true, true},
		{Result{Kind: Skew, Feature: "amount", Metric: string(config.PSI), Threshold: math.NaN()}, true, false},
		{Result{Kind: Drift, Feature: "amount", Metric: DriftMetric(config.PSI, VsReference), Threshold: 0.2}, true, false},
		{Result{Kind: Quality, Metric: "volume"}, false, false},
	}
	for _, tc := range tests {
		_, found := c.Lookup(&tc.r)
		if found != tc.found || c.Watched(&tc.r) != tc.watch {
			t.Errorf("%+v: found %v watched %v, want %v %v", tc.r, found, c.Watched(&tc.r), tc.found, tc.watch)
		}
	}
}

func TestBreaches(t *testing.T) {
	tests := []struct {
		value, threshold float64
		d                Direction
		want             bool
	}{
		{0.3, 0.2, Above, true},
		{0.2, 0.2, Above, false},
		{0.001, 0.01, Below, true},
		{0.5, 0.01, Below, false},
		{1e9, math.NaN(), Above, false},
	}
	for _, tc := range tests {
		if got := Breaches(tc.value, tc.threshold, tc.d); got != tc.want {
			t.Errorf("Breaches(%v, %v, %v) = %v", tc.value, tc.threshold, tc.d, got)
		}
	}
}

// TestVersionOf: a version's feature gives its label back; any other
// feature gives none, not itself.
func TestVersionOf(t *testing.T) {
	for feature, want := range map[string]string{VersionFeature("v2"): "v2", VersionFeature(""): "", "amount": "", "": "", PredictionFeature: ""} {
		got, ok := VersionOf(feature)
		if got != want || ok != strings.HasPrefix(feature, versionPrefix) {
			t.Errorf("VersionOf(%q) = %q, %v; want %q", feature, got, ok, want)
		}
	}
}
