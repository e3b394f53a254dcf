package traffic

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Kind is a kind of incident.
type Kind string

// The incident kinds. Size means, by kind: for the shifts, how far the
// feature's latent normal moves, in its standard deviations (a ramp reaches it
// at its end); for noise growth, the factor on the latent normal's spread
// around its median; for a traffic drop, the factor on the event rate; for
// the others, the share of events struck.
const (
	MeanShift      Kind = "mean_shift"      // a numeric feature's values move for good
	NullBurst      Kind = "null_burst"      // a share of a feature's values go missing
	NewCategory    Kind = "new_category"    // a share of a categorical feature's values take a new category
	NaNPredictions Kind = "nan_predictions" // a share of predictions are NaN
	TrafficDrop    Kind = "traffic_drop"    // the event rate falls
	Ramp           Kind = "ramp"            // a numeric feature's values move a little more every minute
	NoiseGrowth    Kind = "noise_growth"    // a numeric feature's spread grows, its median unchanged
	ShortShift     Kind = "short_shift"     // a numeric feature's values move for a few windows
)

// Kinds lists every kind: the step changes first, then the subtler ones.
func Kinds() []Kind {
	return []Kind{MeanShift, NullBurst, NewCategory, NaNPredictions, TrafficDrop, Ramp, NoiseGrowth, ShortShift}
}

// Step reports whether the kind is a step change: whole from its first
// window, so that it should be found at once.
func (k Kind) Step() bool { return k != Ramp }

// Incident is one fault in [Start, End).
type Incident struct {
	Kind Kind
	// Feature is the feature struck; "prediction" for NaN predictions and ""
	// for a traffic drop, as Sentinel's results name them.
	Feature    string
	Start, End time.Time
	Size       float64
}

// Active reports whether the incident is under way at t.
func (in *Incident) Active(t time.Time) bool { return !t.Before(in.Start) && t.Before(in.End) }

func (in *Incident) String() string {
	what := in.Feature
	if what == "" {
		what = "traffic"
	}
	return fmt.Sprintf("%s of %s (size %.3g) from %s to %s", in.Kind, what, in.Size,
		in.Start.Format(time.RFC3339), in.End.Format(time.RFC3339))
}

func (in *Incident) validate() error {
	i := featureIndex(in.Feature)
	ok := true
	switch in.Kind {
	case MeanShift, Ramp, ShortShift, NoiseGrowth:
		ok = i >= 0 && features[i].typ == numeric
	case NullBurst:
		ok = i >= 0
	case NewCategory:
		ok = i >= 0 && features[i].typ == categorical
	case NaNPredictions:
		ok = in.Feature == "prediction"
	case TrafficDrop:
		ok = in.Feature == ""
	default:
		return fmt.Errorf("incident %s: unknown kind", in)
	}
	if !ok {
		return fmt.Errorf("incident %s: a %s cannot strike %q", in, in.Kind, in.Feature)
	}
	if !in.End.After(in.Start) {
		return fmt.Errorf("incident %s: ends before it starts", in)
	}
	return nil
}

// newCategory is the value a new-category incident sends.
const newCategory = "NEW"

// apply changes a request drawn at t as the incident does.
func (in *Incident) apply(rng *rand.Rand, r *row, t time.Time) {
	i := featureIndex(in.Feature)
	switch in.Kind {
	case MeanShift, ShortShift:
		r.z[i] += in.Size
	case Ramp:
		r.z[i] += in.Size * float64(t.Sub(in.Start)) / float64(in.End.Sub(in.Start))
	case NoiseGrowth:
		r.z[i] *= in.Size
	case NullBurst:
		if rng.Float64() < in.Size {
			r.null[i] = true
		}
	case NewCategory:
		if rng.Float64() < in.Size {
			r.cats[i] = newCategory
		}
	}
}

// Sizes are the sizes of the incidents a schedule injects. Shifts are given
// in standard errors of a window's mean at EventsPerWindow events (σ/√n): the
// size of the change in the window statistic that watches it, so that an
// incident is as hard to see at 100 events a window as at 10,000. The rest
// are event-level shares and factors.
type Sizes struct {
	Shift      float64 // mean shift, standard errors
	RampTo     float64 // a ramp's end, standard errors
	ShortShift float64 // standard errors
	Noise      float64 // factor on the spread
	Drop       float64 // factor on the rate
	Nulls      float64 // share
	Category   float64 // share
	NaN        float64 // share
}

// DefaultSizes are the benchmark's incidents: a shift of 6 standard errors,
// a ramp to 6 over its length, a short shift of 4, the spread doubled, traffic
// down to 40%, a tenth of a feature's values null, 5% of them a new category,
// 2% of predictions NaN.
func DefaultSizes() Sizes {
	return Sizes{Shift: 6, RampTo: 6, ShortShift: 4, Noise: 2, Drop: 0.4, Nulls: 0.1, Category: 0.05, NaN: 0.02}
}

// Lengths are how many windows each kind of incident lasts.
var lengths = map[Kind]int{MeanShift: 12, NullBurst: 12, NewCategory: 12, NaNPredictions: 12, TrafficDrop: 12,
	Ramp: 24, NoiseGrowth: 12, ShortShift: 4}

// Length returns how many windows an incident of kind k lasts in a schedule.
func Length(k Kind) int { return lengths[k] }

// Targets of the incidents, in rotation by seed: shapes the window mean sees
// well and poorly alike.
var (
	shiftTargets    = []string{"balance", "amount", "age", "discount", "session_seconds", "latitude"}
	nullTargets     = []string{"age", "income", "browser", "amount", "country"}
	categoryTargets = []string{"country", "merchant_category", "device", "channel", "browser"}
)

// Schedule lays every kind of incident out once, in an order and on features
// drawn from seed, from the first window at or after from, each followed by a
// clean gap of gap windows; it returns them and the time the last gap ends.
func Schedule(seed uint64, from time.Time, window time.Duration, eventsPerWindow float64, sizes Sizes, gap int) ([]Incident, time.Time) {
	rng := newRand(seed, "schedule")
	se := 1 / math.Sqrt(eventsPerWindow)
	kinds := Kinds()
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	at := from.Truncate(window)
	if at.Before(from) {
		at = at.Add(window)
	}
	var out []Incident
	for _, k := range kinds {
		in := Incident{Kind: k, Start: at, End: at.Add(time.Duration(lengths[k]) * window)}
		switch k {
		case MeanShift:
			in.Feature, in.Size = shiftTargets[rng.IntN(len(shiftTargets))], sizes.Shift*se
		case Ramp:
			in.Feature, in.Size = shiftTargets[rng.IntN(len(shiftTargets))], sizes.RampTo*se
		case ShortShift:
			in.Feature, in.Size = shiftTargets[rng.IntN(len(shiftTargets))], sizes.ShortShift*se
		case NoiseGrowth:
			in.Feature, in.Size = shiftTargets[rng.IntN(len(shiftTargets))], sizes.Noise
		case NullBurst:
			in.Feature, in.Size = nullTargets[rng.IntN(len(nullTargets))], sizes.Nulls
		case NewCategory:
			in.Feature, in.Size = categoryTargets[rng.IntN(len(categoryTargets))], sizes.Category
		case NaNPredictions:
			in.Feature, in.Size = "prediction", sizes.NaN
		case TrafficDrop:
			in.Size = sizes.Drop
		}
		out = append(out, in)
		at = in.End.Add(time.Duration(gap) * window)
	}
	return out, at
}
