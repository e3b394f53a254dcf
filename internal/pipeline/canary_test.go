package pipeline

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/promtest"
)

func canaryModel(t testing.TB) *model.Model {
	t.Helper()
	return modeltest.Rows(t, `model: fraud
prediction: {kind: probability}
canary: {reference: v1, candidate: v2}
features:
  - {name: x, type: numeric}
  - {name: c, type: categorical, categories: [a, b, c]}
`, 2000, rand.New(rand.NewPCG(7, 7)), func(r *rand.Rand, csv *strings.Builder) {
		fmt.Fprintf(csv, "%.4f,%s", r.NormFloat64(), category(r))
	})
}

func category(rng *rand.Rand) string {
	switch u := rng.Float64(); {
	case u < 0.5:
		return "a"
	case u < 0.8:
		return "b"
	}
	return "c"
}

// canaryTrial is how the candidate version v2 differs in a recording.
type canaryTrial int

const (
	// cleanCanary: v2 is v1 on a random tenth of the traffic.
	cleanCanary canaryTrial = iota
	// worseCanary: v2's probabilities are shifted up and far less
	// informative, and it serves 2.5 times as slowly.
	worseCanary
	// biasedSplit: v2 is v1, but the router sends it only requests with x
	// above 0.5.
	biasedSplit
)

