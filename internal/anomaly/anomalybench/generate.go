// Package anomalybench measures anomaly detectors on synthetic metric tables with
// injected incidents: a generator, the baseline detectors Sentinel is compared
// with, and a scorer.
package anomalybench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
)

// Kind is a kind of injected incident.
type Kind string

// The incident kinds the benchmark injects.
const (
	LevelShift       Kind = "level shift"
	CorrelationBreak Kind = "correlation break"
	BroadShift       Kind = "small shift in many metrics"
	FlatLine         Kind = "flat-lined metric"
	Spike            Kind = "single-point spike"
)

// Kinds lists every incident kind in a fixed order.
func Kinds() []Kind { return []Kind{LevelShift, CorrelationBreak, BroadShift, FlatLine, Spike} }

// Incident is one injected incident: rows [Start, End) of the table.
type Incident struct {
	Kind       Kind
	Start, End int
	Metrics    []int
}

// Dataset is a generated table, its training prefix and the incidents injected
// after it.
type Dataset struct {
	Table     *anomaly.Table
	Period    int
	Train     int
	Incidents []Incident
}

// GenConfig shapes a generated dataset.
type GenConfig struct {
	Period    int // rows per season (24: hourly windows, daily cycle)
	Seasons   int // training seasons
	Test      int // seasons scored after training
	Metrics   int
	Factors   int // latent seasonal factors driving the metrics
	Incidents int // injected after training, kinds in rotation
	// NoiseShare is each metric's own noise as a share of its factor-driven
	// standard deviation; a small share means strongly correlated metrics.
	NoiseShare float64
}

// DefaultGenConfig is the table the detection test and the README figures use:
// 40 hourly column metrics over six weeks, three weeks to train on.
func DefaultGenConfig() GenConfig {
	return GenConfig{Period: 24, Seasons: 21, Test: 21, Metrics: 40, Factors: 3, Incidents: 10, NoiseShare: 0.15}
}

