package labels

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/event"
)

// ErrInvalidValue is wrapped by every error about a prediction or label that does
// not fit the model's prediction kind; the pipeline sends such events to the
// dead-letter topic with the error text as the reason.
var ErrInvalidValue = errors.New("invalid value")

// Value is a prediction or a label. Probability, score and regression values are
// in Num; class values are in Class and compared for equality. Binary labels are
// Num 0 or 1.
type Value struct {
	Num   float64
	Class string
	// Tag is the caller's mark on a prediction, returned with its pair: the
	// pipeline's index of the version that made it, so that quality is scored
	// per version too. Zero is no mark.
	Tag uint8
}

// ValueParser turns decoded event values into Values for a prediction kind. It
// interns class names so that a steady stream of known classes does not allocate;
// once MaxClasses distinct names are held, further new names are allocated per
// event instead of being remembered, which keeps memory bounded when a model emits
// free-form text. A ValueParser is not safe for concurrent use.
type ValueParser struct {
	classes    map[string]string
	maxClasses int
	buf        []byte
}

// NewValueParser returns a parser that interns up to maxClasses class names.
func NewValueParser(maxClasses int) *ValueParser {
	return &ValueParser{classes: make(map[string]string), maxClasses: maxClasses}
}

// Prediction converts a prediction for a model of the given kind.
func (p *ValueParser) Prediction(kind config.PredictionKind, v event.Value) (Value, error) {
	switch kind {
	case config.Probability:
		x, err := finite("prediction", kind, v)
		if err != nil {
			return Value{}, err
		}
		if x < 0 || x > 1 {
			return Value{}, fmt.Errorf("%w: probability prediction %g outside [0, 1]", ErrInvalidValue, x)
		}
		return Value{Num: x}, nil
	case config.Score, config.Regression:
		x, err := finite("prediction", kind, v)
		return Value{Num: x}, err
	case config.Class:
		return p.class("prediction", v)
	}
	return Value{}, fmt.Errorf("%w: unknown prediction kind %q", ErrInvalidValue, kind)
}

// Label converts a ground-truth label for a model of the given kind. Probability
// and score models take binary labels: 0, 1, false or true.
func (p *ValueParser) Label(kind config.PredictionKind, v event.Value) (Value, error) {
	switch kind {
	case config.Probability, config.Score:
		if v.Kind == event.KindBool {
			return Value{Num: v.Num}, nil
		}
		x, err := finite("label", kind, v)
		if err != nil {
			return Value{}, err
		}
		if x != 0 && x != 1 {
			return Value{}, fmt.Errorf("%w: %s label %g is not 0, 1, false or true", ErrInvalidValue, kind, x)
		}
		return Value{Num: x}, nil
	case config.Regression:
		x, err := finite("label", kind, v)
		return Value{Num: x}, err
	case config.Class:
		return p.class("label", v)
	}
	return Value{}, fmt.Errorf("%w: unknown prediction kind %q", ErrInvalidValue, kind)
}

func finite(what string, kind config.PredictionKind, v event.Value) (float64, error) {
	if v.Kind != event.KindNumber || v.Str != nil {
		return 0, fmt.Errorf("%w: %s %s is %s, want a number", ErrInvalidValue, kind, what, describe(v))
	}
	if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
		return 0, fmt.Errorf("%w: %s %s is %g", ErrInvalidValue, kind, what, v.Num)
	}
	return v.Num, nil
}

// describe names what a value is without echoing payload text, keeping error
// messages (and dead-letter reasons) bounded.
func describe(v event.Value) string {
	if v.Kind == event.KindNumber && v.Str != nil {
		return "a quoted number"
	}
	return v.Kind.String()
}

// class gives integers and strings one spelling so that a prediction of 1 and a
// label of "1" are the same class, as they are to anyone reading the topic.
func (p *ValueParser) class(what string, v event.Value) (Value, error) {
	switch v.Kind {
	case event.KindString:
		return Value{Class: p.intern(v.Str)}, nil
	case event.KindNumber:
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return Value{}, fmt.Errorf("%w: class %s is %g", ErrInvalidValue, what, v.Num)
		}
		p.buf = strconv.AppendFloat(p.buf[:0], v.Num, 'g', -1, 64)
		return Value{Class: p.intern(p.buf)}, nil
	case event.KindBool:
		return Value{Class: strconv.FormatBool(v.Bool)}, nil
	}
	return Value{}, fmt.Errorf("%w: class %s is %s, want a string or number", ErrInvalidValue, what, describe(v))
}

func (p *ValueParser) intern(b []byte) string {
	if s, ok := p.classes[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(p.classes) < p.maxClasses {
		p.classes[s] = s
	}
	return s
}
