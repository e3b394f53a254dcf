package event

import (
	"errors"
	"strconv"
)

// Reason is a short, stable, machine-readable cause of a decode failure, suitable
// for a dead-letter header or a metric label (the set is fixed and small).
type Reason string

const (
	// ReasonInvalidJSON: the input is not valid JSON (bad syntax, bad escape,
	// control character in a string, trailing data, empty input).
	ReasonInvalidJSON Reason = "invalid_json"
	// ReasonNotObject: the input is valid JSON so far but its top level is not an object.
	ReasonNotObject Reason = "not_object"
	// ReasonBadTimestamp: the timestamp is neither an RFC 3339 string nor a
	// finite number of Unix epoch milliseconds within years 1–9999.
	ReasonBadTimestamp Reason = "bad_timestamp"
	// ReasonBadFieldType: an envelope field has the wrong JSON type.
	ReasonBadFieldType Reason = "bad_field_type"
	// ReasonDuplicateKey: a feature name, or an envelope field, appears twice.
	ReasonDuplicateKey Reason = "duplicate_key"
	// ReasonTooManyFeatures: more features than Options.MaxFeatures.
	ReasonTooManyFeatures Reason = "too_many_features"
	// ReasonTooDeep: containers nested deeper than Options.MaxDepth.
	ReasonTooDeep Reason = "too_deep"
)

// Reasons lists every Reason the decoder reports, for callers that must know the
// closed set (metric label values, dead-letter headers).
func Reasons() []Reason {
	return []Reason{ReasonInvalidJSON, ReasonNotObject, ReasonBadTimestamp, ReasonBadFieldType,
		ReasonDuplicateKey, ReasonTooManyFeatures, ReasonTooDeep}
}

// DecodeError is the error [Decoder.Decode] returns; use errors.As or [ReasonOf].
type DecodeError struct {
	Reason Reason
	// Offset is the byte offset in the input where the problem was found; it is
	// 0 for problems of the object as a whole (duplicate features, too many
	// top-level members), which are only detected once it has been read.
	Offset int
	// Msg is a human-readable detail; it may quote a field name but never a value.
	Msg string
}

func (e *DecodeError) Error() string {
	return "event: " + string(e.Reason) + " at offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// ReasonOf returns the Reason of a *DecodeError in err's chain, or "" if there is none.
func ReasonOf(err error) Reason {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ""
}
