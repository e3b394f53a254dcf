// Package anomalybench measures anomaly detectors on synthetic metric tables with
// injected incidents: a generator, the baseline detectors Sentinel is compared
// with, and a scorer.
package anomalybench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
)

// Kind is a kind of injected incident.
type Kind string

// The incident kinds the benchmark injects. Sizes are in units of the target
// metric's own noise (for a metric with sampling noise, its spread in that
// window); the first five have one size, the subtler ones a range.
const (
	LevelShift       Kind = "level shift"                 // 6σ for 12 rows
	CorrelationBreak Kind = "correlation break"           // loading on the shared fluctuations changes sign, 12 rows
	BroadShift       Kind = "small shift in many metrics" // 2σ in 60% of the metrics for 8 rows
	FlatLine         Kind = "flat-lined metric"           // repeats one value for 12 rows
	Spike            Kind = "single-point spike"          // 8σ for one row
	Ramp             Kind = "gradual drift"               // linear to 3–5σ over 12–24 rows
	NoiseGrowth      Kind = "noise growth"                // noise 3–5× at an unchanged level for 6–12 rows
	PhaseShift       Kind = "phase shift"                 // the daily pattern 3–6 hours late for 8–16 rows
	ShortShift       Kind = "short shift"                 // 3–4σ for 3–8 rows
	ZeroRead         Kind = "reads zero"                  // the metric reads 0 for 3–8 rows
)

// Kinds lists the first five incident kinds, the classic table's, in a fixed
// order.
func Kinds() []Kind { return []Kind{LevelShift, CorrelationBreak, BroadShift, FlatLine, Spike} }

// SubtleKinds lists the subtler kinds, in a fixed order.
func SubtleKinds() []Kind { return []Kind{Ramp, NoiseGrowth, PhaseShift, ShortShift, ZeroRead} }

// AllKinds lists every kind, the classic ones first.
func AllKinds() []Kind { return append(Kinds(), SubtleKinds()...) }

// Incident is one injected incident: rows [Start, End) of the table.
type Incident struct {
	Kind       Kind
	Start, End int
	Metrics    []int
	// CatchBy is the last row at which a flag still catches the incident:
	// Tolerance rows after its start, or for the subtler kinds its last row
	// if that is later: they are subtle because no one window shows them.
	CatchBy int
	// Size is the incident's size: σ for shifts, the noise factor for noise
	// growth, hours late for a phase shift.
	Size float64
}

// Dataset is a generated table, its training prefix and the incidents injected
// after it.
type Dataset struct {
	Table     *anomaly.Table
	Period    int
	Train     int
	Incidents []Incident
	// Sampling holds, for a table with sampled metrics, how each value was
	// measured (the zero Sampling for the other metrics); nil otherwise.
	Sampling [][]anomaly.Sampling
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
	// Kinds are the incident kinds injected, in rotation; nil: Kinds().
	Kinds []Kind
	// Sampled adds the window statistics of a simulated event stream after the
	// Metrics (see sampled.go): an event count following a daily traffic cycle,
	// and rates, means, a quantile and distance statistics computed from that
	// many events, each with the sampling noise of its kind.
	Sampled bool
}

func (c GenConfig) kinds() []Kind {
	if c.Kinds == nil {
		return Kinds()
	}
	return c.Kinds
}

// DefaultGenConfig is the classic table the detection test and the README
// figures use: 40 hourly column metrics over six weeks, three weeks to train
// on, the first five kinds of incident.
func DefaultGenConfig() GenConfig {
	return GenConfig{Period: 24, Seasons: 21, Test: 21, Metrics: 40, Factors: 3, Incidents: 10, NoiseShare: 0.15}
}

// SubtleGenConfig is the table with every kind of incident and the sampled
// metrics of a simulated event stream: 40 column metrics and 13 sampled ones,
// three weeks to train on and six scored, two incidents of each kind.
func SubtleGenConfig() GenConfig {
	return GenConfig{Period: 24, Seasons: 21, Test: 42, Metrics: 40, Factors: 3, Incidents: 20, NoiseShare: 0.15,
		Kinds: AllKinds(), Sampled: true}
}

