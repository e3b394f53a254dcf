package pipeline

import (
	"fmt"
	"math"
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
	cfg     anomaly.Config
	opts    AnomalyOptions
	det     *anomaly.Detector
	names   []string
	index   map[string]int
	pending []map[string]float64
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
		cfg:  anomaly.Config{Period: period, FalseAlarmRate: opts.FalseAlarmRate, RefitEvery: refit, HistoryRows: opts.HistoryWindows},
		opts: opts,
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
		d.pending = append(d.pending, values)
		if len(d.pending) > d.opts.HistoryWindows {
			d.pending = d.pending[1:]
		}
		if len(d.pending) < d.opts.FitAfter {
			return nil, nil
		}
		return nil, d.fit()
	}
	row := make([]float64, len(d.names))
	for i, name := range d.names {
		v, ok := values[name]
		if !ok {
			v = math.NaN()
		}
		row[i] = v
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

// fit fixes the metric set to those seen in the gathered history and fits.
func (d *detector) fit() error {
	seen := make(map[string]bool)
	for _, row := range d.pending {
		for name := range row {
			seen[name] = true
		}
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	det, err := anomaly.New(d.cfg, names)
	if err != nil {
		return fmt.Errorf("anomaly detector: %w", err)
	}
	history := make([][]float64, len(d.pending))
	for i, values := range d.pending {
		row := make([]float64, len(names))
		for j, name := range names {
			v, ok := values[name]
			if !ok {
				v = math.NaN()
			}
			row[j] = v
		}
		history[i] = row
	}
	if err := det.Fit(history); err != nil {
		return fmt.Errorf("anomaly detector: %w", err)
	}
	d.det, d.names, d.pending = det, names, nil
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
		d.pending = append(d.pending, byWindow[k])
	}
	if len(d.pending) > d.opts.HistoryWindows {
		d.pending = d.pending[len(d.pending)-d.opts.HistoryWindows:]
	}
	if len(d.pending) >= d.opts.FitAfter {
		return d.fit()
	}
	return nil
}
