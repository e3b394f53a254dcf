package anomaly

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// attribute splits the window's evidence between metrics: each statistic's score is
// shared out in proportion to each metric's part in that statistic.
func (md *model) attribute(cfg Config, names []string, row []float64, sampling []Sampling, expected []float64, sc, s [numStats + 1]float64, stuckAt int, brokenConstants []int) []Cause {
	clear(md.a)
	// Which statistic gave each metric most of its share, for its detail.
	via, viaShare := md.via, md.viaShare
	clear(viaShare)
	add := func(j, stat int, x float64) {
		md.a[j] += x
		if x > viaShare[j] {
			via[j], viaShare[j] = stat, x
		}
	}
	sumEG := 0.0
	for a := range md.active {
		sumEG += max(md.e[a]*md.g[a], 0)
	}
	resStat, runStat := statResidual, statResidualRun
	if sc[statMetric] > sc[statResidual] {
		resStat = statMetric
	}
	// A shift in some metrics moves the components, and with them the
	// reconstruction of every metric that loads on them: a calm metric then
	// shows a residual it did not make. A metric's share of the residual
	// statistics is therefore capped at what its own departure from its
	// forecast shows.
	blame := md.blame
	sumV, sumW := 0.0, 0.0
	for a := range md.active {
		own := md.e[a] / md.totalSigma(a)
		blame[a] = min(md.v[a]*md.v[a], own*own)
		sumV += blame[a]
		sumW += md.w[a]
	}
	for a, j := range md.active {
		if sumEG > 0 {
			add(j, statComponents, sc[statComponents]*max(md.e[a]*md.g[a], 0)/sumEG)
		}
		if sumV > 0 {
			add(j, resStat, sc[resStat]*blame[a]/sumV)
		}
		if sumW > 0 {
			add(j, runStat, sc[runStat]*md.w[a]/sumW)
		}
	}
	// The scores of lasting change go to the metrics in proportion to the
	// square of their statistic: mostly to the one that raised the maximum.
	sumL, sumS := 0.0, 0.0
	for a := range md.active {
		l, sp := md.runs.level.value[a], md.runs.spread.value[a]
		sumL += l * l
		sumS += sp * sp
	}
	for a, j := range md.active {
		if sumL > 0 {
			l := md.runs.level.value[a]
			add(j, statLevel, sc[statLevel]*l*l/sumL)
		}
		if sumS > 0 {
			sp := md.runs.spread.value[a]
			add(j, statSpread, sc[statSpread]*sp*sp/sumS)
		}
	}
	if stuckAt >= 0 {
		add(stuckAt, statStuck, sc[statStuck])
	}
	for _, j := range brokenConstants {
		add(j, statConstant, sc[statConstant])
	}
	total := 0.0
	for _, x := range md.a {
		total += x
	}
	if total <= 0 || cfg.TopCauses == 0 {
		return nil
	}
	causes := make([]Cause, 0, cfg.TopCauses)
	for j, x := range md.a {
		if x <= 0 {
			continue
		}
		c := Cause{Metric: names[j], Index: j, Actual: row[j], Expected: expected[j], Contribution: x / total, Statistic: statName(via[j])}
		i, _ := slices.BinarySearchFunc(causes, c, func(a, b Cause) int {
			switch {
			case a.Contribution > b.Contribution:
				return -1
			case a.Contribution < b.Contribution:
				return 1
			}
			return 0
		})
		if i < cfg.TopCauses {
			if len(causes) == cfg.TopCauses {
				causes = causes[:len(causes)-1]
			}
			causes = slices.Insert(causes, i, c)
		}
	}
	for i := range causes {
		md.explain(cfg, &causes[i], via[causes[i].Index], sampling)
	}
	return causes
}

