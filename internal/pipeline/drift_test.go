package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/golden"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/skew"
	"github.com/sentinel-ml/sentinel/internal/stats"
)

// driftModel has one feature per kind of drift summary: binned (PSI), shaped
// (KS p-value, Wasserstein) and categorical (L∞), and a score prediction, whose
// drift is a Wasserstein distance.
func driftModel(t *testing.T) *model.Model {
	t.Helper()
	c, err := config.ParseContract([]byte(`model: drift
prediction: {kind: score}
features:
  - {name: binned, type: numeric, drift: {method: psi}}
  - {name: ks, type: numeric, drift: {method: ks_p_value}}
  - {name: wd, type: numeric, drift: {method: wasserstein_normed}}
  - {name: cat, type: categorical, drift: {method: l_infinity}}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	var csv strings.Builder
	csv.WriteString("binned,ks,wd,cat\n")
	for range 1000 {
		fmt.Fprintf(&csv, "%.4f,%.4f,%.4f,c%d\n", r.NormFloat64(), r.NormFloat64(), r.NormFloat64(), r.IntN(5))
	}
	return modeltest.FromCSV(t, c, csv.String())
}

// TestDriftReferences: each window's drift against the previous window and
// against the previous reference period equals the statistic computed from
// whole profiles of those windows, though the pipeline keeps only summaries of
// them.
func TestDriftReferences(t *testing.T) {
	m := driftModel(t)
	rec := &recorder{}
	opts := testOptions(m, rec)
	opts.ReferencePeriod = 2 * time.Minute
	opts.Lateness = 0
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	const windows, perWindow = 6, 200
	r := rand.New(rand.NewPCG(4, 4))
	features := make([][]*profile.Feature, windows) // per window: the features, then the prediction
	ctx := context.Background()
	offset := int64(0)
	for w := range windows {
		for _, s := range slices.Concat(m.Specs(), []profile.Spec{m.PredictionSpec()}) {
			f, err := profile.NewFeature(s)
			if err != nil {
				t.Fatal(err)
			}
			features[w] = append(features[w], f)
		}
		// Each window moves a little, so that every reference gives another value.
		shift := 0.1 * float64(w)
		for k := range perWindow {
			values := []float64{r.NormFloat64() + shift, r.NormFloat64()*(1+shift) - shift, r.ExpFloat64() + shift}
			cat := fmt.Sprintf("c%d", min(r.IntN(5+w), 6))
			pred := r.Float64() * (1 + shift)
			at := t0.Add(time.Duration(w)*time.Minute + time.Duration(k)*time.Minute/perWindow)
			e := fmt.Sprintf(`{"model": "drift", "timestamp": %q, "features": {"binned": %v, "ks": %v, "wd": %v, "cat": %q}, "prediction": %v}`,
				at.Format(time.RFC3339Nano), values[0], values[1], values[2], cat, pred)
			for i, v := range values {
				features[w][i].AddNumber(v)
			}
			features[w][3].AddString([]byte(cat))
			features[w][4].AddNumber(pred)
			if err := p.Process(ctx, msg(offset, []byte(e))); err != nil {
				t.Fatal(err)
			}
			offset++
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := make(map[string]float64)
	for _, b := range rec.batches {
		for _, res := range b.Results {
			if res.Kind == check.Drift {
				got[fmt.Sprintf("%s %s %s", res.WindowStart.Format("15:04"), res.Feature, res.Metric)] = res.Value
			}
		}
	}
	merged := func(ws ...int) []*profile.Feature {
		out := make([]*profile.Feature, len(features[0]))
		for i := range out {
			var err error
			if out[i], err = profile.NewFeature(features[0][i].Spec()); err != nil {
				t.Fatal(err)
			}
			for _, w := range ws {
				if err := out[i].Merge(features[w][i]); err != nil {
					t.Fatal(err)
				}
			}
		}
		return out
	}
	rules := []config.DriftRule{}
	for _, f := range m.Contract.Features {
		rules = append(rules, f.Drift)
	}
	rules = append(rules, m.PredictionDrift())
	names := []string{"binned", "ks", "wd", "cat", "prediction"}
	expect := func(w int, suffix string, ref []*profile.Feature) {
		t.Helper()
		for i, name := range names {
			typ := config.Numeric
			if name == "cat" {
				typ = config.Categorical
			}
			cmp := stats.CompareNumeric
			if typ == config.Categorical {
				cmp = stats.CompareCategorical
			}
			want := skew.Statistic(cmp(ref[i].Distribution(), features[w][i].Distribution()), rules[i].Method)
			key := fmt.Sprintf("%s %s %s%s", t0.Add(time.Duration(w)*time.Minute).Format("15:04"), name, rules[i].Method, suffix)
			g, ok := got[key]
			if !ok || math.Abs(g-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Errorf("%s = %v (reported %v), want %v", key, g, ok, want)
			}
			delete(got, key)
		}
	}
	for w := 1; w < windows; w++ {
		expect(w, "_vs_previous", merged(w-1))
	}
	// Periods of two minutes: windows 2 and 3 compare with 0+1, 4 and 5 with 2+3.
	for w := 2; w < windows; w++ {
		first := w/2*2 - 2
		expect(w, "_vs_reference", merged(first, first+1))
	}
	if len(got) > 0 {
		t.Errorf("unexpected drift results: %v", got)
	}
}

// TestCheckMetrics: the thresholded results of each model's last closed window
// are exported, and a check the next window does not produce disappears rather
// than repeating a stale value.
func TestCheckMetrics(t *testing.T) {
	opts := testOptions(driftModel(t), &recorder{})
	opts.Lateness = 0
	opts.MinSamples = 3
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	offset := int64(0)
	send := func(at time.Time, binned string) {
		t.Helper()
		e := fmt.Sprintf(`{"model": "drift", "timestamp": %q, "features": {"binned": %s, "ks": 0.5, "wd": 1, "cat": "c1"}, "prediction": 0.5}`,
			at.Format(time.RFC3339Nano), binned)
		if err := p.Process(ctx, msg(offset, []byte(e))); err != nil {
			t.Fatal(err)
		}
		offset++
	}
	golden := func(name string) {
		t.Helper()
		path := filepath.Join("testdata", name)
		if golden.Updating() {
			golden.Write(t, path, exposition(t, reg, "sentinel_check_value", "sentinel_check_breached"))
		}
		want, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer want.Close()
		if err := testutil.GatherAndCompare(reg, want, "sentinel_check_value", "sentinel_check_breached"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// 10:00 has three events, one with a wrong type: enough samples to compare
	// with the baseline, and the wrong type breaches its zero threshold.
	send(t0, "1")
	send(t0.Add(time.Second), "2")
	send(t0.Add(2*time.Second), `"oops"`)
	send(t0.Add(time.Minute), "1") // closes 10:00
	golden("check_metrics_first.prom")
	// 10:01 has one event: too few samples for skew and drift, whose series go.
	send(t0.Add(2*time.Minute), "1") // closes 10:01
	golden("check_metrics_second.prom")
	// The skips are counted: binned at 10:00 (one of three values of the wrong
	// type), every feature's skew at 10:01, and its drift against 10:00 for the
	// four features and the prediction.
	skipped := `
# HELP sentinel_checks_skipped_total Checks of closed windows that did not run, by kind and reason (too_few_samples: a side held fewer values than drift.min_samples).
# TYPE sentinel_checks_skipped_total counter
sentinel_checks_skipped_total{kind="drift",model="drift",reason="too_few_samples"} 5
sentinel_checks_skipped_total{kind="skew",model="drift",reason="too_few_samples"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(skipped), "sentinel_checks_skipped_total"); err != nil {
		t.Error(err)
	}
}

// exposition is the text exposition of the named families gathered from g.
// gauges returns the values of a gauge family's series by key, which names a
// series from its labels, or says to leave it out.
func gauges(t *testing.T, g prometheus.Gatherer, family string, key func(labels map[string]string) (string, bool)) map[string]float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if k, ok := key(l); ok {
				out[k] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func exposition(t *testing.T, g prometheus.Gatherer, names ...string) []byte {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, f := range families {
		if slices.Contains(names, f.GetName()) {
			if _, err := expfmt.MetricFamilyToText(&out, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out.Bytes()
}
