package event

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func num(f float64) Value { return Value{Kind: KindNumber, Num: f} }
func str(s string) Value  { return Value{Kind: KindString, Str: []byte(s)} }
func quotedNum(s string, f float64) Value {
	return Value{Kind: KindNumber, Num: f, Str: []byte(s)}
}

func vNull() Value  { return Value{Kind: KindNull} }
func vOther() Value { return Value{Kind: KindOther} }
func vTrue() Value  { return Value{Kind: KindBool, Num: 1, Bool: true} }
func vFalse() Value { return Value{Kind: KindBool} }

func sameValue(a, b Value) bool {
	if a.Kind != b.Kind || a.Bool != b.Bool || string(a.Str) != string(b.Str) || (a.Str == nil) != (b.Str == nil) {
		return false
	}
	// Bit equality, so that NaN matches NaN and -0 is told apart from 0.
	return math.Float64bits(a.Num) == math.Float64bits(b.Num) ||
		(math.IsNaN(a.Num) && math.IsNaN(b.Num))
}

func decodeOne(t *testing.T, opts Options, in string) Event {
	t.Helper()
	var ev Event
	if err := NewDecoder(opts).Decode([]byte(in), &ev); err != nil {
		t.Fatalf("Decode(%q): %v", in, err)
	}
	return ev
}

