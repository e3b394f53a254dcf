package demo

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/profile"
)

// contracts are the demo models' data contracts. Their seasonality is the
// compressed day, so that the anomaly detector learns the traffic's cycle.
func contracts(window time.Duration) map[string]string {
	day := (dayLength * window).String()
	return map[string]string{
		fraudModel: `model: fraud
model_version: "` + versionFraud + `"
trained_at: 2026-11-01T00:00:00Z
prediction: {kind: probability}
seasonality: ` + day + `
severity: critical
features:
  - {name: amount, type: numeric, min: 0}
  - {name: age, type: numeric, nullable: true, max_null_rate: 0.05, min: 0, max: 130}
  - {name: country, type: categorical, categories: [` + countriesCSV + `], drift: {method: chi2_p_value, threshold: 0.001}}
  - {name: device, type: categorical, categories: [desktop, mobile, tablet]}
  - {name: is_new, type: boolean}
  - {name: merchant_risk, type: numeric, min: 0, max: 1}
`,
		etaModel: `model: eta
model_version: "` + versionETA + `"
trained_at: 2026-10-15T00:00:00Z
prediction: {kind: regression}
seasonality: ` + day + `
severity: warning
features:
  - {name: distance_km, type: numeric, min: 0}
  - {name: items, type: numeric, min: 0}
  - {name: express, type: boolean}
`,
	}
}

// trainingRows is how many rows of training data each baseline profiles.
const trainingRows = 20_000

// trainingCSV draws a model's training data, as its serving traffic looks
// when all is well.
func trainingCSV(model string, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 99))
	var b strings.Builder
	switch model {
	case fraudModel:
		countries := strings.Split(countriesCSV, ",")
		b.WriteString("amount,age,country,device,is_new,merchant_risk\n")
		for range trainingRows {
			p := drawPayment(r, countries)
			age := ""
			if p.age > 0 {
				age = fmt.Sprint(p.age)
			}
			fmt.Fprintf(&b, "%.2f,%s,%s,%s,%t,%.4f\n", p.amount, age, p.country, p.device, p.isNew, p.risk)
		}
	case etaModel:
		b.WriteString("distance_km,items,express\n")
		for range trainingRows {
			d := drawDelivery(r)
			fmt.Fprintf(&b, "%.3f,%d,%t\n", d.distance, d.items, d.express)
		}
	}
	return b.String()
}

// writeModels writes each model's contract and a baseline profiled from its
// training data into dir, and returns their references for sentinel.yaml.
func writeModels(ctx context.Context, dir string, window time.Duration, seed uint64) ([]config.ModelRef, error) {
	var refs []config.ModelRef
	for _, name := range []string{fraudModel, etaModel} {
		contractPath := filepath.Join(dir, name+".contract.yaml")
		text := contracts(window)[name]
		if err := os.WriteFile(contractPath, []byte(text), 0o644); err != nil {
			return nil, fmt.Errorf("writing the %s contract: %w", name, err)
		}
		c, err := config.ParseContract([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("the %s contract: %w", name, err)
		}
		csv := trainingCSV(name, seed)
		b, err := profile.Build(ctx, c, func() (dataset.Reader, io.Closer, error) {
			rd, err := dataset.NewCSV(strings.NewReader(csv))
			return rd, io.NopCloser(nil), err
		}, profile.BuildOptions{})
		if err != nil {
			return nil, fmt.Errorf("profiling the %s training data: %w", name, err)
		}
		baselinePath := filepath.Join(dir, name+".baseline.json")
		f, err := os.Create(baselinePath)
		if err != nil {
			return nil, err
		}
		if err := b.Write(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("writing the %s baseline: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		refs = append(refs, config.ModelRef{Contract: contractPath, Baseline: baselinePath})
	}
	return refs, nil
}
