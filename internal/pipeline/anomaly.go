package pipeline

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// AnomalyOptions configure the detector over each model's window metrics.
type AnomalyOptions struct {
	// FitAfter is how many windows of history the first fit waits for.
	FitAfter int
	// HistoryWindows bounds the history kept for refits.
	HistoryWindows int
	// RefitEvery refits after this many windows; zero means once a period.
	RefitEvery     int
	FalseAlarmRate float64
}

// detector watches one model's window metrics: it gathers history until the
// first fit, then scores every window and refits on its own schedule. Metrics are
// fixed at the first fit; ones that appear later wait for a restart's fit.
type detector struct {
	cfg  anomaly.Config
	opts AnomalyOptions
	det  *anomaly.Detector
	// names and index are the metrics seen so far; pending holds the history
	// gathered before the first fit, one row per window over names (a metric
	// first seen later is NaN in earlier rows). Rows, not maps: a model's history
	// is hundreds of metrics times up to history_windows windows.
	names   []string
	index   map[string]int
	pending [][]float64
}

func newDetector(m *Model, window time.Duration, opts AnomalyOptions) *detector {
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
	return &detector{
		cfg:   anomaly.Config{Period: period, FalseAlarmRate: opts.FalseAlarmRate, RefitEvery: refit, HistoryRows: opts.HistoryWindows},
		opts:  opts,
		index: make(map[string]int),
	}
}

// gather adds a window's values to the pending history.
func (d *detector) gather(values map[string]float64) {
	for name := range values {
		if _, ok := d.index[name]; !ok {
			d.index[name] = len(d.names)
			d.names = append(d.names, name)
		}
	}
	row := make([]float64, len(d.names))
	for i := range row {
		row[i] = math.NaN()
	}
	for name, v := range values {
		row[d.index[name]] = v
	}
	d.pending = append(d.pending, row)
	if len(d.pending) > d.opts.HistoryWindows {
		d.pending = d.pending[1:]
	}
}

// watched selects the metrics the detector sees: the headline value of each
// check, not every statistic, which keeps the history small and the fit fast.
func watched(r store.CheckResult) bool {
	switch r.Kind {
	case KindQuality:
		switch r.Metric {
		case "events", "latency_ms_p99", "null_ratio", "out_of_range_ratio", "unknown_category_ratio", "wrong_type_ratio", "mean", "missing_ratio":
			return true
		}
	case KindSkew:
		// The contract's drift statistic is the one with a threshold.
		return !math.IsNaN(r.Threshold) && r.Feature != ""
	case KindNumerical:
		return true
	case KindPerformance:
		switch r.Metric {
		case "accuracy", "auc", "mae", "rmse":
			return true
		}
	}
	return false
}

// metricName is how an alert names a metric: "amount.null_ratio".
func metricName(r store.CheckResult) string {
	if r.Feature == "" {
		return r.Metric
	}
	return r.Feature + "." + r.Metric
}

// observe feeds a window's results to the detector and returns its verdict, or
// nil while it is still gathering history.
func (d *detector) observe(model string, w *window, results []store.CheckResult) (*store.Anomaly, error) {
	values := make(map[string]float64)
	for _, r := range results {
		if watched(r) && !math.IsInf(r.Value, 0) {
			values[metricName(r)] = r.Value
		}
	}
	if d.det == nil {
		d.gather(values)
		if len(d.pending) < d.opts.FitAfter {
			return nil, nil
		}
		return nil, d.fit()
	}
	row := make([]float64, len(d.names))
	for i := range row {
		row[i] = math.NaN()
	}
	for name, v := range values {
		if i, ok := d.index[name]; ok {
			row[i] = v
		}
	}
	p, err := d.det.Score(row)
	if err != nil {
		return nil, fmt.Errorf("model %s: scoring window %s: %w", model, w.start.Format(time.RFC3339), err)
	}
	a := &store.Anomaly{Model: model, WindowStart: w.start, WindowEnd: w.end, Score: p.Score, Anomaly: p.Anomaly, Statistic: p.Statistic}
	for _, c := range p.Top {
		a.Causes = append(a.Causes, store.Cause{Metric: c.Metric, Actual: c.Actual, Expected: c.Expected, Contribution: c.Contribution})
	}
	return a, nil
}

// fit fixes the metric set to those seen in the gathered history, in name
// order, and fits.
func (d *detector) fit() error {
	names := slices.Clone(d.names)
	sort.Strings(names)
	det, err := anomaly.New(d.cfg, names)
	if err != nil {
		return fmt.Errorf("anomaly detector: %w", err)
	}
	history := make([][]float64, len(d.pending))
	for i, pending := range d.pending {
		row := make([]float64, len(names))
		for j, name := range names {
			row[j] = math.NaN()
			if k := d.index[name]; k < len(pending) {
				row[j] = pending[k]
			}
		}
		history[i] = row
	}
	if err := det.Fit(history); err != nil {
		return fmt.Errorf("anomaly detector: %w", err)
	}
	d.det, d.names, d.pending = det, names, nil
	for i, name := range names {
		d.index[name] = i
	}
	return nil
}

// warm loads history written before a restart, so detection resumes at once.
func (d *detector) warm(results []store.CheckResult) error {
	byWindow := make(map[int64]map[string]float64)
	var starts []int64
	for _, r := range results {
		if !watched(r) || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			continue
		}
		k := r.WindowStart.UnixNano()
		if byWindow[k] == nil {
			byWindow[k] = make(map[string]float64)
			starts = append(starts, k)
		}
		byWindow[k][metricName(r)] = r.Value
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	for _, k := range starts {
		d.gather(byWindow[k])
	}
	if len(d.pending) >= d.opts.FitAfter {
		return d.fit()
	}
	return nil
}