// Generate builds one dataset from seed. Metrics are
//
//	offset + scale · (Σ_f L_f · (S_f(t) + η_f(t)) + ε(t))
//
// where S_f is a daily pattern with two harmonics, η_f an AR(1) process shared by
// every metric loading on factor f, ε the metric's own noise, and scale spans seven
// orders of magnitude. One metric is constant, one has 2% of its values missing and
// one appears only in the last third of training, as real column metrics do.
// With cfg.Sampled, the sampled metrics of sampled.go follow.
func Generate(cfg GenConfig, seed uint64) (*Dataset, error) {
	if cfg.Period < 2 || cfg.Seasons < 3 || cfg.Test < 1 || cfg.Metrics < 8 || cfg.Factors < 1 {
		return nil, fmt.Errorf("generate: config %+v too small", cfg)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5e7f1a1))
	// Everything the classic table did not have draws from its own stream, so
	// that the classic table stays what it was.
	rng2 := rand.New(rand.NewPCG(seed, 0x5a3b1e0))
	p := cfg.Period
	train, n := cfg.Seasons*p, (cfg.Seasons+cfg.Test)*p
	nf, nm := cfg.Factors, cfg.Metrics
	nt := nm // all metrics
	if cfg.Sampled {
		nt += len(trafficMetrics)
	}

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
	// share of the shared fluctuations changes sign. A late one follows its daily
	// shape lag[j][t] rows behind.
	broken := make([][]bool, nm)
	lag := make([][]int, nm)
	for j := range broken {
		broken[j] = make([]bool, n)
		lag[j] = make([]int, n)
	}
	signal := func(j, t int) float64 {
		s := eps[j][t]
		for f := range nf {
			eta := shared[f][t]
			if broken[j][t] {
				eta = -eta
			}
			s += load[j][f] * (season[f][max(t-lag[j][t], 0)] + eta)
		}
		return s
	}

	// Special metrics, never the target of an incident.
	constant, gappy, late := 0, 1, 2
	ds := &Dataset{Period: p, Train: train}
	incidents, err := placeIncidents(rng, rng2, cfg, train, n, nt)
	if err != nil {
		return nil, err
	}
	shift := make([][]float64, nt) // factor metrics: in scale units; sampled ones: in σ of the window
	for j := range shift {
		shift[j] = make([]float64, n)
	}
	flat := make([]int, nt)
	for j := range flat {
		flat[j] = -1
	}
	flatUntil := make([]int, nt)
	zero := make([][2]int, nt)
	for _, inc := range incidents {
		j := inc.Metrics[0]
		unit := 1.0
		if j < nm {
			unit = noise[j]
		}
		switch inc.Kind {
		case LevelShift:
			d := 6 * unit * sign(rng)
			for t := inc.Start; t < inc.End; t++ {
				shift[j][t] += d
			}
		case Spike:
			shift[j][inc.Start] += 8 * unit * sign(rng)
		case CorrelationBreak:
			for t := inc.Start; t < inc.End; t++ {
				broken[j][t] = true
			}
		case BroadShift:
			d := sign(rng)
			for _, j := range inc.Metrics {
				u := 1.0
				if j < nm {
					u = noise[j]
				}
				for t := inc.Start; t < inc.End; t++ {
					shift[j][t] += 2 * d * u
				}
			}
		case FlatLine:
			flat[j], flatUntil[j] = inc.Start, inc.End
		case Ramp:
			d := inc.Size * unit * sign(rng2)
			for t := inc.Start; t < inc.End; t++ {
				shift[j][t] += d * float64(t-inc.Start+1) / float64(inc.End-inc.Start)
			}
		case ShortShift:
			d := inc.Size * unit * sign(rng2)
			for t := inc.Start; t < inc.End; t++ {
				shift[j][t] += d
			}
		case ZeroRead:
			zero[j] = [2]int{inc.Start, inc.End}
		case NoiseGrowth:
			for t := inc.Start; t < inc.End; t++ {
				eps[j][t] *= inc.Size
			}
		case PhaseShift:
			for t := inc.Start; t < inc.End; t++ {
				lag[j][t] = int(inc.Size)
			}
		}
	}
	ds.Incidents = incidents

	names := make([]string, nt)
	for j := range nm {
		names[j] = fmt.Sprintf("metric_%02d", j)
	}
	names[constant], names[gappy], names[late] = "schema_errors", "gappy_metric", "late_feature"
	tab := &anomaly.Table{Metrics: names, Rows: make([][]float64, n), Timestamps: make([]time.Time, n)}
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for t := range n {
		tab.Timestamps[t] = t0.Add(time.Duration(t) * time.Hour)
		row := make([]float64, nt)
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
	if cfg.Sampled {
		factor := func(f, t int) float64 { return season[f%nf][t] + shared[f%nf][t] }
		ds.Sampling = simulateTraffic(rng2, tab, nm, p, train, factor, shift[nm:], flat[nm:], flatUntil[nm:], zero[nm:])
	}
	for j := range nm {
		if z := zero[j]; z[1] > 0 {
			for t := z[0]; t < z[1]; t++ {
				tab.Rows[t][j] = 0
			}
		}
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
// in the first season after training. Reserved metrics (see targets) are never
// chosen. The classic kinds draw only from rng, in the order they always have;
// everything else draws from rng2.
func placeIncidents(rng, rng2 *rand.Rand, cfg GenConfig, train, n, nt int) ([]Incident, error) {
	kinds := cfg.kinds()
	longest := 0
	for _, k := range kinds {
		longest = max(longest, durations[k][1])
	}
	slot := (n - train - cfg.Period) / cfg.Incidents
	if slot < longest+cfg.Period {
		return nil, fmt.Errorf("generate: %d incidents do not fit in %d scored rows", cfg.Incidents, n-train)
	}
	var out []Incident
	for i := range cfg.Incidents {
		kind := kinds[i%len(kinds)]
		r := durations[kind]
		dur := r[0]
		if r[1] > r[0] {
			dur += rng2.IntN(r[1] - r[0] + 1)
		}
		lo := train + cfg.Period + i*slot
		start := lo + rng.IntN(slot-dur-cfg.Period/2)
		inc := Incident{Kind: kind, Start: start, End: start + dur, CatchBy: start + Tolerance}
		if !slices.Contains(Kinds(), kind) {
			inc.CatchBy = max(inc.CatchBy, inc.End-1)
		}
		if s := sizes[kind]; s[1] > s[0] {
			inc.Size = s[0] + (s[1]-s[0])*rng2.Float64()
		} else {
			inc.Size = s[0]
		}
		if kind == PhaseShift {
			inc.Size = math.Round(inc.Size)
		}
		elig := targets(cfg, kind, nt)
		if kind == BroadShift {
			for _, j := range rng.Perm(len(elig))[:len(elig)*6/10] {
				inc.Metrics = append(inc.Metrics, elig[j])
			}
		} else if slices.Contains(Kinds(), kind) {
			inc.Metrics = []int{elig[rng.IntN(len(elig))]}
		} else {
			inc.Metrics = []int{elig[rng2.IntN(len(elig))]}
		}
		out = append(out, inc)
	}
	return out, nil
}

// durations holds each kind's shortest and longest run in rows.
var durations = map[Kind][2]int{
	LevelShift: {12, 12}, CorrelationBreak: {12, 12}, BroadShift: {8, 8}, FlatLine: {12, 12}, Spike: {1, 1},
	Ramp: {12, 24}, NoiseGrowth: {6, 12}, PhaseShift: {8, 16}, ShortShift: {3, 8}, ZeroRead: {3, 8},
}

// sizes holds each kind's smallest and largest size (see Incident.Size).
var sizes = map[Kind][2]float64{
	LevelShift: {6, 6}, Spike: {8, 8}, BroadShift: {2, 2},
	Ramp: {3, 5}, NoiseGrowth: {3, 5}, PhaseShift: {3, 6}, ShortShift: {3, 4},
}

// reserved is how many of the first metrics are special (constant, gappy,
// late) and never an incident's target.
const reserved = 3

// targets lists the metrics an incident of a kind may hit: any but the
// reserved ones and the sampled rate that only appears after training; the
// column metrics only for the kinds that act on their shared factors or their
// own noise (a sampled metric's noise is its sample's).
func targets(cfg GenConfig, kind Kind, nt int) []int {
	var out []int
	for j := reserved; j < nt; j++ {
		if j >= cfg.Metrics {
			s := j - cfg.Metrics
			if trafficMetrics[s].reserved {
				continue
			}
			switch kind {
			case CorrelationBreak, NoiseGrowth, PhaseShift:
				continue
			}
		}
		out = append(out, j)
	}
	return out
}
