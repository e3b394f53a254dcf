// Package event defines the event envelope Sentinel reads from Kafka and JSONL
// files, and a reflection-free JSON decoder for it that allocates nothing in
// steady state.
//
// # Layouts
//
// An envelope carries its features in a "features" object:
//
//	{"model": "fraud", "model_version": "2026-11-01", "request_id": "r-123",
//	 "timestamp": "2026-11-21T10:00:00.123Z",
//	 "features": {"amount": 12.5, "country": "DE"},
//	 "prediction": 0.87, "latency_ms": 12.3}
//
// A flat object (training and serving JSONL files) has no such object, and every
// top-level member is a feature: {"amount": 12.5, "country": "DE"}.
//
// With [LayoutAuto], the default, an object whose top-level "features" member is an
// object is an envelope and anything else is flat. In an envelope the envelope
// fields are checked strictly: a model that is not a string or an unparsable
// timestamp is an error. In a flat object they are features like any other, and
// are also copied into the Event's envelope fields when (and only when) they have
// the right type, so a label event ({"model": …, "timestamp": …, "label": 1}),
// which has no features, still yields its model, timestamp and label. Consumers of
// Kafka topics, where every object is an envelope, should use [LayoutEnvelope] so
// that a malformed label event is rejected rather than read leniently.
//
// # Non-finite numbers
//
// Numbers may be the bare literals NaN, Infinity and -Infinity (as Python's json
// module writes them), or strings spelling NaN or ±Inf ("NaN", "Infinity",
// "-Infinity", "Inf", "+Inf", "-inf", …; case-insensitive). Both decode as
// KindNumber with Num set to NaN or ±Inf, so that they are measured as numerical
// instability rather than rejected or counted as categories.
//
// # Strings
//
// Strings are not required to be valid UTF-8: as with encoding/json, each invalid
// byte becomes U+FFFD, and so does an unpaired UTF-16 surrogate escape.
package event

import (
	"strconv"
	"time"
)

// Kind is the JSON type of a decoded value.
type Kind uint8

const (
	// KindAbsent is the zero Kind: the member was not in the object.
	KindAbsent Kind = iota
	// KindNull is an explicit JSON null.
	KindNull
	// KindNumber is a JSON number, a NaN/Infinity literal, or a string spelling NaN or ±Inf.
	KindNumber
	// KindString is a JSON string.
	KindString
	// KindBool is true or false.
	KindBool
	// KindOther is a nested object or array: present, but not a scalar.
	KindOther
)

func (k Kind) String() string {
	switch k {
	case KindAbsent:
		return "absent"
	case KindNull:
		return "null"
	case KindNumber:
		return "number"
	case KindString:
		return "string"
	case KindBool:
		return "bool"
	case KindOther:
		return "other"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one decoded JSON value.
type Value struct {
	Kind Kind
	// Num is the number for KindNumber (possibly NaN or ±Inf), and 1 or 0 for KindBool.
	Num float64
	// Str is the unescaped text for KindString. For a KindNumber that was written as
	// a string ("NaN", "inf", …) it holds that string, so a consumer expecting a
	// category can still recover it; for a number written as a number it is nil.
	Str []byte
	// Bool is the value for KindBool.
	Bool bool
}

// Present reports whether the member was in the object at all (null counts as present).
func (v Value) Present() bool { return v.Kind != KindAbsent }

// quoted reports whether the value was written as a JSON string, including the
// strings that spell NaN or ±Inf and so decode as numbers.
func (v Value) quoted() bool {
	return v.Kind == KindString || (v.Kind == KindNumber && v.Str != nil)
}

// Field is one member of an object.
type Field struct {
	Name  []byte
	Value Value
}

// Event is the decoded form of one event. It is meant to be reused across
// [Decoder.Decode] calls: its byte slices alias the input or the decoder's scratch
// memory and stay valid until the next Decode on the same Decoder (or until the
// input is modified). Copy what must outlive that.
type Event struct {
	// Model, ModelVersion and RequestID are nil when absent or null, and empty
	// but not nil for "".
	Model, ModelVersion, RequestID []byte
	// Timestamp is in UTC; it is the zero time when HasTimestamp is false.
	Timestamp    time.Time
	HasTimestamp bool
	// Features holds the "features" object's members in input order for an
	// envelope, or every top-level member for a flat object.
	Features []Field
	// Envelope is true when the object had a "features" object.
	Envelope bool
	// Layout identifies the names of Features in an envelope: two events from
	// one Decoder with the same non-zero Layout have the same feature names in
	// the same order, so a consumer can map them to its features by position
	// once. Zero says nothing (flat objects, names with escapes, more members
	// than the decoder remembers).
	Layout uint64
	// Prediction, LatencyMs and Label are KindAbsent when absent and KindNull when null.
	Prediction Value
	LatencyMs  Value
	Label      Value
}

// Feature returns the feature with the given name by linear search; it is meant
// for tests and cold paths, not for per-event lookups of many features.
func (e *Event) Feature(name string) (Value, bool) {
	for i := range e.Features {
		if string(e.Features[i].Name) == name {
			return e.Features[i].Value, true
		}
	}
	return Value{}, false
}
