package traffic

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// featureType is how a feature is written: a number, a string or a boolean.
type featureType uint8

const (
	numeric featureType = iota
	categorical
	boolean
)

// feature is one simulated input of the model. A numeric feature is a
// transform of a latent standard normal z, its inverse distribution function
// at Φ(z), so that every shape (skewed, heavy-tailed, bounded, discrete,
// zero-inflated) moves alike under an incident: a shift of z by δ moves each
// value δ standard deviations of z, a factor on z widens the spread at the
// same median.
type feature struct {
	name     string
	typ      featureType
	nullable float64 // share of nulls in healthy traffic
	// numeric: value of the latent z, and the digits it is written with
	// ('g' format; -1 writes an integer).
	value  func(z float64) float64
	digits int
	// categorical: values and their weights (summing to 1).
	values  []string
	weights []float64
	// boolean: the share of true.
	pTrue float64
}

// phi is the standard normal distribution function.
func phi(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// features is the simulated model's inputs: twenty, of every shape a
// monitored model meets.
var features = []feature{
	// A normal variable written as an integer, clipped below: ages.
	{name: "age", typ: numeric, nullable: 0.02, digits: -1,
		value: func(z float64) float64 { return math.Max(18, math.Round(38+12*z)) }},
	// Log-normal: payment amounts.
	{name: "amount", typ: numeric, digits: 6, value: func(z float64) float64 { return math.Exp(3.5 + 1.1*z) }},
	// Signed and symmetric: an account balance.
	{name: "balance", typ: numeric, digits: 6, value: func(z float64) float64 { return 200 + 1500*z }},
	// Pareto with shape 2.5, a heavy right tail, and often unknown: incomes.
	{name: "income", typ: numeric, nullable: 0.05, digits: 6,
		value: func(z float64) float64 { return 20000 * math.Pow(1-phi(z), -1/2.5) }},
	// Exponential: seconds in the session.
	{name: "session_seconds", typ: numeric, digits: 5,
		value: func(z float64) float64 { return -120 * math.Log1p(-phi(z)) }},
	// Geometric counts from 1: items in the basket.
	{name: "items", typ: numeric, digits: -1,
		value: func(z float64) float64 { return 1 + math.Floor(math.Log1p(-phi(z))/math.Log(0.7)) }},
	// Logit-normal share in (0, 1): a discount.
	{name: "discount", typ: numeric, digits: 4,
		value: func(z float64) float64 { return 1 / (1 + math.Exp(1.5-0.9*z)) }},
	// Zero-inflated: a third of customers use no credit, the rest a
	// log-normal share of it.
	{name: "credit_used", typ: numeric, digits: 5, value: func(z float64) float64 {
		u := phi(z)
		if u < 0.35 {
			return 0
		}
		return math.Exp(6 + 1.2*math.Sqrt2*math.Erfinv(2*(u-0.35)/0.65-1))
	}},
	// Bimodal: two clusters of temperatures.
	{name: "temperature", typ: numeric, digits: 4,
		value: func(z float64) float64 { return 20 + 15*math.Copysign(1, z) + 5*z }},
	// Uniform on an interval: latitudes.
	{name: "latitude", typ: numeric, digits: 6, value: func(z float64) float64 { return 35 + 25*phi(z) }},
	// Cauchy, heavy on both sides: a price ratio's log, where outliers are
	// everyday.
	{name: "price_ratio", typ: numeric, digits: 5,
		value: func(z float64) float64 { return 1 + 0.5*math.Tan(math.Pi*(phi(z)-0.5)) }},
	// A discretised log-normal: many ties, a long tail, zeros.
	{name: "clicks_7d", typ: numeric, digits: -1, value: func(z float64) float64 { return math.Floor(math.Exp(1.5 + 1.2*z)) }},

	{name: "country", typ: categorical, values: zipfValues("C", 12), weights: zipfWeights(12, 1.1)},
	{name: "device", typ: categorical, values: []string{"mobile", "desktop", "tablet"}, weights: []float64{0.6, 0.3, 0.1}},
	// Eighty categories with a long tail: the rarest are missing from a
	// training sample of tens of thousands.
	{name: "merchant_category", typ: categorical, values: zipfValues("mcc", 80), weights: zipfWeights(80, 1.3)},
	{name: "browser", typ: categorical, nullable: 0.03, values: []string{"chrome", "safari", "firefox", "edge", "samsung", "opera"},
		weights: []float64{0.55, 0.25, 0.08, 0.07, 0.04, 0.01}},
	{name: "channel", typ: categorical, values: []string{"web", "app", "pos", "phone", "partner"},
		weights: []float64{0.4, 0.35, 0.15, 0.07, 0.03}},

	{name: "is_new", typ: boolean, pTrue: 0.12},
	{name: "has_promo", typ: boolean, nullable: 0.01, pTrue: 0.3},
	{name: "is_app", typ: boolean, pTrue: 0.55},
}

// Indices of the features the model's score reads (TestFeatureIndices holds
// them to the names).
const (
	iAge     = 0
	iAmount  = 1
	iSession = 4
	iDevice  = 13
	iIsNew   = 17
)

// Features lists the simulated features' names, in the order events and the
// training table carry them.
func Features() []string {
	out := make([]string, len(features))
	for i, f := range features {
		out[i] = f.name
	}
	return out
}

// featureIndex returns the index of the named feature, or -1.
func featureIndex(name string) int {
	for i, f := range features {
		if f.name == name {
			return i
		}
	}
	return -1
}

func zipfValues(prefix string, k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i+1)
	}
	return out
}

// zipfWeights are k weights proportional to 1/i^s.
func zipfWeights(k int, s float64) []float64 {
	w := make([]float64, k)
	total := 0.0
	for i := range w {
		w[i] = 1 / math.Pow(float64(i+1), s)
		total += w[i]
	}
	for i := range w {
		w[i] /= total
	}
	return w
}

// pick draws one of values by weights.
func pick(r *rand.Rand, values []string, weights []float64) string {
	u := r.Float64()
	for i, p := range weights {
		if u < p {
			return values[i]
		}
		u -= p
	}
	return values[len(values)-1]
}