// Generate builds one dataset from seed. Metrics are
//
//	offset + scale · (Σ_f L_f · (S_f(t) + η_f(t)) + ε(t))
//
// where S_f is a daily pattern with two harmonics, η_f an AR(1) process shared by
// every metric loading on factor f, ε the metric's own noise, and scale spans seven
// orders of magnitude. One metric is constant, one has 2% of its values missing and
// one appears only in the last third of training, as real column metrics do.
func Generate(cfg GenConfig, seed uint64) (*Dataset, error) {
	if cfg.Period < 2 || cfg.Seasons < 3 || cfg.Test < 1 || cfg.Metrics < 8 || cfg.Factors < 1 {
		return nil, fmt.Errorf("generate: config %+v too small", cfg)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5e7f1a1))
	p := cfg.Period
	train, n := cfg.Seasons*p, (cfg.Seasons+cfg.Test)*p
	nf, nm := cfg.Factors, cfg.Metrics

	// Latent factors: seasonal shape plus shared AR(1) noise.
	season := make([][]float64, nf)
	shared := make([][]float64, nf)
	for f := range nf {
		a1, a2 := rng.NormFloat64(), rng.NormFloat64()
		ph1, ph2 := 2*math.Pi*rng.Float64(), 2*math.Pi*rng.Float64()
		drift := 0.3 * rng.NormFloat64() / float64(n)
		season[f] = make([]float64, n)
		for t := range n {
			w := 2 * math.Pi * float64(t) / float64(p)
			season[f][t] = a1*math.Sin(w+ph1) + 0.5*a2*math.Sin(2*w+ph2) + drift*float64(t)
		}
		shared[f] = ar1(rng, n, 0.8, 0.3)
	}
	load := make([][]float64, nm)
	offset, scale, noise := make([]float64, nm), make([]float64, nm), make([]float64, nm)
	for j := range nm {
		load[j] = make([]float64, nf)
		norm := 0.0
		for f := range nf {
			load[j][f] = rng.NormFloat64()
			norm += load[j][f] * load[j][f]
		}
		scale[j] = math.Pow(10, -3+7*rng.Float64())
		offset[j] = scale[j] * 10 * rng.Float64()
		noise[j] = cfg.NoiseShare * math.Sqrt(norm)
	}
	eps := make([][]float64, nm)
	for j := range nm {
		eps[j] = make([]float64, n)
		for t := range n {
			eps[j][t] = noise[j] * rng.NormFloat64()
		}
	}
	// signal is metric j at row t in units of its scale, before incidents. A broken
	// metric keeps its daily shape and its spread but moves against its peers: its
	// share of the shared fluctuations changes sign.
	broken := make([][]bool, nm)
	for j := range broken {
		broken[j] = make([]bool, n)
	}
	signal := func(j, t int) float64 {
		s := eps[j][t]
		for f := range nf {
			eta := shared[f][t]
			if broken[j][t] {
				eta = -eta
			}
			s += load[j][f] * (season[f][t] + eta)
		}
		return s
	}

	// Special metrics, never the target of an incident.
	constant, gappy, late := 0, 1, 2
	ds := &Dataset{Period: p, Train: train}
	incidents, err := placeIncidents(rng, cfg, train, n, nm, 3)
	if err != nil {
		return nil, err
	}
	shift := make([][]float64, nm)
	for j := range shift {
		shift[j] = make([]float64, n)
	}
	flat := make([]int, nm)
	for j := range flat {
		flat[j] = -1
	}
	flatUntil := make([]int, nm)
	for _, inc := range incidents {
		switch inc.Kind {
		case LevelShift:
			j := inc.Metrics[0]
			d := 6 * noise[j] * sign(rng)
			for t := inc.Start; t < inc.End; t++ {
				shift[j][t] += d
			}
		case Spike:
			j := inc.Metrics[0]
			shift[j][inc.Start] += 8 * noise[j] * sign(rng)
		case CorrelationBreak:
			j := inc.Metrics[0]
			for t := inc.Start; t < inc.End; t++ {
				broken[j][t] = true
			}
		case BroadShift:
			d := sign(rng)
			for _, j := range inc.Metrics {
				for t := inc.Start; t < inc.End; t++ {
					shift[j][t] += 2 * d * noise[j]
				}
			}
		case FlatLine:
			j := inc.Metrics[0]
			flat[j], flatUntil[j] = inc.Start, inc.End
		}
	}
	ds.Incidents = incidents

	names := make([]string, nm)
	for j := range nm {
		names[j] = fmt.Sprintf("metric_%02d", j)
	}
	names[constant], names[gappy], names[late] = "schema_errors", "gappy_metric", "late_feature"
	tab := &anomaly.Table{Metrics: names, Rows: make([][]float64, n), Timestamps: make([]time.Time, n)}
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for t := range n {
		tab.Timestamps[t] = t0.Add(time.Duration(t) * time.Hour)
		row := make([]float64, nm)
		for j := range nm {
			st := t
			if flat[j] >= 0 && t >= flat[j] && t < flatUntil[j] {
				st = flat[j]
			}
			row[j] = offset[j] + scale[j]*(signal(j, st)+shift[j][st])
		}
		row[constant] = 0
		if rng.Float64() < 0.02 {
			row[gappy] = math.NaN()
		}
		if t < train*2/3 {
			row[late] = math.NaN()
		}
		tab.Rows[t] = row
	}
	ds.Table = tab
	return ds, nil
}

func ar1(rng *rand.Rand, n int, phi, sd float64) []float64 {
	x := make([]float64, n)
	prev := rng.NormFloat64() * sd / math.Sqrt(1-phi*phi)
	for t := range x {
		prev = phi*prev + sd*rng.NormFloat64()
		x[t] = prev
	}
	return x
}

func sign(rng *rand.Rand) float64 {
	if rng.IntN(2) == 0 {
		return -1
	}
	return 1
}

// placeIncidents spreads cfg.Incidents incidents over the scored rows, kinds in
// rotation, each with a clean gap of at least one season before the next and none
// in the first season after training. Metrics below reserved are never chosen.
func placeIncidents(rng *rand.Rand, cfg GenConfig, train, n, nm, reserved int) ([]Incident, error) {
	slot := (n - train - cfg.Period) / cfg.Incidents
	const longest = 12
	if slot < longest+cfg.Period {
		return nil, fmt.Errorf("generate: %d incidents do not fit in %d scored rows", cfg.Incidents, n-train)
	}
	kinds := Kinds()
	var out []Incident
	for i := range cfg.Incidents {
		kind := kinds[i%len(kinds)]
		dur := map[Kind]int{LevelShift: 12, CorrelationBreak: 12, BroadShift: 8, FlatLine: 12, Spike: 1}[kind]
		lo := train + cfg.Period + i*slot
		start := lo + rng.IntN(slot-dur-cfg.Period/2)
		inc := Incident{Kind: kind, Start: start, End: start + dur}
		if kind == BroadShift {
			for _, j := range rng.Perm(nm - reserved)[:(nm-reserved)*6/10] {
				inc.Metrics = append(inc.Metrics, j+reserved)
			}
		} else {
			inc.Metrics = []int{reserved + rng.IntN(nm-reserved)}
		}
		out = append(out, inc)
	}
	return out, nil
}
