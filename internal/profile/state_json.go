package profile

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// unmarshalJSONState reads the JSON form of the state, which stores written
// before the binary one hold.
func unmarshalJSONState(spec Spec, data []byte) (*Feature, error) {
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading profile state: %w", err)
	}
	if s.Version != jsonStateVersion {
		return nil, fmt.Errorf("profile state version %d is not supported (want %d)", s.Version, jsonStateVersion)
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
	if len(s.Violations) != len(f.Violations) || len(s.HLL) != registers || len(s.Bins) != len(f.Bins) {
		return nil, fmt.Errorf("profile state of %s is malformed", s.Name)
	}
	f.Rows, f.Nulls, f.NaN, f.PosInf, f.NegInf = s.Rows, s.Nulls, s.NaN, s.PosInf, s.NegInf
	copy(f.Violations[:], s.Violations)
	f.Finite, f.Mean, f.m2 = s.Finite, float64(s.Mean), float64(s.M2)
	if s.Min != nil && s.Max != nil {
		f.Min, f.Max = float64(*s.Min), float64(*s.Max)
	}
	if f.Sketch != nil && s.Sketch != nil {
		if b := s.Sketch; abs(b.PosOffset) > maxSketchOffset || abs(b.NegOffset) > maxSketchOffset {
			return nil, fmt.Errorf("profile state of %s is malformed: sketch offsets out of range", s.Name)
		}
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
	f.Distinct.drain()
	f.Distinct.dense()
	copy(f.Distinct.reg[:], s.HLL)
	f.Distinct.reindex()
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