// Every scalar form goes through a flat object, where the value is reported as-is.
func TestDecodeScalars(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Value
	}{
		{"int", `0`, num(0)},
		{"negative zero", `-0`, num(math.Copysign(0, -1))},
		{"negative zero fraction", `-0.0`, num(math.Copysign(0, -1))},
		{"decimal", `12.5`, num(12.5)},
		{"negative decimal", `-0.001`, num(-0.001)},
		{"exponent", `1e3`, num(1000)},
		{"signed exponent", `2.5E-3`, num(0.0025)},
		{"plus exponent", `1e+2`, num(100)},
		{"long mantissa uses slow path", `0.1234567890123456789`, num(0.1234567890123456789)},
		{"many fraction digits", `1.00000000000000000000000001`, num(1)},
		{"big int", `12345678901234567890`, num(12345678901234567890)},
		{"max float", `1.7976931348623157e308`, num(math.MaxFloat64)},
		{"overflow is infinite", `1e400`, num(math.Inf(1))},
		{"negative overflow", `-1e400`, num(math.Inf(-1))},
		{"underflow is zero", `1e-400`, num(0)},
		{"NaN literal", `NaN`, num(math.NaN())},
		{"Infinity literal", `Infinity`, num(math.Inf(1))},
		{"-Infinity literal", `-Infinity`, num(math.Inf(-1))},
		{"NaN string", `"NaN"`, quotedNum("NaN", math.NaN())},
		{"nan lower", `"nan"`, quotedNum("nan", math.NaN())},
		{"Infinity string", `"Infinity"`, quotedNum("Infinity", math.Inf(1))},
		{"-Infinity string", `"-Infinity"`, quotedNum("-Infinity", math.Inf(-1))},
		{"+Infinity string", `"+Infinity"`, quotedNum("+Infinity", math.Inf(1))},
		{"Inf string", `"Inf"`, quotedNum("Inf", math.Inf(1))},
		{"-Inf string", `"-Inf"`, quotedNum("-Inf", math.Inf(-1))},
		{"+Inf string", `"+Inf"`, quotedNum("+Inf", math.Inf(1))},
		{"INF upper", `"INF"`, quotedNum("INF", math.Inf(1))},
		{"mixed case infinity", `"-iNfInItY"`, quotedNum("-iNfInItY", math.Inf(-1))},
		{"escaped NaN string", `"N\u0061N"`, quotedNum("NaN", math.NaN())},
		// Signed NaN is not a form any producer writes; keeping it a string avoids
		// guessing at categories.
		{"signed NaN is a string", `"-NaN"`, str("-NaN")},
		{"infinit is a string", `"infinit"`, str("infinit")},
		{"infinityy is a string", `"infinityy"`, str("infinityy")},
		{"na is a string", `"na"`, str("na")},
		{"string", `"DE"`, str("DE")},
		{"empty string", `""`, str("")},
		{"true", `true`, vTrue()},
		{"false", `false`, vFalse()},
		{"null", `null`, vNull()},
		{"object", `{"a": [1, {"b": null}], "c": "}"}`, vOther()},
		{"array", `[1, "]", [], {}]`, vOther()},
		{"empty object", `{}`, vOther()},
		{"empty array", `[ ]`, vOther()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := decodeOne(t, Options{}, `{"x": `+tt.in+`}`)
			if len(ev.Features) != 1 || string(ev.Features[0].Name) != "x" {
				t.Fatalf("features = %+v, want one named x", ev.Features)
			}
			if got := ev.Features[0].Value; !sameValue(got, tt.want) {
				t.Errorf("value = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeStrings(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", `"abc"`, "abc"},
		{"utf8", `"München 東京"`, "München 東京"},
		{"simple escapes", `"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{"unicode escape", `"M\u00fcnchen"`, "München"},
		{"upper hex", `"\u00FC\u00Fc"`, "üü"},
		{"surrogate pair", `"\ud83d\ude00!"`, "😀!"},
		{"lone high surrogate", `"a\ud83db"`, "a\uFFFDb"},
		{"lone low surrogate", `"\ude00"`, "\uFFFD"},
		// The second escape is not a low surrogate, so it is decoded on its own.
		{"high then non-surrogate", `"\ud83d\u0041"`, "\uFFFDA"},
		{"two highs", `"\ud83d\ud83d\ude00"`, "\uFFFD😀"},
		{"invalid utf8 byte", "\"a\xffb\"", "a\uFFFDb"},
		{"truncated utf8", "\"\xe6\x9d\"", "\uFFFD\uFFFD"},
		{"encoded surrogate is invalid", "\"\xed\xa0\x80\"", "\uFFFD\uFFFD\uFFFD"},
		{"escape after utf8", `"ü\n"`, "ü\n"},
		{"nul escape", `"\u0000"`, "\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := decodeOne(t, Options{}, `{"k": `+tt.in+`, "`+strings.Trim(tt.in, `"`)+`": 1}`)
			if got := ev.Features[0].Value; got.Kind != KindString || string(got.Str) != tt.want {
				t.Errorf("value = %+v (%q), want %q", got, got.Str, tt.want)
			}
			if got := string(ev.Features[1].Name); got != tt.want {
				t.Errorf("key = %q, want %q", got, tt.want)
			}
		})
	}
}

// Aliasing is what makes the common case free; an escaped string must not alias,
// and several escaped strings in one event must not overwrite each other.
func TestDecodeStringMemory(t *testing.T) {
	in := []byte(`{"plain": "abc", "esc1": "a\nb", "esc2": "\u00fc\u00fc\u00fc", "utf": "ü"}`)
	var ev Event
	if err := NewDecoder(Options{}).Decode(in, &ev); err != nil {
		t.Fatal(err)
	}
	within := func(b []byte) bool {
		if len(b) == 0 {
			return false
		}
		p, lo := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&in[0]))
		return p >= lo && p < lo+uintptr(len(in))
	}
	if v := ev.Features[0].Value.Str; !within(v) {
		t.Error("unescaped string was copied")
	}
	if v := ev.Features[3].Value.Str; !within(v) {
		t.Error("valid UTF-8 string was copied")
	}
	if v := ev.Features[1].Value.Str; within(v) || string(v) != "a\nb" {
		t.Errorf("escaped string = %q, aliased=%v", v, within(v))
	}
	if v := ev.Features[2].Value.Str; string(v) != "üüü" || cap(v) != len(v) {
		t.Errorf("second escaped string = %q (cap %d)", v, cap(v))
	}
}

func TestDecodeEnvelope(t *testing.T) {
	ts := time.Date(2026, 11, 21, 10, 0, 0, 123e6, time.UTC)
	in := `{"model": "fraud", "model_version": "2026-11-01", "request_id": "r-123",
	 "timestamp": "2026-11-21T10:00:00.123Z", "unknown": {"deep": [1, 2]},
	 "features": {"amount": 12.5, "country": "DE", "is_new": true, "age": null, "tags": ["a"]},
	 "prediction": 0.87, "latency_ms": 12.3}`
	for _, layout := range []Layout{LayoutAuto, LayoutEnvelope} {
		ev := decodeOne(t, Options{Layout: layout}, in)
		if !ev.Envelope || string(ev.Model) != "fraud" || string(ev.ModelVersion) != "2026-11-01" ||
			string(ev.RequestID) != "r-123" || !ev.HasTimestamp || !ev.Timestamp.Equal(ts) {
			t.Errorf("layout %d: envelope fields = %+v", layout, ev)
		}
		if !sameValue(ev.Prediction, num(0.87)) || !sameValue(ev.LatencyMs, num(12.3)) || ev.Label.Present() {
			t.Errorf("layout %d: prediction %+v latency %+v label %+v", layout, ev.Prediction, ev.LatencyMs, ev.Label)
		}
		want := []Field{{[]byte("amount"), num(12.5)}, {[]byte("country"), str("DE")},
			{[]byte("is_new"), vTrue()}, {[]byte("age"), vNull()}, {[]byte("tags"), vOther()}}
		if len(ev.Features) != len(want) {
			t.Fatalf("layout %d: features = %+v", layout, ev.Features)
		}
		for i := range want {
			if string(ev.Features[i].Name) != string(want[i].Name) || !sameValue(ev.Features[i].Value, want[i].Value) {
				t.Errorf("layout %d: feature %d = %+v, want %+v", layout, i, ev.Features[i], want[i])
			}
		}
	}
}

