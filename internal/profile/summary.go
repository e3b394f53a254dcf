package profile

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/sentinel-ml/sentinel/internal/config"
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
	spec    Spec
	numeric bool
	limit   int

	bins       []uint64
	categories map[string]uint64
	// categorised is the sum of categories' counts: every window compares
	// with the previous one, and summing the map each time was most of it.
	categorised uint64
	other       uint64

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
	s := &Summary{spec: spec, numeric: f.Sketch != nil, limit: f.limit, dirty: true}
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
	s.categorised, s.other = 0, 0
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
			s.categorised += c.n
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

// Samples is the N of Distribution, counted without building it.
func (s *Summary) Samples() float64 {
	if s.numeric {
		return float64(s.finite)
	}
	return float64(s.categorised) + float64(s.other)
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

// summaryStateVersion versions the serialised summary, which outlives the
// process in the store.
const summaryStateVersion = 1

// summaryState is a Summary as stored. It names the feature and carries the bin
// edges and sketch accuracy it was counted with: a summary read back after the
// contract or baseline changed must be refused, not compared as if its bins
// were today's.
type summaryState struct {
	Version    int                `json:"v"`
	Name       string             `json:"name"`
	Type       config.FeatureType `json:"type"`
	Edges      []float64          `json:"edges,omitempty"`
	Bins       []uint64           `json:"bins,omitempty"`
	Categories map[string]uint64  `json:"categories,omitempty"`
	Other      uint64             `json:"other,omitempty"`
	Finite     uint64             `json:"finite,omitempty"`
	Mean       jsonFloat          `json:"mean,omitempty"`
	M2         jsonFloat          `json:"m2,omitempty"`
	Alpha      float64            `json:"alpha,omitempty"`
	Sketch     *SketchBuckets     `json:"sketch,omitempty"`
}

// ErrStateMismatch says that a stored summary was counted under another spec
// (feature, type, bin edges, sketch accuracy) than the one it is read into.
var ErrStateMismatch = errors.New("summary state does not match the feature's spec")

// maxSketchOffset bounds the bucket offsets read from a stored sketch: far
// beyond any float64's bucket, they could only make the sketch allocate
// without bound.
const maxSketchOffset = 1 << 20

// MarshalState serialises the summary, for the store.
func (s *Summary) MarshalState() ([]byte, error) {
	st := summaryState{Version: summaryStateVersion, Name: s.spec.Name, Type: s.spec.Type, Edges: s.spec.Edges,
		Bins: s.bins, Categories: s.categories, Other: s.other, Finite: s.finite, Mean: jsonFloat(s.mean), M2: jsonFloat(s.m2)}
	if s.sketch != nil {
		st.Alpha = s.sketch.alpha
		st.Sketch = s.sketch.stored()
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("serialising summary of %s: %w", s.spec.Name, err)
	}
	return b, nil
}

// AddState adds a summary written by MarshalState. It changes nothing when it
// returns an error: a state of another spec wraps ErrStateMismatch.
func (s *Summary) AddState(data []byte) error {
	var st summaryState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("reading summary state: %w", err)
	}
	if st.Version != summaryStateVersion {
		return fmt.Errorf("summary state version %d is not supported (want %d)", st.Version, summaryStateVersion)
	}
	switch {
	case st.Name != s.spec.Name || st.Type != s.spec.Type:
		return fmt.Errorf("%w: state of %s (%s), feature %s (%s)", ErrStateMismatch, st.Name, st.Type, s.spec.Name, s.spec.Type)
	case !slices.Equal(st.Edges, s.spec.Edges) || len(st.Bins) != len(s.bins):
		return fmt.Errorf("%w: %s was binned at other edges", ErrStateMismatch, s.spec.Name)
	case s.sketch != nil && (st.Sketch == nil || st.Alpha != s.sketch.alpha):
		return fmt.Errorf("%w: %s has no sketch of relative accuracy %v", ErrStateMismatch, s.spec.Name, s.sketch.alpha)
	case !s.numeric && (len(st.Bins) > 0 || st.Sketch != nil), s.numeric && len(st.Categories) > 0:
		return fmt.Errorf("summary state of %s is malformed", s.spec.Name)
	}
	var sk *Sketch
	if s.sketch != nil {
		b := st.Sketch
		if abs(b.PosOffset) > maxSketchOffset || abs(b.NegOffset) > maxSketchOffset ||
			len(b.Pos) > maxSketchOffset || len(b.Neg) > maxSketchOffset {
			return fmt.Errorf("summary state of %s is malformed: sketch offsets out of range", s.spec.Name)
		}
		var err error
		if sk, err = (&FeatureBaseline{Sketch: b}).sketch(st.Alpha); err != nil {
			return fmt.Errorf("reading summary state of %s: %w", s.spec.Name, err)
		}
	}
	s.dirty = true
	for i, c := range st.Bins {
		s.bins[i] += c
	}
	for k, c := range st.Categories {
		if _, ok := s.categories[k]; ok || len(s.categories) < s.limit {
			s.categories[k] += c
			s.categorised += c
		} else {
			s.other += c
		}
	}
	s.other += st.Other
	if sk != nil {
		if err := s.sketch.Merge(sk); err != nil {
			return fmt.Errorf("reading summary state of %s: %w", s.spec.Name, err)
		}
	}
	if st.Finite > 0 {
		s.finite, s.mean, s.m2 = mergeMoments(s.finite, s.mean, s.m2, st.Finite, float64(st.Mean), float64(st.M2))
	}
	return nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
