package infer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/profile"
)

// sampler draws one value of a feature, as CSV text.
type sampler struct {
	name string
	draw func(r *rand.Rand) string
}

func num(f func(r *rand.Rand) float64) func(r *rand.Rand) string {
	return func(r *rand.Rand) string { return strconv.FormatFloat(f(r), 'g', -1, 64) }
}

// zipf draws one of k categories with weights 1/i^s.
func zipf(k int, s float64) func(r *rand.Rand) string {
	cum := make([]float64, k)
	total := 0.0
	for i := range cum {
		total += 1 / math.Pow(float64(i+1), s)
		cum[i] = total
	}
	return func(r *rand.Rand) string {
		u := r.Float64() * total
		i := 0
		for cum[i] < u {
			i++
		}
		return "c" + strconv.Itoa(i)
	}
}

// healthyFeatures span the shapes of real features: bounded, signed, skewed,
// heavy-tailed on one side and on both, counts, and categories with a long
// tail.
var healthyFeatures = []sampler{
	{"normal", num(func(r *rand.Rand) float64 { return 100 + 15*r.NormFloat64() })},
	{"signed", num(func(r *rand.Rand) float64 { return r.NormFloat64() })},
	{"lognormal", num(func(r *rand.Rand) float64 { return math.Exp(3 + 1.5*r.NormFloat64()) })},
	{"pareto", num(func(r *rand.Rand) float64 { return 1 / math.Pow(1-r.Float64(), 1/1.16) })},
	{"exponential", num(func(r *rand.Rand) float64 { return r.ExpFloat64() })},
	{"share", num(func(r *rand.Rand) float64 { return r.Float64() })},
	{"cauchy", num(func(r *rand.Rand) float64 { return math.Tan(math.Pi * (r.Float64() - 0.5)) })},
	{"count", num(func(r *rand.Rand) float64 { return math.Floor(5 * r.ExpFloat64()) })},
	{"category", zipf(50, 1.2)},
	{"long_tail", zipf(90, 0.9)},
	{"rare_tail", zipf(100, 1.6)}, // its rarest categories are missing from a sample of 5,000
}

