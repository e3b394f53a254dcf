package anomaly

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Table is a metric time series: one row per window, one column per metric, NaN
// where a window has no value.
type Table struct {
	Timestamps []time.Time
	Metrics    []string
	Rows       [][]float64
}

// ReadCSV reads a table with a "timestamp" column (RFC 3339) and one numeric column
// per metric; an empty cell, or NA/NaN, is a missing value.
func ReadCSV(r io.Reader) (*Table, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("read metrics csv: empty input")
	}
	if err != nil {
		return nil, fmt.Errorf("read metrics csv header: %w", err)
	}
	tcol := -1
	var metrics []string
	var cols []int
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if h == "timestamp" {
			tcol = i
			continue
		}
		metrics = append(metrics, h)
		cols = append(cols, i)
	}
	if tcol < 0 {
		return nil, fmt.Errorf("read metrics csv: no \"timestamp\" column in header %q", strings.Join(header, ","))
	}
	if len(metrics) == 0 {
		return nil, errors.New("read metrics csv: no metric columns besides timestamp")
	}
	t := &Table{Metrics: metrics}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read metrics csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		ts, err := time.Parse(time.RFC3339, strings.TrimSpace(rec[tcol]))
		if err != nil {
			return nil, fmt.Errorf("read metrics csv: line %d: timestamp %q is not RFC 3339", line, rec[tcol])
		}
		row := make([]float64, len(cols))
		for m, c := range cols {
			row[m], err = parseCell(rec[c])
			if err != nil {
				return nil, fmt.Errorf("read metrics csv: line %d, column %s: %w", line, metrics[m], err)
			}
		}
		t.Timestamps = append(t.Timestamps, ts)
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

func parseCell(s string) (float64, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "na", "nan", "null":
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a finite number", s)
	}
	return v, nil
}

// DefaultTrain is the number of rows a backtest fits on unless told otherwise: the
// larger of three seasons and 60% of the rows, so that there are two seasons for
// Holt-Winters' start values and one more to calibrate the scores on.
func DefaultTrain(rows, period int) int {
	return max(3*period, int(math.Floor(0.6*float64(rows))))
}

// Report is the result of a backtest. Its JSON field names are a stable interface.
type Report struct {
	Period                 int           `json:"period"`
	Train                  int           `json:"train"`
	Metrics                []string      `json:"metrics"`
	Components             int           `json:"components"`
	ExplainedVarianceRatio []float64     `json:"explained_variance_ratio"`
	Threshold              float64       `json:"threshold"`
	Notes                  []string      `json:"notes,omitempty"`
	Points                 []ReportPoint `json:"points"`
}

// ReportPoint is one scored row.
type ReportPoint struct {
	Timestamp time.Time     `json:"timestamp"`
	Index     int           `json:"index"`
	Score     float64       `json:"score"`
	Anomaly   bool          `json:"anomaly"`
	Statistic string        `json:"statistic"`
	Actual    []jsonFloat   `json:"actual"`
	Expected  []jsonFloat   `json:"expected"`
	Top       []ReportCause `json:"top"`
}

// ReportCause is one metric blamed for a point.
type ReportCause struct {
	Metric       string    `json:"metric"`
	Actual       jsonFloat `json:"actual"`
	Expected     jsonFloat `json:"expected"`
	Contribution float64   `json:"contribution"`
	Statistic    string    `json:"statistic"`
	Sigma        jsonFloat `json:"sigma"`
	Detail       string    `json:"detail"`
}

// jsonFloat writes NaN, which JSON cannot hold, as null, and the infinities
// (the sigma of a metric constant in training that moved) as strings.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	switch {
	case math.IsNaN(float64(f)):
		return []byte("null"), nil
	case math.IsInf(float64(f), 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(float64(f), -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, float64(f), 'g', -1, 64), nil
}

func jsonFloats(v []float64) []jsonFloat {
	out := make([]jsonFloat, len(v))
	for i, x := range v {
		out[i] = jsonFloat(x)
	}
	return out
}

