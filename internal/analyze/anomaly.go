package analyze

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/model"
)

// AnomalyOptions configure the detector over each model's window metrics.
type AnomalyOptions struct {
	// FitAfter is how many windows of history the first fit waits for; zero
	// is a season, or HistoryWindows when that is shorter.
	FitAfter int
	// HistoryWindows bounds the history kept for refits.
	HistoryWindows int
	// RefitEvery refits after this many windows; zero means once a period.
	RefitEvery     int
	FalseAlarmRate float64
}

func (a *AnomalyOptions) validate() error {
	if (a.FitAfter != 0 && a.FitAfter < 3) || a.HistoryWindows < max(a.FitAfter, 3) || a.RefitEvery < 0 || !(a.FalseAlarmRate > 0 && a.FalseAlarmRate < 1) {
		return fmt.Errorf("anomaly options %+v: fit after at least 3 windows (0: a season), keep at least as many and 3, refit every n ≥ 0, false-alarm rate in (0, 1)", *a)
	}
	return nil
}

// detector watches one model's window metrics: it gathers history until the
// first fit, then scores every window and refits on its own schedule. Metrics are
// fixed at the first fit; ones that appear later wait for a restart's fit.
type detector struct {
	cfg  anomaly.Config
	opts AnomalyOptions
	cat  *check.Catalogue
	det  *anomaly.Detector
	// keys and index are the metrics seen so far, names what the fit calls
	// them; pending holds the history gathered before the first fit, one row per
	// window over keys (a metric first seen later is NaN in earlier rows). Rows, not maps: a model's history
	// is hundreds of metrics times up to history_windows windows. The rows are
	// cut from slabs of slabRows rows, taken as windows arrive rather than for
	// all of fit_after at once: a day of a hundred wide models' one-minute
	// windows is hundreds of megabytes that a replay of an hour never fills,
	// and claimed up front it let the garbage collector grow the heap by as
	// much again. float32 is the precision the detector keeps its history in
	// after the fit.
	keys    []metricKey
	names   []string
	index   map[metricKey]int
	pending [][]float32
	slab    []float32
	// labelled is each pending window's labelled predictions, the sample size
	// of its accuracy.
	labelled []float64
	row      []float64          // scratch for scoring
	sampled  []anomaly.Sampling // scratch for scoring
	sampling sampling
}

// metricKey identifies a watched metric without building its name.
type metricKey struct{ feature, metric string }

func newDetector(m *model.Model, cat *check.Catalogue, window time.Duration, opts AnomalyOptions) *detector {
	season := m.Contract.Seasonality
	if season == 0 {
		// Model traffic follows the day unless the contract says otherwise.
		season = 24 * time.Hour
	}
	period := max(int(season/window), 2)
	refit := opts.RefitEvery
	if refit == 0 {
		refit = period
	}
	if opts.FitAfter == 0 {
		// Fitted on less than a season, the detector takes the traffic's
		// daily cycle for a change: on healthy traffic with 5-minute windows,
		// a first fit after 60 windows flagged two windows in three of the
		// rest of the first day (trafficbench), a fit after a day none of the
		// second.
		opts.FitAfter = max(min(period, opts.HistoryWindows), 3)
	}
	width, _ := cat.Bounds(m.Contract.Features, m.PredictionDrift().Method)
	return &detector{
		cfg: anomaly.Config{Period: period, FalseAlarmRate: opts.FalseAlarmRate, RefitEvery: refit,
			HistoryRows: opts.HistoryWindows, Window: window},
		opts:     opts,
		cat:      cat,
		keys:     make([]metricKey, 0, width),
		index:    make(map[metricKey]int, width),
		pending:  make([][]float32, 0, opts.FitAfter),
		labelled: make([]float64, 0, opts.FitAfter),
		sampling: newSampling(m),
	}
}

// slabRows is how many rows of the current width a slab holds.
const slabRows = 16

// gather adds a window's watched results to the pending history.
func (d *detector) gather(results []check.Result) {
	d.labelled = append(d.labelled, labelledOf(results))
	for i := range results {
		if k, ok := d.watchedKey(&results[i]); ok {
			if _, seen := d.index[k]; !seen {
				d.index[k] = len(d.keys)
				d.keys = append(d.keys, k)
			}
		}
	}
	n := len(d.keys)
	if cap(d.slab)-len(d.slab) < n {
		d.slab = make([]float32, 0, slabRows*n)
	}
	row := d.slab[len(d.slab) : len(d.slab)+n : len(d.slab)+n]
	d.slab = d.slab[:len(d.slab)+n]
	fill(d, row, results)
	for i, x := range row {
		// Past float32's range a value is kept as missing, as the detector's
		// own history does, rather than as an infinity the fit would choke on.
		if math.IsInf(float64(x), 0) {
			row[i] = float32(math.NaN())
		}
	}
	d.pending = append(d.pending, row)
	if len(d.pending) > d.opts.HistoryWindows {
		d.pending, d.labelled = d.pending[1:], d.labelled[1:]
	}
}

// labelledOf returns the window's labelled predictions, NaN when none joined.
func labelledOf(results []check.Result) float64 {
	for i := range results {
		if r := &results[i]; r.Metric == check.Labelled && r.Feature == check.PredictionFeature {
			return r.Value
		}
	}
	return math.NaN()
}

// fill sets row to the results' values of the known metrics, NaN elsewhere.
func fill[T float32 | float64](d *detector, row []T, results []check.Result) {
	for i := range row {
		row[i] = T(math.NaN())
	}
	for j := range results {
		if k, ok := d.watchedKey(&results[j]); ok {
			if i, known := d.index[k]; known {
				row[i] = T(results[j].Value)
			}
		}
	}
}

