package anomalybench

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
)

// Detector flags the rows of a dataset's table after its training prefix.
type Detector interface {
	Name() string
	// Flags returns one verdict per row from ds.Train on.
	Flags(ds *Dataset) ([]bool, error)
}

// Sentinel is the anomaly package's detector with the given configuration (Period
// is filled in from the dataset). It is given the dataset's sampling contexts
// unless IgnoreSampling is set.
type Sentinel struct {
	Config         anomaly.Config
	IgnoreSampling bool
}

func (s Sentinel) Name() string {
	if s.IgnoreSampling {
		return "Sentinel without sampling contexts"
	}
	return "Sentinel (PCA + HW + residual)"
}

func (s Sentinel) Flags(ds *Dataset) ([]bool, error) {
	cfg := s.Config
	cfg.Period = ds.Period
	tab, train := ds.Table, ds.Train
	samp := ds.Sampling
	if s.IgnoreSampling {
		samp = nil
	}
	d, err := anomaly.New(cfg, tab.Metrics)
	if err != nil {
		return nil, fmt.Errorf("sentinel detector: %w", err)
	}
	var trainSamp [][]anomaly.Sampling
	if samp != nil {
		trainSamp = samp[:train]
	}
	if err := d.FitSampled(tab.Rows[:train], trainSamp); err != nil {
		return nil, fmt.Errorf("sentinel detector: %w", err)
	}
	flags := make([]bool, 0, len(tab.Rows)-train)
	for t, row := range tab.Rows[train:] {
		var rs []anomaly.Sampling
		if samp != nil {
			rs = samp[train+t]
		}
		p, err := d.ScoreSampled(row, rs)
		if err != nil {
			return nil, fmt.Errorf("sentinel detector: %w", err)
		}
		flags = append(flags, p.Anomaly)
	}
	return flags, nil
}

// StaticSigma flags a row when any metric is more than K standard deviations from
// its training mean: the per-metric threshold most dashboards start with.
type StaticSigma struct{ K float64 }

func (s StaticSigma) Name() string { return fmt.Sprintf("per-metric static %gσ", s.K) }

func (s StaticSigma) Flags(ds *Dataset) ([]bool, error) {
	tab, train := ds.Table, ds.Train
	mean, sd := columnMoments(tab.Rows[:train], len(tab.Metrics))
	flags := make([]bool, 0, len(tab.Rows)-train)
	for _, row := range tab.Rows[train:] {
		hit := false
		for j, x := range row {
			if !math.IsNaN(x) && !math.IsNaN(mean[j]) && math.Abs(x-mean[j]) > s.K*sd[j] && x != mean[j] {
				hit = true
			}
		}
		flags = append(flags, hit)
	}
	return flags, nil
}

// PerMetricHW forecasts every metric with its own Holt-Winters model and flags a
// row when any one-step error exceeds K of that metric's error scale.
type PerMetricHW struct{ K float64 }

func (h PerMetricHW) Name() string { return fmt.Sprintf("per-metric Holt-Winters, %gσ", h.K) }

func (h PerMetricHW) Flags(ds *Dataset) ([]bool, error) {
	tab, period, train := ds.Table, ds.Period, ds.Train
	nm := len(tab.Metrics)
	models := make([]*anomaly.HoltWinters, nm)
	series := make([]float64, train)
	for j := range nm {
		obs := 0
		for t, row := range tab.Rows[:train] {
			series[t] = row[j]
			if !math.IsNaN(row[j]) {
				obs++
			}
		}
		if 2*obs < train {
			continue // too little history to forecast, as for Sentinel
		}
		m, err := anomaly.FitHoltWinters(series, period)
		if err != nil {
			return nil, fmt.Errorf("per-metric holt-winters: metric %s: %w", tab.Metrics[j], err)
		}
		models[j] = m
	}
	flags := make([]bool, 0, len(tab.Rows)-train)
	for _, row := range tab.Rows[train:] {
		hit := false
		for j, m := range models {
			if m == nil {
				continue
			}
			e := m.Update(row[j])
			if math.Abs(e) > h.K*m.Sigma() && m.Sigma() > 0 {
				hit = true
			}
		}
		flags = append(flags, hit)
	}
	return flags, nil
}

// ComponentHW is the Data Quality Monitor's scheme without Sentinel's additions:
// PCA of the standardised metrics, Holt-Winters on each retained component, and a
// row flagged when any component's one-step error exceeds K of its error scale.
type ComponentHW struct {
	K             float64
	VarianceShare float64
}

func (c ComponentHW) Name() string {
	return fmt.Sprintf("Holt-Winters on principal components, %gσ", c.K)
}

func (c ComponentHW) Flags(ds *Dataset) ([]bool, error) {
	tab, period, train := ds.Table, ds.Period, ds.Train
	nm := len(tab.Metrics)
	mean, sd := columnMoments(tab.Rows[:train], nm)
	var cols []int
	for j := range nm {
		if !math.IsNaN(mean[j]) && sd[j] > 0 {
			cols = append(cols, j)
		}
	}
	standard := func(row []float64) []float64 {
		z := make([]float64, len(cols))
		for a, j := range cols {
			if !math.IsNaN(row[j]) {
				z[a] = (row[j] - mean[j]) / sd[j]
			}
		}
		return z
	}
	z := mat.NewDense(train, len(cols), nil)
	for t, row := range tab.Rows[:train] {
		z.SetRow(t, standard(row))
	}
	pca, err := anomaly.FitPCA(z, c.VarianceShare, 0)
	if err != nil {
		return nil, fmt.Errorf("component holt-winters: %w", err)
	}
	var scores mat.Dense
	scores.Mul(z, pca.Loadings)
	k := len(pca.Explained)
	models := make([]*anomaly.HoltWinters, k)
	series := make([]float64, train)
	for i := range k {
		mat.Col(series, i, &scores)
		if models[i], err = anomaly.FitHoltWinters(series, period); err != nil {
			return nil, fmt.Errorf("component holt-winters: component %d: %w", i+1, err)
		}
	}
	flags := make([]bool, 0, len(tab.Rows)-train)
	var comp mat.VecDense
	for _, row := range tab.Rows[train:] {
		comp.MulVec(pca.Loadings.T(), mat.NewVecDense(len(cols), standard(row)))
		hit := false
		for i, m := range models {
			if math.Abs(m.Update(comp.AtVec(i))) > c.K*m.Sigma() {
				hit = true
			}
		}
		flags = append(flags, hit)
	}
	return flags, nil
}

// columnMoments returns each metric's mean and standard deviation over the observed
// values; NaN for a metric missing in more than half of the rows.
func columnMoments(rows [][]float64, nm int) (mean, sd []float64) {
	mean, sd = make([]float64, nm), make([]float64, nm)
	for j := range nm {
		sum, ss, n := 0.0, 0.0, 0
		for _, row := range rows {
			if x := row[j]; !math.IsNaN(x) {
				sum += x
				n++
			}
		}
		if 2*n < len(rows) {
			mean[j], sd[j] = math.NaN(), math.NaN()
			continue
		}
		mean[j] = sum / float64(n)
		for _, row := range rows {
			if x := row[j]; !math.IsNaN(x) {
				ss += (x - mean[j]) * (x - mean[j])
			}
		}
		sd[j] = math.Sqrt(ss / float64(max(n-1, 1)))
	}
	return mean, sd
}
