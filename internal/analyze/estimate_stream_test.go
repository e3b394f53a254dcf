package analyze_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/cbpe"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
)

var streamStart = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// world is the generated stream's ground truth and model. The label of
// inputs (x1, x2) is positive with probability σ(z), z = 1.2·x1 − 0.8·x2 −
// 0.7; the model scores σ(1.6·z), overconfident, so that its probabilities
// need the calibration.
type world struct {
	// shift moves x1's mean (a change of inputs the model handles, which
	// changes its quality: CBPE follows it); flip turns the labels of inputs
	// with x2 > 0.5 (three in ten) over (concept drift: the same inputs now
	// mean the opposite).
	shift float64
	flip  bool
}

func (w world) draw(rng *rand.Rand) (x1, x2, score float64, positive bool) {
	x1, x2 = rng.NormFloat64()+w.shift, rng.NormFloat64()
	z := 1.2*x1 - 0.8*x2 - 0.7
	positive = rng.Float64() < 1/(1+math.Exp(-z))
	if w.flip && x2 > 0.5 {
		positive = !positive
	}
	return x1, x2, 1 / (1 + math.Exp(-1.6*z)), positive
}

// calibratedModel is the model with a baseline of n labelled rows of the
// undisturbed world, from which sentinel baseline learns the calibration.
func calibratedModel(t *testing.T, n int) *model.Model {
	t.Helper()
	c, err := config.ParseContract([]byte(`model: credit
prediction: {kind: probability, column: score, label_column: defaulted}
features:
  - {name: x1, type: numeric}
  - {name: x2, type: numeric}
`))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var csv strings.Builder
	csv.WriteString("x1,x2,score,defaulted\n")
	for range n {
		x1, x2, score, y := world{}.draw(rng)
		fmt.Fprintf(&csv, "%g,%g,%g,%t\n", x1, x2, score, y)
	}
	m := modeltest.FromCSV(t, c, csv.String())
	if m.Baseline.Calibration == nil || m.Baseline.Calibration.Method != cbpe.Isotonic {
		t.Fatalf("the overconfident model's baseline has no isotonic calibration: %+v", m.Baseline.Calibration)
	}
	return m
}

// stream is a recording of the model's traffic: perWindow events a minute,
// a labelled share of them labelled after a delay up to maxDelay, in the
// world each window's index gives.
type stream struct {
	windows, perWindow int
	labelled           float64
	maxDelay           time.Duration
	world              func(window int) world
}

type message struct {
	at    time.Time
	value []byte
}

