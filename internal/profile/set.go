package profile

import (
	"bytes"
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/numparse"
)

// maxUnexpected bounds the names of unexpected fields kept, so that a producer
// sending a fresh key in every record cannot grow the set without end, and
// maxUnexpectedName the bytes kept of each: a name is payload, and a name of a
// megabyte must not be kept a hundred times over.
const (
	maxUnexpected     = 100
	maxUnexpectedName = 256
)

// Set profiles every feature of one model over a stream of records, and counts what
// does not fit the contract at the record level.
type Set struct {
	Features []*Feature
	index    map[string]int

	// Records counts the records added; RowErrors counts unreadable rows by reason.
	Records   uint64
	RowErrors map[string]uint64
	// ExtraCells counts CSV rows with more cells than the header.
	ExtraCells uint64
	// Unexpected counts fields that the contract does not know, by name, for the
	// first maxUnexpected names; UnexpectedOther counts the rest.
	Unexpected      map[string]uint64
	UnexpectedOther uint64

	columns []int // CSV column → feature index, -1 for unexpected columns
	// seen[i] == record when feature i was in the current record: numbering the
	// records spares clearing seen for each one.
	seen   []uint32
	record uint32
	// layout remembers the field names at each position of the last records:
	// events from one producer list their features in the same order, so a byte
	// comparison usually replaces a map lookup.
	layout []layoutEntry
	// layoutID is the event.Event.Layout whose names layout holds, in full;
	// absent lists the features none of them names.
	layoutID uint64
	absent   []int
}

// NewSet returns profiles for specs.
func NewSet(specs []Spec) (*Set, error) {
	s := &Set{
		index:      make(map[string]int, len(specs)),
		RowErrors:  make(map[string]uint64),
		Unexpected: make(map[string]uint64),
		seen:       make([]uint32, len(specs)),
	}
	for i, spec := range specs {
		if _, dup := s.index[spec.Name]; dup {
			return nil, fmt.Errorf("feature %q is listed twice", spec.Name)
		}
		f, err := NewFeature(spec)
		if err != nil {
			return nil, err
		}
		s.Features = append(s.Features, f)
		s.index[spec.Name] = i
	}
	return s, nil
}

// Reset empties every profile and counter for another window of the same specs,
// keeping the memory and the layout learnt from the events.
func (s *Set) Reset() {
	for _, f := range s.Features {
		f.Reset()
	}
	s.ResetCounts()
}

// ResetCounts empties what the set counts besides its features' profiles:
// for a reader that replaces every profile (Feature.ReadState empties it
// first), where emptying them here too made a share's read reset each twice.
func (s *Set) ResetCounts() {
	s.Records, s.ExtraCells, s.UnexpectedOther = 0, 0, 0
	clear(s.RowErrors)
	clear(s.Unexpected)
}

// Feature returns the named profile, or nil.
func (s *Set) Feature(name string) *Feature {
	if i, ok := s.index[name]; ok {
		return s.Features[i]
	}
	return nil
}

// SetColumns maps CSV columns to features once, so that rows are matched by
// position rather than by name.
func (s *Set) SetColumns(cols []string) {
	s.columns = make([]int, len(cols))
	for c, name := range cols {
		i, ok := s.index[name]
		if !ok {
			i = -1
		}
		s.columns[c] = i
	}
}

// AddRowError counts a row that could not be read.
func (s *Set) AddRowError(reason string) { s.RowErrors[reason]++ }

// Add profiles one record.
func (s *Set) Add(rec *dataset.Record) {
	s.Records++
	if rec.Extra > 0 {
		s.ExtraCells++
	}
	s.record++
	if s.record == 0 {
		clear(s.seen)
		s.record = 1
	}
	found := 0
	for c := range rec.Fields {
		fld := &rec.Fields[c]
		i := s.featureOf(rec, c)
		if i < 0 {
			s.addUnexpected(fld.Name)
			continue
		}
		if s.seen[i] != s.record {
			s.seen[i] = s.record
			found++
		}
		addValue(s.Features[i], fld.Value, rec.Text)
	}
	if found == len(s.seen) {
		return
	}
	for i, r := range s.seen {
		if r != s.record {
			s.Features[i].AddMissing()
		}
	}
}

type layoutEntry struct {
	name    []byte
	feature int
}

// maxLayout bounds the remembered positions; records with more fields than
// features are unexpected anyway.
const maxLayout = 1024

// featureOf returns the feature index of field c of rec, or -1.
func (s *Set) featureOf(rec *dataset.Record, c int) int {
	if rec.Text && s.columns != nil && c < len(s.columns) {
		return s.columns[c]
	}
	name := rec.Fields[c].Name
	if c < len(s.layout) && bytes.Equal(s.layout[c].name, name) {
		return s.layout[c].feature
	}
	i, ok := s.index[string(name)]
	if !ok {
		i = -1
	}
	if c < maxLayout {
		for len(s.layout) <= c {
			s.layout = append(s.layout, layoutEntry{feature: -1})
		}
		kept := name
		if i < 0 && len(name) > maxUnexpectedName {
			// A long unexpected name is not kept: an empty one stands for
			// it, which names no feature either.
			kept = nil
		}
		s.layout[c] = layoutEntry{name: append(s.layout[c].name[:0], kept...), feature: i}
	}
	return i
}