// watchedKey returns the metric a result feeds to the detector, if any. A
// feature whose contract compares by a p-value is watched through the test's
// statistic instead: a p-value's sampling spread is all of [0, 1] however much
// data the window holds, while the statistic's shrinks with it, so only the
// statistic lets the detector tell a quiet window's noise from a change.
// The mean of a feature with heavy tails is not watched (see heavyTailed):
// it moves with the window's largest value, and its distribution statistics
// see a change of its level without that noise.
func (d *detector) watchedKey(r *check.Result) (metricKey, bool) {
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Skipped != "" {
		return metricKey{}, false
	}
	key := metricKey{r.Feature, r.Metric}
	if r.Kind == check.Skew {
		switch r.Metric {
		case string(config.KSPValue), string(config.Chi2PValue):
			return metricKey{}, false
		case check.KSStatistic, check.Chi2Statistic:
			return key, d.sampling.byPValue(r.Feature)
		}
	}
	if r.Kind == check.Quality && r.Metric == check.Mean && d.sampling.heavyTailed(r.Feature) {
		return metricKey{}, false
	}

	return key, d.cat.Watched(r)
}

// name is how an alert names a metric: "amount.null_ratio".
func (k metricKey) name() string {
	if k.feature == "" {
		return k.metric
	}
	return k.feature + "." + k.metric
}

// observe feeds a window's results to the detector and returns its verdict, or
// nil while it is still gathering history.
func (d *detector) observe(model string, start, end time.Time, results []check.Result) (*check.Verdict, error) {
	if d.det == nil {
		d.gather(results)
		if len(d.pending) < d.opts.FitAfter {
			return nil, nil
		}
		return nil, d.fit()
	}
	if cap(d.row) < len(d.names) {
		d.row = make([]float64, len(d.names))
	}
	row := d.row[:len(d.names)]
	fill(d, row, results)
	if cap(d.sampled) < len(d.names) {
		d.sampled = make([]anomaly.Sampling, len(d.names))
	}
	sampled := d.sampled[:len(d.names)]
	d.sampling.fill(sampled, d.keys, d.index, row, labelledOf(results))
	p, err := d.det.ScoreSampled(row, sampled)
	if err != nil {
		return nil, fmt.Errorf("model %s: scoring window %s: %w", model, start.Format(time.RFC3339), err)
	}
	a := &check.Verdict{Model: model, WindowStart: start, WindowEnd: end, Score: p.Score, Anomaly: p.Anomaly, Statistic: p.Statistic}
	for _, c := range p.Top {
		a.Causes = append(a.Causes, check.Cause{Metric: c.Metric, Actual: c.Actual, Expected: c.Expected,
			Contribution: c.Contribution, Detail: c.Detail})
	}
	return a, nil
}

// fit fixes the metric set to those seen in the gathered history, in name
// order, and fits with each value's sampling.
func (d *detector) fit() error {
	gathered := make([]string, len(d.keys))
	for i, k := range d.keys {
		gathered[i] = k.name()
	}
	order := make([]int, len(gathered)) // order[j]: the gathering index of the j-th name
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return gathered[order[a]] < gathered[order[b]] })
	names := make([]string, len(order))
	for j, i := range order {
		names[j] = gathered[i]
	}
	det, err := anomaly.New(d.cfg, names)
	if err != nil {
		return fmt.Errorf("anomaly detector: %w", err)
	}
	history := make([][]float64, len(d.pending))
	sampling := make([][]anomaly.Sampling, len(d.pending))
	gatheredRow := make([]float64, len(d.keys))
	gatheredSampling := make([]anomaly.Sampling, len(d.keys))
	for i, pending := range d.pending {
		for k := range gatheredRow {
			gatheredRow[k] = math.NaN()
			if k < len(pending) {
				gatheredRow[k] = float64(pending[k])
			}
		}
		d.sampling.fill(gatheredSampling, d.keys, d.index, gatheredRow, d.labelled[i])
		row := make([]float64, len(names))
		sampled := make([]anomaly.Sampling, len(names))
		for j, k := range order {
			row[j], sampled[j] = gatheredRow[k], gatheredSampling[k]
		}
		history[i], sampling[i] = row, sampled
	}
	if err := det.FitSampled(history, sampling); err != nil {
		return fmt.Errorf("anomaly detector: %w", err)
	}
	at := make([]int, len(order)) // at[i]: where the i-th name gathered now stands
	keys := make([]metricKey, len(order))
	for j, i := range order {
		at[i] = j
		keys[j] = d.keys[i]
	}
	for key, i := range d.index {
		d.index[key] = at[i]
	}
	d.det, d.names, d.keys, d.pending, d.slab, d.labelled = det, names, keys, nil, nil, nil
	return nil
}

// warm loads history written before a restart, so detection resumes at once:
// the windows are observed again in order, as they were when checked, so the
// detector fits and refits where it did then and resumes in the same state.
func (d *detector) warm(model string, results []check.Result) error {
	byWindow := make(map[int64][]check.Result)
	watched := make(map[int64]bool)
	var starts []int64
	for i := range results {
		r := &results[i]
		k := r.WindowStart.UnixNano()
		if _, ok := byWindow[k]; !ok {
			starts = append(starts, k)
		}
		byWindow[k] = append(byWindow[k], *r)
		if _, ok := d.watchedKey(r); ok {
			watched[k] = true
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	for _, k := range starts {
		// Only windows with a watched metric are history: the clock's
		// staleness rows are not windows.
		if !watched[k] {
			continue
		}
		rs := byWindow[k]
		if _, err := d.observe(model, rs[0].WindowStart, rs[0].WindowEnd, rs); err != nil {
			return err
		}
	}
	return nil
}