// canaryRecording writes ten minutes and three seconds of traffic, 2,000
// requests a minute, a tenth of them scored by v2, each labelled five
// seconds later with an outcome drawn from v1's probability (v1 is
// calibrated).
func canaryRecording(t *testing.T, trial canaryTrial) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, uint64(trial)))
	var b strings.Builder
	effect := map[string]float64{"a": -0.5, "b": 0, "c": 0.8}
	for i := range 20_100 {
		at := t0.Add(time.Duration(i) * 30 * time.Millisecond)
		x, c := rng.NormFloat64(), category(rng)
		truth := 1 / (1 + math.Exp(-(1.5*x + effect[c])))
		version, p, latency := "v1", truth, 10+rng.ExpFloat64()*5
		switch canary := rng.Float64() < 0.1; {
		case trial == biasedSplit && x > 0.5 && rng.Float64() < 0.35:
			version = "v2"
		case trial == biasedSplit:
		case canary && trial == worseCanary:
			version = "v2"
			p = 1 / (1 + math.Exp(-(0.3*x + effect[c] + 1.2 + 1.5*rng.NormFloat64())))
			latency *= 2.5
		case canary:
			version = "v2"
		}
		label := 0
		if rng.Float64() < truth {
			label = 1
		}
		id := fmt.Sprintf("r%d", i)
		fmt.Fprintf(&b, `{"model": "fraud", "model_version": %q, "request_id": %q, "timestamp": %q, "features": {"x": %.5f, "c": %q}, "prediction": %.6f, "latency_ms": %.3f}`+"\n",
			version, id, at.Format(time.RFC3339Nano), x, c, p, latency)
		fmt.Fprintf(&b, `{"model": "fraud", "request_id": %q, "timestamp": %q, "label": %d}`+"\n",
			id, at.Add(5*time.Second).Format(time.RFC3339Nano), label)
	}
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replayCanary replays a trial and returns its canary and version results
// by window ("10:03") and metric ("version:v2 auc"), and the per-version
// series /metrics publishes after it ("v2 version latency_ms_p95").
func replayCanary(t *testing.T, trial canaryTrial) (map[string]map[string]check.Result, map[string]float64) {
	t.Helper()
	rec := &recorder{}
	opts := testOptions(canaryModel(t), rec)
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	opts.EventTime, opts.Now, opts.ReplayTick = true, nil, time.Minute
	opts.Labels = &labels.JoinerConfig{MaxDelay: time.Hour, MaxPending: 100_000}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	src, err := ingest.NewFileSource(ingest.FileSourceOptions{Path: canaryRecording(t, trial), MaxLineBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := Replay(context.Background(), src, p); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]check.Result{}
	for _, b := range rec.batches {
		for _, r := range b.Results {
			if r.Kind != check.Canary && r.Kind != check.Version {
				continue
			}
			w := r.WindowStart.Format("15:04")
			if got[w] == nil {
				got[w] = map[string]check.Result{}
			}
			got[w][r.Feature+" "+r.Metric] = r
		}
	}
	// The series a canary adds pass Prometheus' naming lint.
	promtest.CheckMetrics(t, exposition(t, reg, "sentinel_version_value", "sentinel_check_value", "sentinel_check_threshold"))
	published := gauges(t, reg, "sentinel_version_value", func(l map[string]string) (string, bool) {
		return l["version"] + " " + l["kind"] + " " + l["metric"], true
	})
	return got, published
}

// TestCanary replays a worse canary, a clean one and a biased split at a
// tenth of the traffic: the worse one is flagged on its predictions, latency
// and quality, the clean one on nothing, and the biased split as a biased
// split.
func TestCanary(t *testing.T) {
	const v2 = "version:v2 "
	// Windows from 10:01 to 10:08 are whole and hold their labels (joined
	// five seconds after their predictions, in the label's window).
	whole := []string{"10:01", "10:02", "10:03", "10:04", "10:05", "10:06", "10:07", "10:08"}

	t.Run("worse", func(t *testing.T) {
		got, published := replayCanary(t, worseCanary)
		// /metrics holds each version's own metrics of the last window,
		// labelled by version.
		if v1, v2 := published["v1 version latency_ms_p95"], published["v2 version latency_ms_p95"]; !(v1 > 0 && v2 > 1.5*v1) {
			t.Errorf("published p95 latency by version: v1 %v, v2 %v", v1, v2)
		}
		if share := published["v1 availability event_share"] + published["v2 availability event_share"]; math.Abs(share-1) > 1e-9 {
			t.Errorf("published event shares add up to %v, want 1 (%v)", share, published)
		}
		for _, w := range whole {
			for _, metric := range []string{check.PredictionDrift, check.LatencyP95Ratio} {
				if r, ok := got[w][v2+metric]; !ok || !r.Breached {
					t.Errorf("%s: %s %+v, want breached", w, metric, r)
				}
			}
			// Two hundred labels a window tell a loss of ten points of AUC or
			// accuracy from noise at the rates' budget, though not always both.
			if !got[w][v2+check.AUCLoss].Breached && !got[w][v2+check.AccuracyLoss].Breached {
				t.Errorf("%s: quality not flagged: auc_loss %+v, accuracy_loss %+v", w, got[w][v2+check.AUCLoss], got[w][v2+check.AccuracyLoss])
			}
			if r := got[w][v2+check.SplitPValue]; r.Breached {
				t.Errorf("%s: split reported biased (%+v)", w, r)
			}
			// Each version's own profile is reported beside the verdicts.
			for _, v := range []string{"version:v1 ", v2} {
				for _, metric := range []string{check.LatencyP95, check.AUC, check.Labelled, check.PredictionP50} {
					if _, ok := got[w][v+metric]; !ok {
						t.Errorf("%s: no %s%s", w, v, metric)
					}
				}
			}
			if ref, cand := got[w]["version:v1 "+check.LatencyP95].Value, got[w][v2+check.LatencyP95].Value; !(cand > 1.5*ref) {
				t.Errorf("%s: latency p95 v1 %v, v2 %v; want v2 about twice v1", w, ref, cand)
			}
		}
	})
	t.Run("clean", func(t *testing.T) {
		got, _ := replayCanary(t, cleanCanary)
		for _, w := range whole {
			for _, metric := range []string{check.PredictionDrift, check.ErrorRatioIncrease, check.NaNRatioIncrease, check.LatencyP95Ratio,
				check.LatencyP99Ratio, check.AUCLoss, check.AccuracyLoss, check.SplitPValue} {
				r, ok := got[w][v2+metric]
				if !ok || r.Skipped != "" {
					t.Errorf("%s: %s not judged (%+v)", w, metric, r)
				}
				if r.Breached {
					t.Errorf("%s: clean canary breached %s: %+v", w, metric, r)
				}
			}
		}
	})
	t.Run("biased", func(t *testing.T) {
		got, _ := replayCanary(t, biasedSplit)
		for _, w := range whole {
			r := got[w][v2+check.SplitPValue]
			if !r.Breached || !strings.Contains(r.Detail, "feature x") {
				t.Errorf("%s: split %+v, want breached on feature x", w, r)
			}
		}
	})
}

// TestCanaryTooFew: a window where the candidate sent fewer events than
// canary.min_events is recorded as skipped, not judged.
func TestCanaryTooFew(t *testing.T) {
	got, _ := replayCanary(t, cleanCanary)
	// The last window holds three seconds of traffic: a tenth of it is
	// below min_events.
	if r := got["10:10"]["version:v2 "+check.PredictionDrift]; r.Skipped != check.SkipTooFewSamples {
		t.Errorf("10:10: %+v, want skipped for too few events", r)
	}
}