// Backtest fits a detector on the first train rows of t (0 for DefaultTrain) and
// scores every later row in order, as the daemon would.
func Backtest(ctx context.Context, t *Table, cfg Config, train int) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	if train == 0 {
		train = DefaultTrain(len(t.Rows), cfg.Period)
	}
	if train < 3 {
		return nil, fmt.Errorf("backtest: %d training rows: need at least 3", train)
	}
	if len(t.Rows) <= train {
		return nil, fmt.Errorf("backtest: %d rows: training needs %d and leaves none to score", len(t.Rows), train)
	}
	d, err := New(cfg, t.Metrics)
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	if err := d.Fit(t.Rows[:train]); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	sum := d.Summary()
	rep := &Report{
		Period: cfg.Period, Train: train, Metrics: t.Metrics,
		Components: sum.Components, ExplainedVarianceRatio: sum.ExplainedVarianceRatio,
		Threshold: sum.Threshold, Notes: sum.Notes,
		Points: make([]ReportPoint, 0, len(t.Rows)-train),
	}
	for i := train; i < len(t.Rows); i++ {
		if (i-train)%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("backtest: %w", err)
			}
		}
		p, err := d.Score(t.Rows[i])
		if err != nil {
			return nil, fmt.Errorf("backtest: row %d: %w", i, err)
		}
		rp := ReportPoint{
			Timestamp: t.Timestamps[i], Index: i, Score: p.Score, Anomaly: p.Anomaly, Statistic: p.Statistic,
			Actual: jsonFloats(t.Rows[i]), Expected: jsonFloats(p.Expected), Top: make([]ReportCause, len(p.Top)),
		}
		for c, cause := range p.Top {
			rp.Top[c] = ReportCause{Metric: cause.Metric, Actual: jsonFloat(cause.Actual), Expected: jsonFloat(cause.Expected), Contribution: cause.Contribution,
				Statistic: cause.Statistic, Sigma: jsonFloat(cause.Sigma), Detail: cause.Detail}
		}
		rep.Points = append(rep.Points, rp)
	}
	return rep, nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write backtest json: %w", err)
	}
	return nil
}

// WriteText writes a summary, what the score and the threshold mean, and the
// flagged rows with the metrics to blame, every number labelled.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	share := 0.0
	for _, e := range r.ExplainedVarianceRatio {
		share += e
	}
	fmt.Fprintf(&b, "backtest: %d metrics, period %d, trained on %d rows; principal components: %d (%.1f%% of variance)\n",
		len(r.Metrics), r.Period, r.Train, r.Components, 100*share)
	fmt.Fprintf(&b, "score: -log10 of the estimated chance that a healthy row looks this unusual (3: about 1 in 1,000), capped at %d\n", ScoreCap)
	fmt.Fprintf(&b, "threshold: %.2f (a healthy row reaches it %s); rows scoring at or above it are flagged\n",
		r.Threshold, strings.Replace(Frequency(r.Threshold), "windows", "rows", 1))
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	flagged := 0
	for _, p := range r.Points {
		if p.Anomaly {
			flagged++
		}
	}
	fmt.Fprintf(&b, "%d of %d scored rows flagged\n", flagged, len(r.Points))
	if flagged > 0 {
		b.WriteString("each flagged row: its score; the statistic that scored highest; the metrics to blame, each with its\n" +
			"value, the expected value (the forecast), the deviation (value - expected) and its contribution (share of the evidence)\n")
	}
	for _, p := range r.Points {
		if !p.Anomaly {
			continue
		}
		fmt.Fprintf(&b, "\n%s  row %d  score %s, threshold %.2f\n", p.Timestamp.Format(time.RFC3339), p.Index,
			ScoreWithChance(p.Score), r.Threshold)
		fmt.Fprintf(&b, "  statistic %s", p.Statistic)
		if m := StatisticMeaning(p.Statistic); m != "" {
			fmt.Fprintf(&b, ": %s", m)
		}
		b.WriteString("\n")
		for _, c := range p.Top {
			fmt.Fprintf(&b, "  %s\n", CauseFacts{Metric: c.Metric, Actual: float64(c.Actual), Expected: float64(c.Expected),
				Contribution: c.Contribution, Detail: c.Detail}.Explain())
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write backtest text: %w", err)
	}
	return nil
}
