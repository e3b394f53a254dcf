package anomaly

import (
	"math"
	"strings"
	"testing"
)

func TestChanceAndFrequency(t *testing.T) {
	for _, tc := range []struct {
		score     float64
		chance    string
		frequency string
	}{
		{0.4, "more than 1 in 10", "more than once in 10 windows"},
		{1, "about 1 in 10", "about once in 10 windows"},
		{3, "about 1 in 1,000", "about once in 1,000 windows"},
		{-math.Log10(0.002 / 6), "about 1 in 3,000", "about once in 3,000 windows"},
		{3.81, "about 1 in 6,500", "about once in 6,500 windows"},
		{6.99, "about 1 in 9,800,000", "about once in 9,800,000 windows"},
		{115.56, "about 1 in 10^116", "about once in 10^116 windows"},
		{300, "below 1 in 10^300", "below once in 10^300 windows"},
		{math.NaN(), "unknown", "unknown windows"},
	} {
		if got := Chance(tc.score); got != tc.chance {
			t.Errorf("Chance(%g) = %q, want %q", tc.score, got, tc.chance)
		}
		if got := Frequency(tc.score); got != tc.frequency {
			t.Errorf("Frequency(%g) = %q, want %q", tc.score, got, tc.frequency)
		}
	}
}

func TestScoreText(t *testing.T) {
	for _, tc := range []struct {
		score      float64
		short, all string
	}{
		{3.8075, "3.81", "3.81 (a chance of about 1 in 6,400)"},
		{300, "300 (the cap)", "300 (the cap: a chance below 1 in 10^300)"},
	} {
		if got := ScoreText(tc.score); got != tc.short {
			t.Errorf("ScoreText(%g) = %q, want %q", tc.score, got, tc.short)
		}
		if got := ScoreWithChance(tc.score); got != tc.all {
			t.Errorf("ScoreWithChance(%g) = %q, want %q", tc.score, got, tc.all)
		}
	}
}

func TestDeviationText(t *testing.T) {
	for _, tc := range []struct {
		actual, expected float64
		want             string
	}{
		{0.31, 0.000386, "+0.3096 (803× expected)"},
		{0.3695, 0.3643, "+0.0052 (+1.4%)"},
		{0.3, 0.6282, "-0.3282 (0.478× expected)"},
		{5, 0, "+5"},
		{-1, 2, "-3"},
		{0, 0.45, "-0.45 (0× expected)"},
		{math.NaN(), 1, "unknown (a value is missing)"},
	} {
		if got := DeviationText(tc.actual, tc.expected); got != tc.want {
			t.Errorf("DeviationText(%g, %g) = %q, want %q", tc.actual, tc.expected, got, tc.want)
		}
	}
}

func TestVerdictExplain(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    VerdictFacts
		want []string // substrings, in order
	}{
		{"flagged at the cap", VerdictFacts{Score: 300, Threshold: 3.4771, Anomaly: true, Statistic: "constant"}, []string{
			"anomaly score 300 (the cap) is at or above the threshold 3.48: the window is flagged",
			"-log10 of the estimated chance", "capped at 300: here below 1 in 10^300",
			"reaches the threshold about once in 3,000 windows",
			`Highest on "constant": a metric that never changed in training changed.`}},
		{"not flagged", VerdictFacts{Score: 1.2, Threshold: 3.4771, Statistic: "residual"}, []string{
			"anomaly score 1.20 is below the threshold 3.48: the window is not flagged", "here about 1 in 16;",
			`Highest on "residual": the metrics broke away`}},
		{"unknown threshold and statistic", VerdictFacts{Score: 4, Threshold: math.NaN(), Anomaly: true, Statistic: "level-9"}, []string{
			"anomaly score 4.00. The score", `about 1 in 10,000. Highest on "level-9".`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.v.Explain()
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("Explain() = %q\nwant, in order, %q", got, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestCauseExplain(t *testing.T) {
	got := CauseFacts{Metric: "amount.null_ratio", Actual: 0.31, Expected: 0.000386, Contribution: 0.8}.Explain()
	want := "amount.null_ratio: value 0.31, expected 0.000386, deviation +0.3096 (803× expected); contribution 80% of the anomaly's evidence"
	if got != want {
		t.Errorf("Explain() = %q, want %q", got, want)
	}
	for i := range numStats + 1 {
		if StatisticMeaning(statName(i)) == "" {
			t.Errorf("statistic %q the detector reports has no meaning", statName(i))
		}
	}
}
