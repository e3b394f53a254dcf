package profile

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sentinel-ml/sentinel/internal/cbpe"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/numparse"
)

// Calibration is the calibration of a probability model's outputs that the
// baseline learnt from labelled rows of its input, for estimating quality
// before labels arrive (package cbpe).
type Calibration struct {
	// PredictionColumn and LabelColumn are the contract's prediction.column
	// and prediction.label_column.
	PredictionColumn string `json:"prediction_column"`
	LabelColumn      string `json:"label_column"`
	// Unused counts the rows of the input that could not be used, by reason:
	// no_prediction, no_label (absent or null), prediction_not_a_probability
	// (not a number in [0, 1]), label_not_binary (not 0, 1, true or false).
	Unused map[string]uint64 `json:"unused_rows,omitempty"`
	cbpe.Calibration
}

// Reasons a row of the input does not serve the calibration.
const (
	unusedNoPrediction    = "no_prediction"
	unusedNoLabel         = "no_label"
	unusedNotAProbability = "prediction_not_a_probability"
	unusedNotBinary       = "label_not_binary"
)

// labelledRows gathers the (probability, label) pairs of the input's rows,
// 9 bytes a row: the isotonic fit needs them all, sorted.
type labelledRows struct {
	prediction, label []byte
	// columns are the CSV positions of the two columns, -1 when absent.
	predCol, labelCol int
	// seen notes whether any record had each column at all.
	seenPred, seenLabel bool
	prob                []float64
	positive            []bool
	unused              map[string]uint64
}

func newLabelledRows(p *config.Prediction) *labelledRows {
	return &labelledRows{prediction: []byte(p.Column), label: []byte(p.LabelColumn), predCol: -1, labelCol: -1,
		unused: make(map[string]uint64)}
}

// setColumns finds the two columns in a CSV header.
func (l *labelledRows) setColumns(cols []string) {
	l.predCol, l.labelCol = -1, -1
	for i, c := range cols {
		switch c {
		case string(l.prediction):
			l.predCol = i
		case string(l.label):
			l.labelCol = i
		}
	}
}

// add takes the pair of one record, or counts why it has none.
func (l *labelledRows) add(rec *dataset.Record) {
	pv, lv := l.field(rec, l.predCol, l.prediction), l.field(rec, l.labelCol, l.label)
	l.seenPred = l.seenPred || pv.Kind != event.KindAbsent
	l.seenLabel = l.seenLabel || lv.Kind != event.KindAbsent
	p, pok := probability(pv, rec.Text)
	y, yok := binaryLabel(lv)
	switch {
	case pv.Kind == event.KindAbsent || pv.Kind == event.KindNull:
		l.unused[unusedNoPrediction]++
	case lv.Kind == event.KindAbsent || lv.Kind == event.KindNull:
		l.unused[unusedNoLabel]++
	case !pok:
		l.unused[unusedNotAProbability]++
	case !yok:
		l.unused[unusedNotBinary]++
	default:
		l.prob = append(l.prob, p)
		l.positive = append(l.positive, y)
	}
}

// field is the value of a column in a CSV record (by position) or a JSON
// one (by name).
func (l *labelledRows) field(rec *dataset.Record, col int, name []byte) event.Value {
	if rec.Text && col >= 0 {
		if col < len(rec.Fields) {
			return rec.Fields[col].Value
		}
		return event.Value{}
	}
	if rec.Text {
		return event.Value{}
	}
	for i := range rec.Fields {
		if bytes.Equal(rec.Fields[i].Name, name) {
			return rec.Fields[i].Value
		}
	}
	return event.Value{}
}

func probability(v event.Value, text bool) (float64, bool) {
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
	return x, x >= 0 && x <= 1
}

func binaryLabel(v event.Value) (positive, ok bool) {
	switch v.Kind {
	case event.KindBool:
		return v.Bool, true
	case event.KindNumber:
		return v.Num == 1, v.Num == 0 || v.Num == 1
	case event.KindString:
		switch string(bytes.TrimSpace(v.Str)) {
		case "1", "true", "True", "TRUE":
			return true, true
		case "0", "false", "False", "FALSE":
			return false, true
		}
	}
	return false, false
}

// learn fits the calibration from the pairs gathered.
func (l *labelledRows) learn() (*Calibration, error) {
	var errs []error
	if !l.seenPred {
		errs = append(errs, fmt.Errorf("no row has the column %q that prediction.column names", l.prediction))
	}
	if !l.seenLabel {
		errs = append(errs, fmt.Errorf("no row has the column %q that prediction.label_column names", l.label))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cal, err := cbpe.Learn(l.prob, l.positive)
	if err != nil {
		return nil, fmt.Errorf("learning the calibration from columns %s and %s: %w%s", l.prediction, l.label, err, l.unusedSummary())
	}
	c := &Calibration{PredictionColumn: string(l.prediction), LabelColumn: string(l.label), Calibration: *cal}
	if len(l.unused) > 0 {
		c.Unused = l.unused
	}
	return c, nil
}

func (l *labelledRows) unusedSummary() string {
	if len(l.unused) == 0 {
		return ""
	}
	var b bytes.Buffer
	b.WriteString(" (rows not used:")
	for _, r := range []string{unusedNoPrediction, unusedNoLabel, unusedNotAProbability, unusedNotBinary} {
		if n := l.unused[r]; n > 0 {
			fmt.Fprintf(&b, " %d %s", n, r)
		}
	}
	b.WriteString(")")
	return b.String()
}
