package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		string(realisticEvent()),
		`{"model": "fraud", "request_id": "r-123", "timestamp": "2026-11-21T10:00:00Z", "label": 1}`,
		`{"amount": 1.5, "country": "DE", "is_new": true, "age": null}`,
		`{"a": NaN, "b": Infinity, "c": -Infinity, "d": "nan", "e": "-Inf", "f": "+inf"}`,
		`{"a": "\u00fc\ud83d\ude00\ud800\n\"\\\/", "\u0062": [1, {"c": [[]]}]}`,
		"{\"a\": \"\xff\xe6\x9d\"}",
		`{"features": {"a": 1, "a": 2}}`,
		`{"timestamp": "2026-11-21T10:00:00.123456789+05:30", "features": {}}`,
		`{"timestamp": 1763719200123.5, "features": {"x": -0.0e-0}}`,
		`{"a": 0.12345678901234567, "b": 1e400, "c": 123456789012345.6}`,
		`{"a": [1,]}`,
		`{"a": 01}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev Event
		// Flat reading first: no envelope rules apply, so its verdict is purely
		// about syntax and limits and can be compared with encoding/json.
		flatErr := NewDecoder(Options{Layout: LayoutFlat}).Decode(data, &ev)
		if flatErr != nil {
			var de *DecodeError
			if !errors.As(flatErr, &de) || de.Offset < 0 || de.Offset > len(data)+1 {
				t.Fatalf("error %#v is not a *DecodeError with a sane offset", flatErr)
			}
		}
		if flatErr == nil && !json.Valid(data) &&
			!bytes.Contains(data, []byte("NaN")) && !bytes.Contains(data, []byte("Infinity")) {
			t.Fatalf("accepted %q, which encoding/json rejects and has no NaN/Infinity", data)
		}

		var want map[string]any
		jsonOK := json.Unmarshal(data, &want) == nil && want != nil
		if jsonOK {
			switch r := ReasonOf(flatErr); {
			case flatErr == nil:
				if diff := sameFieldsAsJSON(ev.Features, want); diff != "" {
					t.Fatalf("%q: %s", data, diff)
				}
			case r == ReasonDuplicateKey && topMembers(t, data).dup:
			case r == ReasonTooDeep && nesting(data) > defaultMaxDepth:
			case r == ReasonTooManyFeatures && topMembers(t, data).n > defaultMaxFeatures:
			default:
				t.Fatalf("rejected %q (%v), which encoding/json accepts", data, flatErr)
			}
		}

		// The other layouts read the same syntax, so they may only add
		// envelope-level reasons to what the flat reading found.
		for _, layout := range []Layout{LayoutAuto, LayoutEnvelope} {
			err := NewDecoder(Options{Layout: layout}).Decode(data, &ev)
			switch r := ReasonOf(flatErr); {
			case r == ReasonInvalidJSON || r == ReasonNotObject:
				if err == nil {
					t.Fatalf("layout %d accepted %q; flat reading: %v", layout, data, flatErr)
				}
			case flatErr == nil && err != nil:
				switch ReasonOf(err) {
				case ReasonBadFieldType, ReasonBadTimestamp, ReasonDuplicateKey, ReasonTooManyFeatures:
				default:
					t.Fatalf("layout %d rejected %q (%v); flat reading accepted it", layout, data, err)
				}
			}
			if err == nil && ev.Envelope && jsonOK {
				if fm, ok := want["features"].(map[string]any); ok {
					if diff := sameFieldsAsJSON(ev.Features, fm); diff != "" {
						t.Fatalf("layout %d, %q: features: %s", layout, data, diff)
					}
				}
			}
		}
	})
}

// topMembers counts the top-level members of valid JSON object data and
// reports whether a name repeats, using encoding/json's own unescaping of names
// (its map would hide both).
func topMembers(t *testing.T, data []byte) (m struct {
	n   int
	dup bool
}) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		name := tok.(string)
		m.n++
		m.dup = m.dup || seen[name]
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil && err != io.EOF {
			t.Fatal(err)
		}
	}
	return m
}

// nesting returns the maximum bracket depth of valid JSON data.
func nesting(data []byte) int {
	depth, top, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			top = max(top, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return top
}