func TestDecodeLayouts(t *testing.T) {
	type check func(t *testing.T, ev Event)
	features := func(names ...string) check {
		return func(t *testing.T, ev Event) {
			t.Helper()
			var got []string
			for _, f := range ev.Features {
				got = append(got, string(f.Name))
			}
			if strings.Join(got, ",") != strings.Join(names, ",") {
				t.Errorf("features = %v, want %v", got, names)
			}
		}
	}
	tests := []struct {
		name     string
		layout   Layout
		in       string
		envelope bool
		checks   []check
	}{
		{"flat", LayoutAuto, `{"amount": 1.5, "country": "DE"}`, false,
			[]check{features("amount", "country")}},
		// The rule looks at the value, not only the key.
		{"features not an object is flat", LayoutAuto, `{"features": [1], "x": 1}`, false,
			[]check{features("features", "x")}},
		{"features null is flat", LayoutAuto, `{"features": null}`, false,
			[]check{features("features")}},
		{"features after envelope fields", LayoutAuto, `{"model": "m", "label": 1, "features": {"a": 1}}`, true,
			[]check{features("a"), func(t *testing.T, ev Event) {
				if string(ev.Model) != "m" || !sameValue(ev.Label, num(1)) {
					t.Errorf("model %q label %+v", ev.Model, ev.Label)
				}
			}}},
		{"empty features", LayoutAuto, `{"features": {}}`, true, []check{features()}},
		// A label event has no features; in a flat reading its well-typed envelope
		// members are still extracted.
		{"label event auto", LayoutAuto, `{"model": "fraud", "request_id": "r-123", "timestamp": 1763719200123, "label": 1}`, false,
			[]check{features("model", "request_id", "timestamp", "label"), func(t *testing.T, ev Event) {
				if string(ev.Model) != "fraud" || string(ev.RequestID) != "r-123" || !sameValue(ev.Label, num(1)) ||
					!ev.Timestamp.Equal(time.UnixMilli(1763719200123)) {
					t.Errorf("label event = %+v", ev)
				}
			}}},
		{"label event envelope", LayoutEnvelope, `{"model": "fraud", "request_id": "r-123", "timestamp": "2026-11-21T10:00:00Z", "label": "spam", "other": 1}`, false,
			[]check{features(), func(t *testing.T, ev Event) {
				if string(ev.Model) != "fraud" || !sameValue(ev.Label, str("spam")) || !ev.HasTimestamp {
					t.Errorf("label event = %+v", ev)
				}
			}}},
		{"envelope layout with null features", LayoutEnvelope, `{"features": null}`, false, []check{features()}},
		{"flat layout keeps features object as a feature", LayoutFlat, `{"features": {"a": 1}, "model": "m"}`, false,
			[]check{features("features", "model"), func(t *testing.T, ev Event) {
				if string(ev.Model) != "m" {
					t.Errorf("model = %q", ev.Model)
				}
			}}},
		// Wrongly typed envelope members in a flat object are features, not errors.
		{"flat lenient", LayoutAuto, `{"model": 3, "timestamp": "yesterday", "latency_ms": "slow", "prediction": [1], "label": null}`, false,
			[]check{features("model", "timestamp", "latency_ms", "prediction", "label"), func(t *testing.T, ev Event) {
				if ev.Model != nil || ev.HasTimestamp || ev.LatencyMs.Present() || ev.Prediction.Present() || ev.Label.Kind != KindNull {
					t.Errorf("lenient fields = %+v", ev)
				}
			}}},
		{"null envelope fields are absent", LayoutEnvelope, `{"model": null, "model_version": null, "request_id": null, "timestamp": null, "prediction": null, "latency_ms": null}`, false,
			[]check{func(t *testing.T, ev Event) {
				if ev.Model != nil || ev.HasTimestamp || ev.Prediction.Kind != KindNull || ev.LatencyMs.Kind != KindNull || ev.Label.Present() {
					t.Errorf("null fields = %+v", ev)
				}
			}}},
		{"quoted non-finite envelope numbers", LayoutEnvelope, `{"prediction": "NaN", "latency_ms": "inf", "model": "Inf"}`, false,
			[]check{func(t *testing.T, ev Event) {
				if !math.IsNaN(ev.Prediction.Num) || !math.IsInf(ev.LatencyMs.Num, 1) || string(ev.Model) != "Inf" {
					t.Errorf("fields = %+v", ev)
				}
			}}},
		{"bool prediction", LayoutEnvelope, `{"prediction": true}`, false,
			[]check{func(t *testing.T, ev Event) {
				if !sameValue(ev.Prediction, vTrue()) {
					t.Errorf("prediction = %+v", ev.Prediction)
				}
			}}},
		{"whitespace everywhere", LayoutAuto, " \t\r\n{ \"features\" :\n{ \"a\" : [ 1 , 2 ] , \"b\":{ } } , \"model\" : \"m\" }\n ", true,
			[]check{features("a", "b")}},
		{"empty object", LayoutAuto, `{}`, false, []check{features()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := decodeOne(t, Options{Layout: tt.layout}, tt.in)
			if ev.Envelope != tt.envelope {
				t.Errorf("Envelope = %v, want %v", ev.Envelope, tt.envelope)
			}
			for _, c := range tt.checks {
				c(t, ev)
			}
		})
	}
}

func TestDecodeTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{`"2026-11-21T10:00:00Z"`, time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)},
		{`"2026-11-21T10:00:00.123Z"`, time.Date(2026, 11, 21, 10, 0, 0, 123e6, time.UTC)},
		{`"2026-11-21T10:00:00.123456789Z"`, time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC)},
		// Digits beyond nanoseconds are truncated, as time.Parse does.
		{`"2026-11-21T10:00:00.1234567891Z"`, time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC)},
		{`"2026-11-21t10:00:00z"`, time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)},
		{`"2026-11-21 10:00:00Z"`, time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)},
		{`"2026-11-21T12:30:00+02:30"`, time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)},
		{`"2026-11-21T00:00:00.5-05:00"`, time.Date(2026, 11, 21, 5, 0, 0, 5e8, time.UTC)},
		{`"2024-02-29T00:00:00Z"`, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{`"2000-02-29T00:00:00Z"`, time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)},
		{`"2026-11-21T10:00:00\u002e5Z"`, time.Date(2026, 11, 21, 10, 0, 0, 5e8, time.UTC)},
		{`1763719200123`, time.UnixMilli(1763719200123).UTC()},
		{`1763719200123.5`, time.UnixMilli(1763719200123).Add(500 * time.Microsecond).UTC()},
		{`-1000`, time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC)},
		{`0`, time.Unix(0, 0).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ev := decodeOne(t, Options{Layout: LayoutEnvelope}, `{"timestamp": `+tt.in+`}`)
			if !ev.HasTimestamp || !ev.Timestamp.Equal(tt.want) || ev.Timestamp.Location() != time.UTC {
				t.Errorf("timestamp = %v (has %v), want %v", ev.Timestamp, ev.HasTimestamp, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		in     string
		reason Reason
		offset int // -1: not checked
	}{
		{"empty", Options{}, ``, ReasonInvalidJSON, 0},
		{"only whitespace", Options{}, "  \n", ReasonInvalidJSON, 3},
		{"array", Options{}, `[1]`, ReasonNotObject, 0},
		{"number", Options{}, ` 1`, ReasonNotObject, 1},
		{"string", Options{}, `"a"`, ReasonNotObject, 0},
		{"garbage", Options{}, `x`, ReasonInvalidJSON, 0},
		{"unterminated object", Options{}, `{"a": 1`, ReasonInvalidJSON, 7},
		{"unterminated after comma", Options{}, `{"a": 1,`, ReasonInvalidJSON, 8},
		{"trailing comma", Options{}, `{"a": 1,}`, ReasonInvalidJSON, 8},
		{"missing colon", Options{}, `{"a" 1}`, ReasonInvalidJSON, 5},
		{"missing value", Options{}, `{"a": }`, ReasonInvalidJSON, 6},
		{"unquoted key", Options{}, `{a: 1}`, ReasonInvalidJSON, 1},
		{"single quotes", Options{}, `{'a': 1}`, ReasonInvalidJSON, 1},
		{"trailing data", Options{}, `{"a": 1} x`, ReasonInvalidJSON, 9},
		{"two objects", Options{}, `{}{}`, ReasonInvalidJSON, 2},
		{"leading zero", Options{}, `{"a": 01}`, ReasonInvalidJSON, 7},
		{"bare minus", Options{}, `{"a": -}`, ReasonInvalidJSON, 6},
		{"no fraction digits", Options{}, `{"a": 1.}`, ReasonInvalidJSON, 6},
		{"no exponent digits", Options{}, `{"a": 1e}`, ReasonInvalidJSON, 6},
		{"leading dot", Options{}, `{"a": .5}`, ReasonInvalidJSON, 6},
		{"plus sign", Options{}, `{"a": +1}`, ReasonInvalidJSON, 6},
		{"hex", Options{}, `{"a": 0x1}`, ReasonInvalidJSON, 7},
		{"lower nan literal", Options{}, `{"a": nan}`, ReasonInvalidJSON, 6},
		{"inf literal", Options{}, `{"a": Inf}`, ReasonInvalidJSON, 6},
		{"plus infinity literal", Options{}, `{"a": +Infinity}`, ReasonInvalidJSON, 6},
		{"truncated literal", Options{}, `{"a": tru}`, ReasonInvalidJSON, 6},
		{"literal suffix", Options{}, `{"a": truex}`, ReasonInvalidJSON, 10},
		{"NaN suffix", Options{}, `{"a": NaNa}`, ReasonInvalidJSON, 9},
		{"unterminated string", Options{}, `{"a": "abc`, ReasonInvalidJSON, 6},
		{"unterminated escaped string", Options{}, `{"a": "a\n`, ReasonInvalidJSON, 6},
		{"unterminated key", Options{}, `{"a`, ReasonInvalidJSON, 1},
		{"control char", Options{}, "{\"a\": \"a\tb\"}", ReasonInvalidJSON, 8},
		{"control char after escape", Options{}, "{\"a\": \"\\n\x01\"}", ReasonInvalidJSON, 9},
		{"bad escape", Options{}, `{"a": "\x"}`, ReasonInvalidJSON, 7},
		{"short unicode escape", Options{}, `{"a": "\u12"}`, ReasonInvalidJSON, 7},
		{"bad hex", Options{}, `{"a": "\u12g4"}`, ReasonInvalidJSON, 7},
		{"bad escape after surrogate", Options{}, `{"a": "\ud83d\uzzzz"}`, ReasonInvalidJSON, 13},
		{"backslash at end", Options{}, `{"a": "\`, ReasonInvalidJSON, -1},
		{"bad escape in nested", Options{}, `{"a": ["\q"]}`, ReasonInvalidJSON, 8},
		{"control char in nested", Options{}, "{\"a\": {\"b\": \"\x1f\"}}", ReasonInvalidJSON, 13},
		{"mismatched brackets", Options{}, `{"a": [1}`, ReasonInvalidJSON, 8},
		{"nested missing colon", Options{}, `{"a": {"b" 1}}`, ReasonInvalidJSON, 11},
		{"nested bad number", Options{}, `{"a": [1, -]}`, ReasonInvalidJSON, 10},
		{"nested trailing comma", Options{}, `{"a": [1,]}`, ReasonInvalidJSON, 9},
		{"nested unquoted key", Options{}, `{"a": {b: 1}}`, ReasonInvalidJSON, 7},
		{"bad features member", Options{}, `{"features": {"a" 1}}`, ReasonInvalidJSON, 18},
		{"features unterminated", Options{}, `{"features": {"a": 1`, ReasonInvalidJSON, 20},

		{"too deep", Options{MaxDepth: 3}, `{"a": [[[1]]]}`, ReasonTooDeep, 8},
		{"depth limit inclusive", Options{MaxDepth: 3}, `{"a": [[]], "b": {"c": [[]]}}`, ReasonTooDeep, 24},
		{"features too deep", Options{MaxDepth: 1}, `{"features": {}}`, ReasonTooDeep, 13},
		{"default depth", Options{}, `{"a": ` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, ReasonTooDeep, 6 + 63},

		{"too many features", Options{MaxFeatures: 2}, `{"features": {"a": 1, "b": 2, "c": 3}}`, ReasonTooManyFeatures, 35},
		{"too many flat", Options{MaxFeatures: 2}, `{"a": 1, "b": 2, "c": 3}`, ReasonTooManyFeatures, 0},

		{"duplicate feature", Options{}, `{"features": {"a": 1, "b": 2, "a": 3}}`, ReasonDuplicateKey, 0},
		{"duplicate flat", Options{}, `{"a": 1, "b": 2, "a": 3}`, ReasonDuplicateKey, 0},
		// Escapes are resolved before comparing names.
		{"duplicate after unescape", Options{}, `{"a": 1, "\u0061": 2}`, ReasonDuplicateKey, 0},
		{"duplicate model", Options{}, `{"model": "a", "model": "b", "features": {}}`, ReasonDuplicateKey, 24},
		{"duplicate features", Options{}, `{"features": {}, "features": {}}`, ReasonDuplicateKey, 29},
		{"duplicate features non-object", Options{}, `{"features": {}, "features": 1}`, ReasonDuplicateKey, 29},

		{"model number", Options{}, `{"model": 3, "features": {}}`, ReasonBadFieldType, 10},
		{"model_version bool", Options{}, `{"model_version": true, "features": {}}`, ReasonBadFieldType, 18},
		{"request_id object", Options{Layout: LayoutEnvelope}, `{"request_id": {}}`, ReasonBadFieldType, 15},
		{"features array in envelope layout", Options{Layout: LayoutEnvelope}, `{"features": []}`, ReasonBadFieldType, 13},
		{"features string in envelope layout", Options{Layout: LayoutEnvelope}, `{"features": "x"}`, ReasonBadFieldType, 13},
		{"prediction array", Options{}, `{"features": {}, "prediction": [0.1, 0.9]}`, ReasonBadFieldType, 31},
		{"label object", Options{Layout: LayoutEnvelope}, `{"label": {}}`, ReasonBadFieldType, 10},
		{"latency string", Options{}, `{"features": {}, "latency_ms": "12"}`, ReasonBadFieldType, 31},
		{"latency bool", Options{Layout: LayoutEnvelope}, `{"latency_ms": false}`, ReasonBadFieldType, 15},

		{"timestamp garbage", Options{}, `{"timestamp": "yesterday", "features": {}}`, ReasonBadTimestamp, 14},
		{"timestamp bool", Options{Layout: LayoutEnvelope}, `{"timestamp": true}`, ReasonBadTimestamp, 14},
		{"timestamp array", Options{Layout: LayoutEnvelope}, `{"timestamp": [1]}`, ReasonBadTimestamp, 14},
		{"timestamp NaN", Options{Layout: LayoutEnvelope}, `{"timestamp": NaN}`, ReasonBadTimestamp, 14},
		{"timestamp NaN string", Options{Layout: LayoutEnvelope}, `{"timestamp": "NaN"}`, ReasonBadTimestamp, 14},
		{"timestamp infinite", Options{Layout: LayoutEnvelope}, `{"timestamp": 1e400}`, ReasonBadTimestamp, 14},
		{"timestamp too late", Options{Layout: LayoutEnvelope}, `{"timestamp": 253402300800000}`, ReasonBadTimestamp, 14},
		{"timestamp too early", Options{Layout: LayoutEnvelope}, `{"timestamp": -62135596800001}`, ReasonBadTimestamp, 14},
		{"timestamp naive", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-11-21T10:00:00"}`, ReasonBadTimestamp, 14},
		{"timestamp naive fraction", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-11-21T10:00:00.123"}`, ReasonBadTimestamp, 14},
		{"timestamp date only", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-11-21"}`, ReasonBadTimestamp, 14},
		{"timestamp empty fraction", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-11-21T10:00:00.Z"}`, ReasonBadTimestamp, 14},
		{"timestamp month 13", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-13-01T00:00:00Z"}`, ReasonBadTimestamp, 14},
		{"timestamp month 0", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-00-01T00:00:00Z"}`, ReasonBadTimestamp, 14},
		{"timestamp day 0", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-01-00T00:00:00Z"}`, ReasonBadTimestamp, 14},
		{"timestamp feb 29 non-leap", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-02-29T00:00:00Z"}`, ReasonBadTimestamp, 14},
		{"timestamp 1900 not leap", Options{Layout: LayoutEnvelope}, `{"timestamp": "1900-02-29T00:00:00Z"}`, ReasonBadTimestamp, 14},
		{"timestamp april 31", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-04-31T00:00:00Z"}`, ReasonBadTimestamp, 14},
		{"timestamp hour 24", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-01-01T24:00:00Z"}`, ReasonBadTimestamp, 14},
		{"timestamp minute 60", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-01-01T00:60:00Z"}`, ReasonBadTimestamp, 14},
		{"timestamp leap second", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-01-01T00:00:60Z"}`, ReasonBadTimestamp, 14},
		{"timestamp bad separator", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026/01/01T00:00:00Z"}`, ReasonBadTimestamp, 14},
		{"timestamp bad T", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-01-01X00:00:00Z"}`, ReasonBadTimestamp, 14},
		{"timestamp short offset", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-01-01T00:00:00+0100"}`, ReasonBadTimestamp, 14},
		{"timestamp offset hour 24", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-01-01T00:00:00+24:00"}`, ReasonBadTimestamp, 14},
		{"timestamp offset minute 60", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-01-01T00:00:00+01:60"}`, ReasonBadTimestamp, 14},
		{"timestamp trailing", Options{Layout: LayoutEnvelope}, `{"timestamp": "2026-01-01T00:00:00ZZ"}`, ReasonBadTimestamp, 14},
		{"timestamp sign digits", Options{Layout: LayoutEnvelope}, `{"timestamp": "+026-01-01T00:00:00Z"}`, ReasonBadTimestamp, 14},
		{"timestamp empty", Options{Layout: LayoutEnvelope}, `{"timestamp": ""}`, ReasonBadTimestamp, 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			err := NewDecoder(tt.opts).Decode([]byte(tt.in), &ev)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode(%q) = %v, want a *DecodeError", tt.in, err)
			}
			if de.Reason != tt.reason || ReasonOf(err) != tt.reason {
				t.Errorf("Decode(%q) reason = %q (%v), want %q", tt.in, de.Reason, err, tt.reason)
			}
			if tt.offset >= 0 && de.Offset != tt.offset {
				t.Errorf("Decode(%q) offset = %d (%v), want %d", tt.in, de.Offset, err, tt.offset)
			}
		})
	}
}

func TestReasonOf(t *testing.T) {
	if r := ReasonOf(nil); r != "" {
		t.Errorf("ReasonOf(nil) = %q", r)
	}
	if r := ReasonOf(errors.New("x")); r != "" {
		t.Errorf("ReasonOf(other) = %q", r)
	}
	wrapped := errors.Join(errors.New("context"), &DecodeError{Reason: ReasonTooDeep})
	if r := ReasonOf(wrapped); r != ReasonTooDeep {
		t.Errorf("ReasonOf(wrapped) = %q", r)
	}
}

// Duplicates must be found both by the small-object scan and the hash table.
func TestDuplicateDetection(t *testing.T) {
	for _, n := range []int{2, 8, 9, 40, 1024} {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			b.WriteString(`"f` + strconv.Itoa(i) + `": 1,`)
		}
		unique := b.String()[:b.Len()-1] + "}"
		decodeOne(t, Options{}, unique)
		for _, dup := range []int{0, n / 2, n - 1} {
			in := b.String() + `"f` + strconv.Itoa(dup) + `": 2}`
			var ev Event
			err := NewDecoder(Options{MaxFeatures: n + 1}).Decode([]byte(in), &ev)
			if ReasonOf(err) != ReasonDuplicateKey {
				t.Errorf("n=%d dup=%d: err = %v, want duplicate_key", n, dup, err)
			}
		}
	}
}

// A decoder reused across events must not leak anything from one into the next.
func TestDecoderReuse(t *testing.T) {
	d := NewDecoder(Options{})
	var ev Event
	first := `{"model": "m", "timestamp": "2026-11-21T10:00:00Z", "features": {"a": "x\ny", "b": 1}, "label": 1, "prediction": 0.5, "latency_ms": 1}`
	if err := d.Decode([]byte(first), &ev); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode([]byte(`{"c": "\u00fc"}`), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Envelope || ev.Model != nil || ev.HasTimestamp || ev.Label.Present() || ev.Prediction.Present() ||
		ev.LatencyMs.Present() || len(ev.Features) != 1 || string(ev.Features[0].Value.Str) != "ü" {
		t.Errorf("second event = %+v", ev)
	}
	if err := d.Decode([]byte(`{"a": [}`), &ev); err == nil {
		t.Fatal("want error")
	}
	if err := d.Decode([]byte(first), &ev); err != nil || string(ev.Features[0].Value.Str) != "x\ny" {
		t.Errorf("after error: %v, %+v", err, ev)
	}
}

// Steady-state decoding is on the per-event path at hundreds of thousands of
// events per second per core, so any allocation there is a regression.
func TestDecodeAllocations(t *testing.T) {
	inputs := map[string][]byte{
		"envelope":  realisticEvent(),
		"flat":      []byte(`{"a": 1, "b": "x", "c": true, "d": null, "e": [1, {"f": 2}], "g": "\u00fc", "h": NaN, "i": "-Inf", "j": 1.5e300, "k": 0.1234567890123456789}`),
		"offset ts": []byte(`{"model": "m", "timestamp": "2026-11-21T10:00:00.5+02:00", "features": {"a": 1}}`),
		"epoch ts":  []byte(`{"model": "m", "timestamp": 1763719200123.25, "features": {"a": 1}}`),
		"bad utf8":  []byte("{\"a\": \"\xff\xfe\", \"b\": \"\\ud800\"}"),
		"many features": func() []byte {
			b := []byte("{")
			for i := range 100 {
				b = append(b, `"feature_`+strconv.Itoa(i)+`": 1,`...)
			}
			b[len(b)-1] = '}'
			return b
		}(),
	}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			d := NewDecoder(Options{})
			var ev Event
			if err := d.Decode(data, &ev); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				if err := d.Decode(data, &ev); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per Decode, want 0", allocs)
			}
		})
	}
}

// Error messages end up in dead-letter headers, so a hostile key must not make
// them arbitrarily long.
func TestDuplicateMessageBounded(t *testing.T) {
	name := strings.Repeat("k", 10000)
	in := `{"` + name + `": 1, "` + name + `": 2}`
	var ev Event
	err := NewDecoder(Options{}).Decode([]byte(in), &ev)
	var de *DecodeError
	if !errors.As(err, &de) || de.Reason != ReasonDuplicateKey {
		t.Fatalf("err = %v", err)
	}
	if len(de.Msg) > 200 {
		t.Errorf("message is %d bytes long", len(de.Msg))
	}
}

// TestReasonsComplete: every reason the decoder produces is in Reasons, or the
// dead-letter metrics would count it under "other".
func TestReasonsComplete(t *testing.T) {
	known := map[Reason]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	inputs := []string{`x`, `{`, `{"timestamp": "x"}`, `{"model": 1}`, `{"model": "a", "model": "b"}`,
		`{"features": {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}`}
	d := NewDecoder(Options{Layout: LayoutEnvelope})
	var ev Event
	for _, in := range inputs {
		err := d.Decode([]byte(in), &ev)
		if r := ReasonOf(err); err == nil || !known[r] {
			t.Errorf("%.40s: reason %q (error %v) not in Reasons()", in, r, err)
		}
	}
}

// TestLayout: events with the same feature names in the same order share a
// layout, and any change of names, order or count gives another; names the
// decoder does not remember give none.
func TestLayout(t *testing.T) {
	d := NewDecoder(Options{Layout: LayoutEnvelope})
	layout := func(features string) uint64 {
		t.Helper()
		var ev Event
		if err := d.Decode([]byte(`{"model": "m", "features": {`+features+`}}`), &ev); err != nil {
			t.Fatal(err)
		}
		return ev.Layout
	}
	ab := layout(`"a": 1, "b": "x"`)
	if ab == 0 {
		t.Fatal("plain names gave no layout")
	}
	for _, tt := range []struct {
		features string
		same     bool
	}{
		{`"a": 2, "b": "y"`, true},
		{`"a": 2, "b": "y", "c": 3`, false},
		{`"a": 2`, false},
		{`"b": "y", "a": 2`, false},
		{`"a": 3, "b": null`, false}, // the last three changed the remembered names
	} {
		if got := layout(tt.features); (got == ab) != tt.same {
			t.Errorf("%s: layout %d, first %d; want same=%t", tt.features, got, ab, tt.same)
		}
	}
	if again, next := layout(`"a": 4, "b": "z"`), layout(`"a": 5, "b": "w"`); again == 0 || again != next {
		t.Errorf("repeated names: layouts %d and %d, want one non-zero", again, next)
	}
	if got := layout(`"a": 1, "\u0062": 2`); got != 0 {
		t.Errorf("escaped name: layout %d, want 0", got)
	}
	var flat Event
	if err := NewDecoder(Options{Layout: LayoutFlat}).Decode([]byte(`{"a": 1}`), &flat); err != nil || flat.Layout != 0 {
		t.Errorf("flat object: layout %d (%v), want 0", flat.Layout, err)
	}
}