func (s *Set) addUnexpected(name []byte) {
	name = boundName(name)
	if _, ok := s.Unexpected[string(name)]; ok {
		s.Unexpected[string(name)]++
		return
	}
	if len(s.Unexpected) < maxUnexpected {
		s.Unexpected[string(name)] = 1
		return
	}
	s.UnexpectedOther++
}

// boundName cuts a name longer than maxUnexpectedName at a character
// boundary and marks the cut with "…"; names that share the kept prefix are
// counted together.
func boundName(name []byte) []byte {
	if len(name) <= maxUnexpectedName {
		return name
	}
	cut := maxUnexpectedName
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return append(name[:cut:cut], "…"...)
}

func addValue(f *Feature, v event.Value, text bool) {
	switch v.Kind {
	case event.KindNull:
		f.AddNull()
	case event.KindNumber:
		f.AddNumber(v.Num)
	case event.KindBool:
		f.AddBool(v.Bool)
	case event.KindString:
		if text {
			f.AddText(v.Str)
		} else {
			f.AddString(v.Str)
		}
	default:
		f.AddWrongType()
	}
}

// finiteValue returns the number a value adds to a numeric profile's distribution.
func finiteValue(v event.Value, text bool) (float64, bool) {
	x := v.Num
	switch {
	case v.Kind == event.KindNumber:
	case v.Kind == event.KindString && text:
		var err error
		if x, err = numparse.ParseFloat(v.Str); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return x, x == x && x <= maxFinite && x >= -maxFinite
}

// Scan profiles every record of r into s, counting unreadable rows; it stops early
// when ctx is cancelled.
func (s *Set) Scan(ctx context.Context, r dataset.Reader) error {
	if cols := r.Columns(); cols != nil {
		s.SetColumns(cols)
	}
	return dataset.ForEach(ctx, r, s.Add, func(e *dataset.RowError) { s.AddRowError(e.Reason) })
}

// Merge adds o, a set built from the same specs, to s.
func (s *Set) Merge(o *Set) error {
	if len(o.Features) != len(s.Features) {
		return fmt.Errorf("cannot merge a set of %d features into one of %d", len(o.Features), len(s.Features))
	}
	for i, f := range s.Features {
		if err := f.Merge(o.Features[i]); err != nil {
			return err
		}
	}
	s.Records += o.Records
	s.ExtraCells += o.ExtraCells
	for k, n := range o.RowErrors {
		s.RowErrors[k] += n
	}
	for k, n := range o.Unexpected {
		if _, ok := s.Unexpected[k]; ok || len(s.Unexpected) < maxUnexpected {
			s.Unexpected[k] += n
		} else {
			s.UnexpectedOther += n
		}
	}
	s.UnexpectedOther += o.UnexpectedOther
	return nil
}

// AddEvent profiles an event's features. Events of one layout (see
// event.Event.Layout) name the same features in the same order, so after the
// first the fields are matched by position alone, without a name compared.
func (s *Set) AddEvent(ev *event.Event) {
	fields := ev.Features
	if ev.Layout == 0 || ev.Layout != s.layoutID {
		s.Add(&dataset.Record{Fields: fields})
		s.learn(ev.Layout, len(fields))
		return
	}
	s.Records++
	for c := range fields {
		i := s.layout[c].feature
		if i < 0 {
			s.addUnexpected(fields[c].Name)
			continue
		}
		// Numbers of numeric features and strings of categorical ones, nearly
		// every value, go straight to their update: the general path is
		// three calls deep, which cost a fifth of profiling an event.
		f, v := s.Features[i], &fields[c].Value
		switch {
		case v.Kind == event.KindNumber && f.Sketch != nil:
			f.addNumeric(v.Num)
		case v.Kind == event.KindString && f.spec.Type == config.Categorical:
			f.addCategory(v.Str)
		default:
			addValue(f, *v, false)
		}
	}
	for _, i := range s.absent {
		s.Features[i].AddMissing()
	}
}

// learn notes that layout holds the names of the n fields just added, when it
// holds them all.
func (s *Set) learn(id uint64, n int) {
	s.layoutID = 0
	if id == 0 || n > len(s.layout) {
		return
	}
	named := make([]bool, len(s.Features))
	for _, e := range s.layout[:n] {
		if e.feature >= 0 {
			named[e.feature] = true
		}
	}
	s.absent = s.absent[:0]
	for i, ok := range named {
		if !ok {
			s.absent = append(s.absent, i)
		}
	}
	s.layoutID = id
}
