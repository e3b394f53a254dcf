package profile

import (
	"fmt"
	"slices"

	"github.com/sentinel-ml/sentinel/internal/config"

	"github.com/sentinel-ml/sentinel/internal/stats"
)

// Distribution reduces the profile to what the statistics compare. It is made
// in memory the profile keeps for it, so that a window's checks allocate
// nothing per feature: it is valid until the profile changes or is asked for
// its distribution again.
func (f *Feature) Distribution() stats.Distribution {
	if f.Sketch != nil {
		f.dist.atoms = f.Sketch.AppendAtoms(f.dist.atoms[:0])
		f.dist.bins = slices.Grow(f.dist.bins[:0], len(f.Bins))[:len(f.Bins)]
		d := stats.Distribution{N: float64(f.Finite), Atoms: f.dist.atoms, Bins: f.dist.bins}
		for i, c := range f.Bins {
			d.Bins[i] = float64(c)
		}
		if f.Finite > 1 {
			d.StdDev = f.StdDev()
		}
		return d
	}
	if f.dist.categories == nil {
		f.dist.categories = make(map[string]float64, len(f.categories))
	}
	clear(f.dist.categories)
	d := stats.Distribution{Categories: f.dist.categories, Other: float64(f.Other)}
	for k, c := range f.categories {
		d.Categories[k] = float64(c.n)
		d.N += float64(c.n)
	}
	d.N += d.Other
	return d
}

// Samples is the N of Distribution, counted without building it: a window
// with fewer values than a statistic needs skips the statistic, and need not
// pay for its distribution.
func (f *Feature) Samples() float64 {
	if f.Sketch != nil {
		return float64(f.Finite)
	}
	var n uint64
	for _, c := range f.categories {
		n += c.n
	}
	return float64(n) + float64(f.Other)
}

// Distribution reduces a baseline feature to what the statistics compare.
func (b *Baseline) Distribution(fb *FeatureBaseline) (stats.Distribution, error) {
	if fb.Type != config.Numeric {
		d := stats.Distribution{Categories: make(map[string]float64, len(fb.Categories)), Other: float64(fb.Other)}
		for _, c := range fb.Categories {
			d.Categories[c.Value] = float64(c.Count)
			d.N += float64(c.Count)
		}
		d.N += d.Other
		return d, nil
	}
	s, err := fb.sketch(b.RelativeAccuracy)
	if err != nil {
		return stats.Distribution{}, fmt.Errorf("feature %s: %w", fb.Name, err)
	}
	d := stats.Distribution{N: float64(fb.Finite), Atoms: s.Atoms(), Bins: make([]float64, len(fb.BinCounts))}
	for i, c := range fb.BinCounts {
		d.Bins[i] = float64(c)
	}
	if fb.StdDev != nil {
		d.StdDev = *fb.StdDev
	}
	return d, nil
}
