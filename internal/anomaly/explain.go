package anomaly

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ScoreCap is the highest score: a window scored at the cap is rarer than
// anything the calibration can tell apart (a chance below 1 in 10^300).
const ScoreCap = maxScore

// Verdict and cause explanations are written from these facts rather than
// from any one type, so that the backtest, replay's findings and the status
// page, each holding the numbers in its own type, say the same thing in the
// same words; a new fact (a cause's deviation in standard deviations, say) is
// a new field here and a clause in Explain.

// VerdictFacts are what an explanation of a window's verdict is written from.
type VerdictFacts struct {
	// Score is -log10 of the estimated chance of so unusual a window when all
	// is well, capped at ScoreCap.
	Score float64
	// Threshold is the score at and above which a window is flagged; NaN when
	// unknown.
	Threshold float64
	Anomaly   bool
	// Statistic names what scored highest (Point.Statistic).
	Statistic string
}

// Explain says what the score is, how it compares with the threshold, what
// both mean as chances, and what the statistic that scored highest saw.
func (v VerdictFacts) Explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "anomaly score %s", ScoreText(v.Score))
	if !math.IsNaN(v.Threshold) {
		if v.Anomaly {
			fmt.Fprintf(&b, " is at or above the threshold %.2f: the window is flagged", v.Threshold)
		} else {
			fmt.Fprintf(&b, " is below the threshold %.2f: the window is not flagged", v.Threshold)
		}
	}
	fmt.Fprintf(&b, ". The score is -log10 of the estimated chance that a healthy window looks this unusual, capped at %d: here %s",
		ScoreCap, Chance(v.Score))
	if !math.IsNaN(v.Threshold) {
		fmt.Fprintf(&b, "; a healthy window reaches the threshold %s", Frequency(v.Threshold))
	}
	b.WriteString(".")
	if v.Statistic != "" {
		fmt.Fprintf(&b, " Highest on %q", v.Statistic)
		if m := StatisticMeaning(v.Statistic); m != "" {
			fmt.Fprintf(&b, ": %s", m)
		}
		b.WriteString(".")
	}
	return b.String()
}

// CauseFacts are what an explanation of a metric blamed for a window is
// written from.
type CauseFacts struct {
	Metric string
	// Actual is the window's value and Expected the detector's forecast, both
	// in the metric's units; NaN when missing.
	Actual, Expected float64
	// Contribution is the metric's share of the window's evidence, in [0, 1]:
	// how much of the score is blamed on it, not how far it moved.
	Contribution float64
	// Detail is the detector's own account of what it saw in the metric
	// (Cause.Detail); "" when it gave none.
	Detail string
}

// Explain labels every number: value, forecast, deviation (how far the
// value is from the forecast) and contribution (the share of the blame).
func (c CauseFacts) Explain() string {
	s := fmt.Sprintf("%s: value %s, expected %s, deviation %s; contribution %.0f%% of the anomaly's evidence",
		c.Metric, FormatValue(c.Actual), FormatValue(c.Expected), DeviationText(c.Actual, c.Expected), 100*c.Contribution)
	if c.Detail != "" {
		s += "; " + c.Detail
	}
	return s
}

// StatisticMeaning says what a statistic of Point.Statistic saw, in words; ""
// for a name it does not know.
func StatisticMeaning(name string) string {
	switch name {
	case "components":
		return "the metrics moved together, along their usual correlations, away from their forecast"
	case "residual":
		return "the metrics broke away from their usual correlations with one another"
	case "metric":
		return "one metric broke away from the others"
	case "residual-run":
		return fmt.Sprintf("the metrics have been breaking away from their usual correlations over the last %d windows", runWindow)
	case "level":
		return "one metric's level has moved away from its forecast over several windows: a shift or a drift"
	case "variance":
		return "one metric has been swinging around its forecast more than it used to, at an unchanged level"
	case "stuck":
		return "a metric has repeated its last value longer than it ever did in training"
	case "constant":
		return "a metric that never changed in training changed"
	}
	return ""
}

// ScoreText formats a score: "115.56", or "300 (the cap)".
func ScoreText(score float64) string {
	if score >= ScoreCap {
		return fmt.Sprintf("%d (the cap)", ScoreCap)
	}
	return strconv.FormatFloat(score, 'f', 2, 64)
}

// ScoreWithChance formats a score with the chance it stands for: "3.81 (a
// chance of about 1 in 6,500)", "300 (the cap: a chance below 1 in 10^300)".
func ScoreWithChance(score float64) string {
	if score >= ScoreCap {
		return fmt.Sprintf("%d (the cap: a chance %s)", ScoreCap, Chance(score))
	}
	return fmt.Sprintf("%s (a chance of %s)", ScoreText(score), Chance(score))
}

// Chance says what a score means as the chance of a healthy window scoring at
// least as high: "about 1 in 6,400", "about 1 in 10^116".
func Chance(score float64) string {
	switch {
	case math.IsNaN(score):
		return "unknown"
	case score >= ScoreCap:
		return fmt.Sprintf("below 1 in 10^%d", ScoreCap)
	case score < 1:
		return "more than 1 in 10"
	case score < 7:
		return "about 1 in " + oneIn(score)
	}
	return fmt.Sprintf("about 1 in 10^%.0f", score)
}

// Frequency says how often a healthy window scores at least score: "about
// once in 3,000 windows".
func Frequency(score float64) string {
	if score < 7 && score >= 1 {
		return "about once in " + oneIn(score) + " windows"
	}
	return strings.Replace(Chance(score), "1 in", "once in", 1) + " windows"
}

// oneIn writes 10^score to two significant digits with thousands separators.
func oneIn(score float64) string {
	n := math.Pow(10, score)
	unit := math.Pow(10, math.Floor(math.Log10(n))-1)
	s := strconv.FormatFloat(math.Round(n/unit)*unit, 'f', 0, 64)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// DeviationText writes how far actual is from expected: "+0.3096 (803×
// expected)", "-0.012 (-4.1%)"; relative only when both have one sign.
func DeviationText(actual, expected float64) string {
	if math.IsNaN(actual) || math.IsNaN(expected) {
		return "unknown (a value is missing)"
	}
	d := actual - expected
	s := strconv.FormatFloat(d, 'g', 4, 64)
	if d >= 0 {
		s = "+" + s
	}
	if expected == 0 || actual*expected < 0 {
		return s
	}
	switch r := actual / expected; {
	case r >= 2 || r <= 0.5:
		return fmt.Sprintf("%s (%s× expected)", s, strconv.FormatFloat(r, 'g', 3, 64))
	default:
		return fmt.Sprintf("%s (%+.1f%%)", s, 100*(r-1))
	}
}

// FormatValue writes a metric's value to four significant digits, "missing"
// for NaN.
func FormatValue(v float64) string {
	if math.IsNaN(v) {
		return "missing"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