// explain fills in a cause's Sigma and Detail. Details leave the actual and
// expected values to the cause's fields.
func (md *model) explain(cfg Config, c *Cause, stat int, sampling []Sampling) {
	j := c.Index
	var s Sampling
	if sampling != nil {
		s = sampling[j]
	}
	a, active := slices.BinarySearch(md.active, j)
	switch stat {
	case statConstant:
		if s.known() {
			c.Sigma = s.z(c.Actual, md.level[j], 0)
			c.Detail = fmt.Sprintf("constant in training; %s against the spread of its %s (count test)",
				sigmaWords(c.Sigma), sampleWords(s, md.level[j]))
			return
		}
		c.Sigma = math.Inf(1)
		if c.Actual < c.Expected {
			c.Sigma = math.Inf(-1)
		}
		c.Detail = "constant in training, now changed (constant)"
		return
	case statStuck:
		if active {
			c.Sigma = float64(md.run[a] + 1)
			c.Detail = fmt.Sprintf("the same value for %s, where a window repeats it with chance %.2g (stuck)",
				windowsWords(cfg, md.run[a]+1), math.Pow(10, md.runLog[a]/float64(max(md.run[a], 1))))
		}
		return
	}
	if !active {
		return
	}
	switch stat {
	case statLevel:
		shift, n := md.runs.level.dev[a], md.runs.level.length[a]
		c.Sigma = shift
		c.Detail = fmt.Sprintf("level %s expected for %s (level shift)", sigmaWords(shift), windowsWords(cfg, n))
		return
	case statSpread:
		ratio, n := md.runs.spreadRatio(a)
		c.Sigma = ratio
		c.Detail = fmt.Sprintf("spread %.1f× the expected for %s (variance)", ratio, windowsWords(cfg, n))
		return
	}
	zn := md.e[a] / md.totalSigma(a)
	if s.known() && !math.IsNaN(c.Actual) {
		if zt, ok := s.tailZ(c.Actual, md.level[j]); ok {
			zn = tame(zn, zt)
		}
	}
	c.Sigma = zn
	var b strings.Builder
	b.WriteString(sigmaWords(zn) + " expected")
	if s.known() {
		fmt.Fprintf(&b, ", sampling sd %s (%s)", FormatValue(math.Sqrt(s.variance(md.level[j]))), sampleWords(s, md.level[j]))
	}
	if stat == statResidualRun {
		fmt.Fprintf(&b, "; %.1fσ rms outside the usual correlations over the last %s", math.Sqrt(md.w[a]/runWindow), windowsWords(cfg, runWindow))
	}
	fmt.Fprintf(&b, " (%s)", statName(stat))
	c.Detail = b.String()
}

// sigmaWords says a signed deviation in words.
func sigmaWords(z float64) string {
	switch {
	case z >= 0:
		return fmt.Sprintf("%.1fσ above", z)
	default:
		return fmt.Sprintf("%.1fσ below", -z)
	}
}

// sampleWords names the sample behind a value, for details.
func sampleWords(s Sampling, level float64) string {
	switch s.Kind {
	case SamplingCount:
		return fmt.Sprintf("Poisson count, %s expected", FormatValue(level))
	case SamplingRate:
		return fmt.Sprintf("rate of %g", s.N)
	case SamplingMean:
		return fmt.Sprintf("mean of %g values", s.N)
	case SamplingQuantile:
		return fmt.Sprintf("quantile of %g values", s.N)
	case SamplingPSI, SamplingJS, SamplingKS:
		if s.M > 0 {
			return fmt.Sprintf("%s of %g against %g values", s.Kind, s.N, s.M)
		}
		return fmt.Sprintf("%s of %g values", s.Kind, s.N)
	case SamplingChiSquare:
		return fmt.Sprintf("chi2 with %g degrees of freedom", s.Scale)
	}
	return "unknown sample"
}

// windowsWords says how long n windows last: "6h" with a window length,
// "6 windows" without.
func windowsWords(cfg Config, n int) string {
	if cfg.Window > 0 {
		str := (time.Duration(n) * cfg.Window).String()
		if strings.HasSuffix(str, "m0s") {
			str = str[:len(str)-2]
		}
		if strings.HasSuffix(str, "h0m") {
			str = str[:len(str)-2]
		}
		return str
	}
	if n == 1 {
		return "1 window"
	}
	return fmt.Sprintf("%d windows", n)
}
