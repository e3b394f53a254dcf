package profile

import (
	"fmt"
	"math"

	"github.com/sentinel-ml/sentinel/internal/stats"
)

// Summary keeps, over one or many windows, only what a drift statistic compares
// with a later window: bin counts for numeric features and category counts for
// the others, and the quantile sketch with the moments only when the statistic
// compares the shape of the distribution (KS, Wasserstein). A daemon keeps one
// for the previous window and two for the reference periods of every feature of
// every model; holding whole profiles there (sketches of every feature, distinct
// counters, violation counts) made its memory several times that of the open
// windows.
type Summary struct {
	numeric bool
	limit   int

	bins       []uint64
	categories map[string]uint64
	other      uint64

	sketch *Sketch
	// finite, mean and m2 are the moments of the finite values, for the
	// standard deviation that scales the Wasserstein distance.
	finite   uint64
	mean, m2 float64

	dist  stats.Distribution
	dirty bool
}

// NewSummary returns an empty summary for profiles of spec; shape keeps the
// sketch of numeric values for KS and Wasserstein.
func NewSummary(spec Spec, shape bool) (*Summary, error) {
	f, err := NewFeature(spec)
	if err != nil {
		return nil, err
	}
	s := &Summary{numeric: f.Sketch != nil, limit: f.limit, dirty: true}
	// Everything is sized here, for the categories the baseline and contract
	// know, so that a daemon's memory is set when a model is configured rather
	// than growing through its first windows, and the distribution is refilled
	// in place instead of reallocated each time the summary changes.
	if s.numeric {
		s.bins = f.Bins
		s.dist.Bins = make([]float64, len(f.Bins))
		if shape {
			s.sketch = f.Sketch
		}
	} else {
		known := len(f.categories)
		s.categories = make(map[string]uint64, known)
		s.dist.Categories = make(map[string]float64, known)
	}
	return s, nil
}

// Reset empties the summary, keeping its memory for the next windows.
func (s *Summary) Reset() {
	clear(s.bins)
	clear(s.categories)
	s.other = 0
	if s.sketch != nil {
		s.sketch.reset()
	}
	s.finite, s.mean, s.m2 = 0, 0, 0
	s.dirty = true
}

// Add adds a window's profile, of the spec the summary was made for.
func (s *Summary) Add(f *Feature) error {
	if (f.Sketch != nil) != s.numeric || len(f.Bins) != len(s.bins) {
		return fmt.Errorf("cannot summarise profile of %s (%s, %d bins) here", f.spec.Name, f.spec.Type, len(f.Bins))
	}
	s.dirty = true
	for i, c := range f.Bins {
		s.bins[i] += c
	}
	for k, c := range f.categories {
		if _, ok := s.categories[k]; ok || len(s.categories) < s.limit {
			s.categories[k] += c.n
		} else {
			s.other += c.n
		}
	}
	s.other += f.Other
	if s.sketch != nil {
		if err := s.sketch.Merge(f.Sketch); err != nil {
			return fmt.Errorf("summarising %s: %w", f.spec.Name, err)
		}
	}
	if f.Finite > 0 {
		s.finite, s.mean, s.m2 = mergeMoments(s.finite, s.mean, s.m2, f.Finite, f.Mean, f.m2)
	}
	return nil
}

// Distribution is what the statistics compare; it is computed once per change,
// as a reference period's is compared with every window of the next one. It
// shares the summary's memory: it is valid until the summary next changes.
func (s *Summary) Distribution() stats.Distribution {
	if !s.dirty {
		return s.dist
	}
	s.dirty = false
	d := &s.dist
	if !s.numeric {
		clear(d.Categories)
		d.N, d.Other = 0, float64(s.other)
		for k, c := range s.categories {
			d.Categories[k] = float64(c)
			d.N += float64(c)
		}
		d.N += d.Other
		return *d
	}
	d.N, d.StdDev = float64(s.finite), 0
	for i, c := range s.bins {
		d.Bins[i] = float64(c)
	}
	if s.sketch != nil {
		d.Atoms = s.sketch.AppendAtoms(d.Atoms[:0])
	}
	if s.finite > 1 {
		d.StdDev = math.Sqrt(s.m2 / float64(s.finite-1))
	}
	return *d
}