// messages returns the recording in event time, and the model's scores per
// window for the exact estimate.
func (s stream) messages(seed uint64) ([]message, [][]float64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []message
	scores := make([][]float64, s.windows)
	step := time.Minute / time.Duration(s.perWindow)
	for w := range s.windows {
		wd := s.world(w)
		for i := range s.perWindow {
			at := streamStart.Add(time.Duration(w)*time.Minute + time.Duration(i)*step)
			id := w*s.perWindow + i
			x1, x2, score, positive := wd.draw(rng)
			scores[w] = append(scores[w], score)
			out = append(out, message{at, fmt.Appendf(nil,
				`{"model":"credit","request_id":"r-%d","timestamp":%q,"features":{"x1":%g,"x2":%g},"prediction":%g,"latency_ms":4}`,
				id, at.Format(time.RFC3339Nano), x1, x2, score)})
			if rng.Float64() < s.labelled {
				y := 0
				if positive {
					y = 1
				}
				lat := at.Add(time.Duration(rng.Int64N(int64(s.maxDelay))))
				out = append(out, message{lat, fmt.Appendf(nil, `{"model":"credit","request_id":"r-%d","timestamp":%q,"label":%d}`,
					id, lat.Format(time.RFC3339Nano), y)})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b message) int { return a.at.Compare(b.at) })
	return out, scores
}

// results is what a store would hold of each window.
type results struct{ batches []store.Batch }

func (r *results) Write(_ context.Context, b store.Batch) error {
	r.batches = append(r.batches, b.Clone())
	return nil
}

// windowResult is one window's performance results by metric.
type windowResult struct {
	values   map[string]float64
	breached map[string]bool
}

func (r *results) byWindow() map[time.Time]windowResult {
	out := make(map[time.Time]windowResult)
	for _, b := range r.batches {
		for _, res := range b.Results {
			if res.Kind != check.Performance || res.Feature != check.PredictionFeature {
				continue
			}
			w, ok := out[res.WindowStart]
			if !ok {
				w = windowResult{values: map[string]float64{}, breached: map[string]bool{}}
				out[res.WindowStart] = w
			}
			w.values[res.Metric] = res.Value
			w.breached[res.Metric] = res.Breached
		}
	}
	return out
}

// replay runs the recording through the daemon's pipeline, as `sentinel
// replay` does: event time is the clock, labels are in the same stream.
func replay(t *testing.T, m *model.Model, msgs []message) *results {
	t.Helper()
	rec := &results{}
	p, err := pipeline.New(pipeline.Options{Models: []*model.Model{m}, Window: time.Minute, Lateness: 10 * time.Second,
		ReferencePeriod: time.Hour, MinSamples: 100, MaxMessageBytes: 4096, EventTime: true,
		Labels: &labels.JoinerConfig{MaxDelay: time.Hour, MaxPending: 1_000_000}, Writer: rec, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, msg := range msgs {
		if err := p.Process(ctx, ingest.Message{Topic: "events", Offset: int64(i), Value: msg.value}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestEstimatedQualityStream: on a generated stream of an overconfident
// model whose baseline learnt the calibration, through the daemon's
// pipeline, with 5000 events a window and the inputs shifting a third of the
// way in (which moves the model's accuracy; CBPE follows), no gap breaches
// before a concept drift (the labels of three inputs in ten flip, the inputs
// unchanged) and the gaps breach within two windows of it. With every label
// arriving within 8 seconds, the estimated accuracy and AUC are within 0.02
// of the realised ones in every window before the drift, and the sketch's
// estimate within 0.003 of the exact one.
//
// With labels up to two windows late, a window's labels are of earlier
// windows' predictions; the gap compares them with the estimate for those
// same predictions, so the shift, which the estimate follows, breaches
// nothing there either.
func TestEstimatedQualityStream(t *testing.T) {
	m := calibratedModel(t, 20000)
	cal := &m.Baseline.Calibration.Calibration
	const windows, shift, drift = 20, 7, 14
	for _, tc := range []struct {
		name     string
		maxDelay time.Duration
	}{
		{"labels within 8s", 8 * time.Second},
		{"labels within two windows", 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := stream{windows: windows, perWindow: 5000, labelled: 1, maxDelay: tc.maxDelay, world: func(w int) world {
				switch {
				case w >= drift:
					return world{shift: -1, flip: true}
				case w >= shift:
					return world{shift: -1}
				}
				return world{}
			}}
			msgs, scores := s.messages(42)
			got := replay(t, m, msgs).byWindow()
			var worstAcc, worstAUC, worstSketch float64
			detected := -1
			for w := range windows {
				r, ok := got[streamStart.Add(time.Duration(w)*time.Minute)]
				if !ok {
					t.Fatalf("no results for window %d", w)
				}
				v := r.values
				for _, metric := range []string{check.EstimatedAccuracy, check.EstimatedAUC, check.Accuracy, check.AUC, check.AccuracyGap, check.AUCGap} {
					if _, ok := v[metric]; !ok {
						t.Fatalf("window %d: no %s among %v", w, metric, v)
					}
				}
				exact := cal.Estimate(cbpe.ExactAtoms(scores[w]))
				worstSketch = max(worstSketch, math.Abs(v[check.EstimatedAccuracy]-exact.Accuracy), math.Abs(v[check.EstimatedAUC]-exact.AUC))
				breached := r.breached[check.AccuracyGap] || r.breached[check.AUCGap]
				t.Logf("window %2d: accuracy estimated %.4f realised %.4f gap %+.4f%s; AUC estimated %.4f realised %.4f gap %+.4f%s",
					w, v[check.EstimatedAccuracy], v[check.Accuracy], v[check.AccuracyGap], mark(r.breached[check.AccuracyGap]),
					v[check.EstimatedAUC], v[check.AUC], v[check.AUCGap], mark(r.breached[check.AUCGap]))
				if w < drift {
					worstAcc, worstAUC = max(worstAcc, math.Abs(v[check.AccuracyGap])), max(worstAUC, math.Abs(v[check.AUCGap]))
					if breached {
						t.Errorf("window %d: a gap breached before the drift", w)
					}
					continue
				}
				if breached && detected < 0 {
					detected = w
				}
				if !breached && detected >= 0 {
					t.Errorf("window %d: no gap breached under concept drift", w)
				}
			}
			t.Logf("before the drift: largest |estimated − realised| accuracy %.4f, AUC %.4f; sketch against exact estimate %.2g; drift found %d windows after it began",
				worstAcc, worstAUC, worstSketch, detected-drift)
			if worstAcc > 0.02 || worstAUC > 0.02 {
				t.Errorf("estimates off by %.4f (accuracy), %.4f (AUC), more than 0.02", worstAcc, worstAUC)
			}
			if worstSketch > 0.003 {
				t.Errorf("the sketch's estimate is %.4f from the exact one", worstSketch)
			}
			if detected < 0 || detected-drift > 2 {
				t.Errorf("concept drift from window %d found at window %d, want within 2 windows", drift, detected)
			}
		})
	}
}

func mark(breached bool) string {
	if breached {
		return " BREACHED"
	}
	return ""
}

// TestEstimatedQualityQuiet: a stationary stream with few labels, delayed by
// up to two windows so that the labels of one window score in another, and
// quiet windows of 500 events: over 60 windows no gap breaches.
func TestEstimatedQualityQuiet(t *testing.T) {
	m := calibratedModel(t, 20000)
	s := stream{windows: 60, perWindow: 500, labelled: 0.4, maxDelay: 2 * time.Minute, world: func(int) world { return world{} }}
	msgs, _ := s.messages(7)
	got := replay(t, m, msgs).byWindow()
	var gaps, breaches int
	for start, r := range got {
		for _, metric := range []string{check.AccuracyGap, check.AUCGap} {
			if _, ok := r.values[metric]; ok {
				gaps++
			}
			if r.breached[metric] {
				breaches++
				t.Errorf("window %s: %s %.4f breached on stationary traffic", start.Format("15:04"), metric, r.values[metric])
			}
		}
	}
	if gaps < 100 {
		t.Errorf("only %d gaps reported over 60 windows", gaps)
	}
	t.Logf("%d gaps over %d windows, %d breached", gaps, len(got), breaches)
}
