package shadow

import (
	"encoding/csv"
	"encoding/json"
	"hash/fnv"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/profile"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// shadowModel is a model of the given kind with the shadow pair v1, v2.
func shadowModel(t testing.TB, name string, kind config.PredictionKind, yaml string) *model.Model {
	t.Helper()
	c, err := config.ParseContract([]byte("model: " + name + "\nprediction: {kind: " + string(kind) + "}\n" +
		"shadow: {reference: v1, candidate: v2" + yaml + "}\nfeatures: [{name: x, type: numeric}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(c, &profile.Baseline{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type reference struct {
	Pairs         uint64  `json:"pairs"`
	ReferenceOnly uint64  `json:"reference_only"`
	CandidateOnly uint64  `json:"candidate_only"`
	Disagreement  float64 `json:"disagreement_ratio"`
	Mean          float64 `json:"abs_difference_mean"`
	P50           float64 `json:"abs_difference_p50"`
	P95           float64 `json:"abs_difference_p95"`
}

// TestAgainstNumpy: the pairs of testdata/pairs.csv, offered in the order
// testdata/reference.py wrote them and split by request id between two
// partitions whose windows merge, give the disagreement, the differences and
// the unpaired counts numpy computed on the same pairs: counts and rates
// exactly, the mean to rounding, the quantiles within the sketch's relative
// accuracy.
func TestAgainstNumpy(t *testing.T) {
	var want map[string]reference
	data, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	models := []*model.Model{shadowModel(t, "prob", config.Probability, ""), shadowModel(t, "cls", config.Class, "")}
	var joins [2]*Join
	var windows [2]map[string]*Window
	for k := range joins {
		if joins[k], err = NewJoin(models); err != nil {
			t.Fatal(err)
		}
		windows[k] = map[string]*Window{}
		for _, m := range models {
			windows[k][m.Name()] = NewWindow(m.PredictionKind())
		}
	}
	f, err := os.Open("testdata/pairs.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[1:] {
		name, id, version, pred := row[0], row[1], row[2], row[3]
		ms, err := strconv.Atoi(row[4])
		if err != nil {
			t.Fatal(err)
		}
		v := labels.Value{Class: pred}
		if name == "prob" {
			if v.Num, err = strconv.ParseFloat(pred, 64); err != nil {
				t.Fatal(err)
			}
			v.Class = ""
		}
		h := fnv.New32a()
		h.Write([]byte(id))
		k := h.Sum32() % 2
		if p, ok := joins[k].Offer(name, []byte(version), []byte(id), v, t0.Add(time.Duration(ms)*time.Millisecond)); ok {
			windows[k][name].Add(p)
		}
	}
	for k := range joins {
		joins[k].Expire(t0.Add(time.Hour))
		for _, m := range models {
			windows[k][m.Name()].AddUnpaired(joins[k].Settle(m.Name()))
		}
	}
	for _, m := range models {
		w := windows[0][m.Name()]
		if err := w.Merge(windows[1][m.Name()]); err != nil {
			t.Fatal(err)
		}
		ref := want[m.Name()]
		got := map[string]float64{}
		for _, r := range w.Results(m.Name(), t0, t0.Add(time.Minute), m.Contract.Shadow) {
			got[r.Metric] = r.Value
		}
		t.Logf("%s: %v", m.Name(), got)
		unpaired := float64(ref.ReferenceOnly+ref.CandidateOnly) / float64(ref.Pairs+ref.ReferenceOnly+ref.CandidateOnly)
		exact := map[string]float64{check.Pairs: float64(ref.Pairs), check.ReferenceOnly: float64(ref.ReferenceOnly),
			check.CandidateOnly: float64(ref.CandidateOnly), check.DisagreementRatio: ref.Disagreement,
			check.UnpairedRatio: unpaired, check.Evicted: 0}
		for metric, v := range exact {
			if g, ok := got[metric]; !ok || math.Abs(g-v) > 1e-12 {
				t.Errorf("%s %s = %v, numpy %v", m.Name(), metric, g, v)
			}
		}
		if m.PredictionKind() == config.Class {
			if _, ok := got[check.AbsDifferenceMean]; ok {
				t.Errorf("%s: differences of class predictions", m.Name())
			}
			continue
		}
		if g := got[check.AbsDifferenceMean]; math.Abs(g-ref.Mean) > 1e-12 {
			t.Errorf("%s mean difference %v, numpy %v", m.Name(), g, ref.Mean)
		}
		for metric, v := range map[string]float64{check.AbsDifferenceP50: ref.P50, check.AbsDifferenceP95: ref.P95} {
			if g := got[metric]; math.Abs(g-v) > profile.DefaultRelativeAccuracy*v {
				t.Errorf("%s %s = %v, numpy %v: off by more than %v of it", m.Name(), metric, g, v, profile.DefaultRelativeAccuracy)
			}
		}
	}
}
