package profile

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/sentinel-ml/sentinel/internal/config"
)

// stateVersion versions the serialised profile, which outlives the process in
// the store.
const stateVersion = 1

// state is a Feature's complete mergeable content: partial profiles of one window
// from several partitions or replicas can be read back and merged.
type state struct {
	Version    int                `json:"v"`
	Name       string             `json:"name"`
	Type       config.FeatureType `json:"type"`
	Rows       uint64             `json:"rows"`
	Nulls      uint64             `json:"nulls,omitempty"`
	NaN        uint64             `json:"nan,omitempty"`
	PosInf     uint64             `json:"pos_inf,omitempty"`
	NegInf     uint64             `json:"neg_inf,omitempty"`
	Violations []uint64           `json:"violations"`
	Finite     uint64             `json:"finite,omitempty"`
	Min        *jsonFloat         `json:"min,omitempty"`
	Max        *jsonFloat         `json:"max,omitempty"`
	Mean       jsonFloat          `json:"mean,omitempty"`
	M2         jsonFloat          `json:"m2,omitempty"`
	Alpha      float64            `json:"alpha,omitempty"`
	Sketch     *SketchBuckets     `json:"sketch,omitempty"`
	Edges      []float64          `json:"edges,omitempty"`
	Bins       []uint64           `json:"bins,omitempty"`
	Categories map[string]uint64  `json:"categories,omitempty"`
	Other      uint64             `json:"other,omitempty"`
	// HLL holds the distinct-count registers.
	HLL []byte `json:"hll"`
}

// MarshalState serialises the profile so that it can be merged later.
func (f *Feature) MarshalState() ([]byte, error) {
	s := state{Version: stateVersion, Name: f.spec.Name, Type: f.spec.Type, Rows: f.Rows, Nulls: f.Nulls,
		NaN: f.NaN, PosInf: f.PosInf, NegInf: f.NegInf, Violations: f.Violations[:], Finite: f.Finite,
		Mean: jsonFloat(f.Mean), M2: jsonFloat(f.m2), Edges: f.spec.Edges, Bins: f.Bins, Other: f.Other, HLL: f.Distinct.reg[:]}
	if f.Finite > 0 {
		lo, hi := jsonFloat(f.Min), jsonFloat(f.Max)
		s.Min, s.Max = &lo, &hi
	}
	if f.Sketch != nil {
		s.Alpha = f.Sketch.alpha
		s.Sketch = f.Sketch.stored()
	}
	if f.categories != nil {
		s.Categories = f.CategoryCounts()
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("serialising profile of %s: %w", f.spec.Name, err)
	}
	return b, nil
}

// UnmarshalState reads a profile written by MarshalState, under spec.
func UnmarshalState(spec Spec, data []byte) (*Feature, error) {
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading profile state: %w", err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("profile state version %d is not supported (want %d)", s.Version, stateVersion)
	}
	if s.Name != spec.Name || s.Type != spec.Type {
		return nil, fmt.Errorf("profile state of %s (%s) does not match feature %s (%s)", s.Name, s.Type, spec.Name, spec.Type)
	}
	if s.Alpha != 0 {
		spec.RelativeAccuracy = s.Alpha
	}
	spec.Edges = s.Edges
	f, err := NewFeature(spec)
	if err != nil {
		return nil, err
	}
	if len(s.Violations) != len(f.Violations) || len(s.HLL) != len(f.Distinct.reg) || len(s.Bins) != len(f.Bins) {
		return nil, fmt.Errorf("profile state of %s is malformed", s.Name)
	}
	f.Rows, f.Nulls, f.NaN, f.PosInf, f.NegInf = s.Rows, s.Nulls, s.NaN, s.PosInf, s.NegInf
	copy(f.Violations[:], s.Violations)
	f.Finite, f.Mean, f.m2 = s.Finite, float64(s.Mean), float64(s.M2)
	if s.Min != nil && s.Max != nil {
		f.Min, f.Max = float64(*s.Min), float64(*s.Max)
	}
	if f.Sketch != nil && s.Sketch != nil {
		fb := FeatureBaseline{Sketch: s.Sketch}
		if f.Sketch, err = fb.sketch(f.Sketch.alpha); err != nil {
			return nil, err
		}
	}
	copy(f.Bins, s.Bins)
	for k, n := range s.Categories {
		f.mergeCategory(k, n)
	}
	f.Other += s.Other
	copy(f.Distinct.reg[:], s.HLL)
	return f, nil
}

// jsonFloat encodes non-finite values as strings, which JSON numbers cannot be:
// moments of extreme values can overflow, and the state must still be written.
type jsonFloat float64

func (x jsonFloat) MarshalJSON() ([]byte, error) {
	f := float64(x)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(f)
}

func (x *jsonFloat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("reading profile state: %w", err)
		}
		*x = jsonFloat(f)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*x = jsonFloat(f)
	return nil
}