// TestHealthyTrafficFindings is #16's goal for inferred contracts: traffic drawn
// from the training sample's own distribution breaks the contract in at most 1%
// of (feature, window) pairs, from 100 to 10,000 events a window. A pair breaks
// when its out-of-range or unknown-category count is significantly above the
// tolerance × n (one-sided binomial test at 1%, stricter than the daemon will
// be); the share of pairs with any violation at all is logged for comparison.
func TestHealthyTrafficFindings(t *testing.T) {
	if testing.Short() {
		t.Skip("draws a few million values")
	}
	const trainRows = 5000
	rng := rand.New(rand.NewPCG(16, 6))
	var train strings.Builder
	for i, f := range healthyFeatures {
		if i > 0 {
			train.WriteByte(',')
		}
		train.WriteString(f.name)
	}
	train.WriteByte('\n')
	for range trainRows {
		for i, f := range healthyFeatures {
			if i > 0 {
				train.WriteByte(',')
			}
			train.WriteString(f.draw(rng))
		}
		train.WriteByte('\n')
	}
	r, err := dataset.NewCSV(strings.NewReader(train.String()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Contract(context.Background(), "healthy", r, config.DefaultMaxCategories)
	if err != nil {
		t.Fatal(err)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	windows := map[int]int{100: 200, 1000: 100, 10_000: 30}
	var pairs, findings, anyViolation int
	values := make([]uint64, len(healthyFeatures))
	violations := make([]uint64, len(healthyFeatures))
	for _, n := range []int{100, 1000, 10_000} {
		var sizePairs, sizeFindings, sizeAny int
		for i, s := range healthyFeatures {
			cf := &c.Features[i]
			for range windows[n] {
				f, err := profile.NewFeature(profile.Spec{Name: cf.Name, Type: cf.Type, Nullable: cf.Nullable,
					Min: cf.Min, Max: cf.Max, Categories: cf.Categories})
				if err != nil {
					t.Fatal(err)
				}
				for range n {
					f.AddText([]byte(s.draw(rng)))
				}
				values[i] += uint64(n)
				violations[i] += f.Violations[profile.OutOfRange] + f.Violations[profile.UnknownCategory]
				found, violated := false, false
				for _, v := range []struct {
					count uint64
					rate  *float64
				}{{f.Violations[profile.OutOfRange], cf.MaxOutOfRangeRate}, {f.Violations[profile.UnknownCategory], cf.MaxUnknownCategoryRate}} {
					if v.count == 0 {
						continue
					}
					violated = true
					if v.rate == nil || binomialTail(n, int(v.count), *v.rate) < 0.01 {
						found = true
					}
				}
				sizePairs++
				if found {
					sizeFindings++
				}
				if violated {
					sizeAny++
				}
			}
		}
		t.Logf("%6d events a window: %4d (feature, window) pairs, findings %.2f%%, pairs with any violation %.2f%%",
			n, sizePairs, 100*float64(sizeFindings)/float64(sizePairs), 100*float64(sizeAny)/float64(sizePairs))
		if share := float64(sizeFindings) / float64(sizePairs); share > 0.01 {
			t.Errorf("%d events a window: findings in %.2f%% of pairs, goal ≤ 1%%", n, 100*share)
		}
		pairs, findings, anyViolation = pairs+sizePairs, findings+sizeFindings, anyViolation+sizeAny
	}
	t.Logf("all: %d pairs, findings %.2f%%, any violation %.2f%%", pairs, 100*float64(findings)/float64(pairs), 100*float64(anyViolation)/float64(pairs))
	// Per value, healthy traffic must break the inferred contract well below
	// the tolerance, or the test's power goes on the sample's own tail. Ranges
	// can avoid the tail altogether: a tenth of the tolerance (bounds pinned to a
	// sample of 5,000 are broken at about 2/5,001 = 4e-4, 0.4 of it). A category
	// list cannot hold categories the sample never saw: half of the tolerance
	// (the Good-Turing sizing aims at a quarter).
	for i, f := range c.Features {
		rate := float64(violations[i]) / float64(values[i])
		t.Logf("%-12s %-11s min %s max %s categories %d (tolerance %s): violations per value %.1e",
			f.Name, f.Type, show(f.Min), show(f.Max), len(f.Categories), show(f.MaxUnknownCategoryRate), rate)
		limit, share := f.MaxOutOfRangeRate, 0.1
		if f.Type == config.Categorical {
			limit, share = f.MaxUnknownCategoryRate, 0.5
		}
		if limit != nil && rate > *limit*share {
			t.Errorf("%s: healthy values break the inferred contract at %.1e a value, more than %v of its tolerance %v", f.Name, rate, share, *limit)
		}
	}
}

func show(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

// binomialTail is P(X ≥ k) for X ~ Binomial(n, p).
func binomialTail(n, k int, p float64) float64 {
	if k <= 0 {
		return 1
	}
	if p <= 0 {
		return 0
	}
	if p >= 1 {
		return 1
	}
	lgN, _ := math.Lgamma(float64(n + 1))
	sum := 0.0
	for i := k; i <= n; i++ {
		a, _ := math.Lgamma(float64(i + 1))
		b, _ := math.Lgamma(float64(n - i + 1))
		term := math.Exp(lgN - a - b + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
		sum += term
		if i > int(float64(n)*p) && term < sum*1e-12 {
			break
		}
	}
	return math.Min(sum, 1)
}

func TestBinomialTail(t *testing.T) {
	// Values from R's pbinom: testdata/binomial_tail.R.
	for _, tc := range []struct {
		n, k int
		p    float64
		want float64
	}{
		{100, 1, 0.001, 0.095207852886291008},
		{10000, 10, 0.001, 0.54213287602098015},
		{10000, 20, 0.001, 0.0034375668157023693},
		{1000, 3, 0.0005, 0.014359242305093875},
		{1000, 0, 0.001, 1},
	} {
		if got := binomialTail(tc.n, tc.k, tc.p); math.Abs(got-tc.want) > 1e-9*tc.want {
			t.Errorf("P(Bin(%d, %v) ≥ %d) = %v, want %v", tc.n, tc.p, tc.k, got, tc.want)
		}
	}
}
