package profile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/cbpe"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
)

func calibratedContract(t *testing.T) *config.Contract {
	t.Helper()
	c, err := config.ParseContract([]byte(`model: m
prediction: {kind: probability, column: score, label_column: label}
features: [{name: x, type: numeric}]
`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// labelledData is n rows of an overconfident model (its logits three times
// too large), then one row of each kind that cannot be used.
func labelledData(n int) (csv, jsonl string, prob []float64, positive []bool) {
	rng := rand.New(rand.NewPCG(8, 9))
	var c, j strings.Builder
	c.WriteString("x,score,label\n")
	for range n {
		x := rng.NormFloat64()
		p := 1 / (1 + math.Exp(-3*x))
		y := rng.Float64() < 1/(1+math.Exp(-x))
		label := map[bool]string{true: "1", false: "0"}[y]
		fmt.Fprintf(&c, "%g,%g,%s\n", x, p, label)
		fmt.Fprintf(&j, `{"x": %g, "score": %g, "label": %s}`+"\n", x, p, map[bool]string{true: "true", false: "false"}[y])
		prob, positive = append(prob, p), append(positive, y)
	}
	c.WriteString("1,,1\n1,0.5,\n1,1.5,0\n1,0.5,2\n")
	j.WriteString(`{"x": 1, "label": 1}` + "\n" + `{"x": 1, "score": 0.5, "label": null}` + "\n" +
		`{"x": 1, "score": 1.5, "label": 0}` + "\n" + `{"x": 1, "score": 0.5, "label": 2}` + "\n")
	return c.String(), j.String(), prob, positive
}

func build(t *testing.T, c *config.Contract, data string, jsonl bool) (*Baseline, error) {
	t.Helper()
	return Build(context.Background(), c, func() (dataset.Reader, io.Closer, error) {
		if jsonl {
			return dataset.NewJSONL(strings.NewReader(data)), io.NopCloser(nil), nil
		}
		r, err := dataset.NewCSV(strings.NewReader(data))
		return r, io.NopCloser(nil), err
	}, BuildOptions{Now: func() time.Time { return time.Unix(0, 0) }})
}

// TestBuildCalibration: with the contract's prediction and label columns,
// the baseline learns what cbpe.Learn learns from the usable rows, counts the
// others by reason, profiles only the features, and keeps the calibration
// through a write and a load; CSV and JSON Lines give the same.
func TestBuildCalibration(t *testing.T) {
	const n = 3000
	csv, jsonl, prob, positive := labelledData(n)
	want, err := cbpe.Learn(prob, positive)
	if err != nil {
		t.Fatal(err)
	}
	if want.Method != cbpe.Isotonic {
		t.Fatalf("an overconfident model's calibration was not applied: %+v", want)
	}
	unused := map[string]uint64{"no_prediction": 1, "no_label": 1, "prediction_not_a_probability": 1, "label_not_binary": 1}
	for _, input := range []struct {
		name  string
		data  string
		jsonl bool
	}{{"csv", csv, false}, {"jsonl", jsonl, true}} {
		b, err := build(t, calibratedContract(t), input.data, input.jsonl)
		if err != nil {
			t.Fatalf("%s: %v", input.name, err)
		}
		got := b.Calibration
		if got == nil {
			t.Fatalf("%s: no calibration", input.name)
		}
		if !reflect.DeepEqual(got.Calibration, *want) || !reflect.DeepEqual(got.Unused, unused) ||
			got.PredictionColumn != "score" || got.LabelColumn != "label" {
			t.Errorf("%s: calibration %+v (unused %v), want %+v (unused %v)", input.name, got.Calibration, got.Unused, *want, unused)
		}
		if len(b.Features) != 1 || b.Rows != n+4 {
			t.Errorf("%s: %d features over %d rows, want x alone over %d", input.name, len(b.Features), b.Rows, n+4)
		}
		path := filepath.Join(t.TempDir(), "b.json")
		var buf bytes.Buffer
		if err := b.Write(&buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		back, err := LoadBaseline(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Calibration, got) {
			t.Errorf("%s: read back %+v, wrote %+v", input.name, back.Calibration, got)
		}
	}
}

// TestBuildCalibrationErrors: a column the input does not have, or too few
// usable rows, fails the baseline with a message that says which and why.
func TestBuildCalibrationErrors(t *testing.T) {
	csv, _, _, _ := labelledData(50)
	for _, tc := range []struct {
		name, data, want string
	}{
		{"no label column", "x,score\n1,0.5\n2,0.7\n", `no row has the column "label" that prediction.label_column names`},
		{"few rows", csv, "learning the calibration from columns score and label: 50 labelled rows"},
		{"unused said", csv, "(rows not used: 1 no_prediction 1 no_label 1 prediction_not_a_probability 1 label_not_binary)"},
	} {
		_, err := build(t, calibratedContract(t), tc.data, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestBaselineWithoutCalibration: a contract without the columns writes a
// baseline without the key, byte for byte as before it existed, and such a
// baseline loads without a calibration.
func TestBaselineWithoutCalibration(t *testing.T) {
	c := &config.Contract{Model: "m", Features: []config.Feature{{Name: "x", Type: config.Numeric}}}
	c.ApplyDefaults()
	b, err := build(t, c, "x,score,label\n1,0.5,1\n2,0.4,0\n", false)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := b.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "calibration") {
		t.Errorf("a baseline without calibration names it:\n%s", buf.String())
	}
	path := filepath.Join(t.TempDir(), "b.json")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := LoadBaseline(path)
	if err != nil || back.Calibration != nil {
		t.Errorf("loaded %v, %v; want no calibration", back, err)
	}
}

// TestLoadBadCalibration: a calibration that cannot map probabilities is
// refused when the baseline loads, not when the first window closes.
func TestLoadBadCalibration(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, calibration, want string
	}{
		{"method.json", `{"method": "platt", "rows": 100}`, `calibration: unknown method "platt"`},
		{"lengths.json", `{"method": "isotonic", "rows": 100, "x": [0.1, 0.5], "y": [0.2]}`, "as many y as x"},
		{"order.json", `{"method": "isotonic", "rows": 100, "x": [0.5, 0.1], "y": [0.2, 0.3]}`, "x is not increasing at point 1"},
		{"decreasing.json", `{"method": "isotonic", "rows": 100, "x": [0.1, 0.5], "y": [0.3, 0.2]}`, "y decreases at point 1"},
		{"range.json", `{"method": "isotonic", "rows": 100, "x": [0.1, 1.5], "y": [0.3, 0.4]}`, "point 1 is outside [0, 1]"},
		{"none.json", `{"method": "none", "rows": 100, "x": [0.1], "y": [0.3]}`, "method none takes no x or y"},
	} {
		path := filepath.Join(dir, tc.name)
		content := `{"format_version": 1, "sketch_relative_accuracy": 0.005, "calibration": ` + tc.calibration + `}`
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadBaseline(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", tc.name, err, tc.want)
		}
	}
}

// TestCheckContractCalibration: a baseline that calibrates probabilities does
// not go with a contract whose predictions are not probabilities.
func TestCheckContractCalibration(t *testing.T) {
	b := &Baseline{Model: "m", Calibration: &Calibration{Calibration: cbpe.Calibration{Method: cbpe.Uncalibrated}}}
	for _, tc := range []struct {
		prediction *config.Prediction
		ok         bool
	}{
		{&config.Prediction{Kind: config.Probability}, true},
		{&config.Prediction{Kind: config.Score}, false},
		{nil, false},
	} {
		err := b.CheckContract(&config.Contract{Model: "m", Prediction: tc.prediction})
		if (err == nil) != tc.ok {
			t.Errorf("%+v: error %v", tc.prediction, err)
		}
	}
}
