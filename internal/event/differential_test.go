package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// sameAsJSON reports how a decoded value differs from encoding/json's reading
// of it, or "" if they agree. The strings that spell NaN or ±Inf are numbers to
// us and strings to encoding/json; that is the one intended difference.
func sameAsJSON(got Value, want any) string {
	switch w := want.(type) {
	case nil:
		if got.Kind == KindNull {
			return ""
		}
	case bool:
		wantNum := 0.0
		if w {
			wantNum = 1
		}
		if got.Kind == KindBool && got.Bool == w && got.Num == wantNum {
			return ""
		}
	case float64:
		// Exact comparison: both sides come from strconv.ParseFloat's correctly
		// rounded result, so any difference is a bug in the fast path.
		if got.Kind == KindNumber && got.Str == nil && math.Float64bits(got.Num) == math.Float64bits(w) {
			return ""
		}
	case string:
		if got.Kind == KindString && string(got.Str) == w {
			return ""
		}
		if f, ok := nonFinite([]byte(w)); ok && got.Kind == KindNumber && string(got.Str) == w &&
			(math.Float64bits(got.Num) == math.Float64bits(f) || math.IsNaN(got.Num) && math.IsNaN(f)) {
			return ""
		}
	case map[string]any, []any:
		if got.Kind == KindOther {
			return ""
		}
	default:
		return fmt.Sprintf("unexpected encoding/json type %T", want)
	}
	return fmt.Sprintf("got %v %v %q, encoding/json has %#v", got.Kind, got.Num, got.Str, want)
}

// sameFieldsAsJSON compares decoded fields with an object decoded by
// encoding/json; callers ensure the input has no duplicate names.
func sameFieldsAsJSON(fields []Field, want map[string]any) string {
	if len(fields) != len(want) {
		return fmt.Sprintf("%d fields, encoding/json has %d", len(fields), len(want))
	}
	for _, f := range fields {
		w, ok := want[string(f.Name)]
		if !ok {
			return fmt.Sprintf("field %q not in encoding/json's object", f.Name)
		}
		if diff := sameAsJSON(f.Value, w); diff != "" {
			return fmt.Sprintf("field %q: %s", f.Name, diff)
		}
	}
	return ""
}

// randomJSON writes a random JSON value with the shapes that stress a decoder:
// every number form, escapes, multi-byte and invalid UTF-8, deep-ish nesting.
func randomJSON(r *rand.Rand, b *bytes.Buffer, depth int) {
	switch k := r.IntN(10); {
	case k < 3 || depth > 4 && k < 8:
		randomNumber(r, b)
	case k < 6 || depth > 4:
		randomString(r, b)
	case k == 6:
		b.WriteString([]string{"true", "false", "null"}[r.IntN(3)])
	case k == 7:
		b.WriteByte('[')
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteByte(',')
			}
			randomJSON(r, b, depth+1)
		}
		b.WriteByte(']')
	default:
		randomObject(r, b, depth+1, r.IntN(5))
	}
}

func randomObject(r *rand.Rand, b *bytes.Buffer, depth, n int) {
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteString([]string{",", ", ", " ,\n\t"}[r.IntN(3)])
		}
		// Index suffixes keep names unique, which encoding/json's map needs.
		b.WriteString(`"k` + strconv.Itoa(i))
		b.WriteString(randomStringText(r) + `"`)
		b.WriteString([]string{":", ": ", " : "}[r.IntN(3)])
		randomJSON(r, b, depth)
	}
	b.WriteByte('}')
}

func randomNumber(r *rand.Rand, b *bytes.Buffer) {
	switch r.IntN(7) {
	case 0:
		b.WriteString(strconv.Itoa(r.IntN(2000) - 1000))
	case 1:
		b.WriteString(strconv.FormatFloat(r.NormFloat64()*1000, 'f', r.IntN(8), 64))
	case 2:
		b.WriteString(strconv.FormatFloat(r.Float64(), 'g', -1, 64))
	case 3:
		b.WriteString(strconv.FormatFloat(math.Float64frombits(r.Uint64()&^(0x7ff<<52)|uint64(r.IntN(0x7ff))<<52), 'e', -1, 64))
	case 4:
		b.WriteString(strconv.FormatUint(r.Uint64(), 10))
	case 5:
		// Long and zero-padded decimals probe the fast path's digit counting.
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", r.IntN(25)))
		b.WriteString(strconv.FormatUint(r.Uint64N(1e17), 10))
	default:
		b.WriteString(strconv.Itoa(r.IntN(100)) + "." + strings.Repeat("0", r.IntN(20)) + strconv.Itoa(r.IntN(10)) + "E" + strconv.Itoa(r.IntN(40)-20))
	}
}

func randomString(r *rand.Rand, b *bytes.Buffer) { b.WriteString(`"` + randomStringText(r) + `"`) }

// randomStringText returns the text between the quotes of a random JSON string.
func randomStringText(r *rand.Rand) string {
	pieces := []string{"a", "DE", " ", "ü", "東京", "😀", `\n`, `\"`, `\\`, `\/`, `\u00e9`, `\ud83d\ude00`,
		`\ud800`, `\udc00x`, "\xff", "\xe6\x9d", `\t`, "NaN", "-inf", "Infinity", `\u0000`}
	var s strings.Builder
	for range r.IntN(6) {
		s.WriteString(pieces[r.IntN(len(pieces))])
	}
	return s.String()
}

func TestDifferentialEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inputs := [][]byte{realisticEvent(), []byte(`{}`), []byte(`{"a": {"b": [1, 2, {"c": "d"}]}}`)}
	for range 3000 {
		var b bytes.Buffer
		randomObject(r, &b, 1, r.IntN(25))
		inputs = append(inputs, b.Bytes())
	}
	d := NewDecoder(Options{Layout: LayoutFlat})
	var ev Event
	compared := 0
	for _, in := range inputs {
		var want map[string]any
		if err := json.Unmarshal(in, &want); err != nil {
			continue // e.g. a random number beyond float64, which encoding/json rejects
		}
		compared++
		if err := d.Decode(in, &ev); err != nil {
			t.Errorf("Decode(%q): %v; encoding/json accepts it", in, err)
			continue
		}
		if diff := sameFieldsAsJSON(ev.Features, want); diff != "" {
			t.Errorf("Decode(%q): %s", in, diff)
		}
	}
	// A generator drifting into mostly-invalid output would make this test vacuous.
	if compared < len(inputs)*9/10 {
		t.Errorf("only %d of %d inputs were valid JSON", compared, len(inputs))
	}
}
