package event

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// sameDecode reports how two decodings of the same input differ, or "".
func sameDecode(a Event, errA error, b Event, errB error) string {
	if (errA == nil) != (errB == nil) || errA != nil && *errA.(*DecodeError) != *errB.(*DecodeError) {
		return "errors differ: " + errString(errA) + " vs " + errString(errB)
	}
	if errA != nil {
		return ""
	}
	sameBytes := func(x, y []byte) bool { return string(x) == string(y) && (x == nil) == (y == nil) }
	sameVal := func(x, y Value) bool {
		return x.Kind == y.Kind && x.Bool == y.Bool && sameBytes(x.Str, y.Str) &&
			math.Float64bits(x.Num) == math.Float64bits(y.Num)
	}
	if !sameBytes(a.Model, b.Model) || !sameBytes(a.ModelVersion, b.ModelVersion) || !sameBytes(a.RequestID, b.RequestID) ||
		a.Timestamp != b.Timestamp || a.HasTimestamp != b.HasTimestamp || a.Envelope != b.Envelope ||
		!sameVal(a.Prediction, b.Prediction) || !sameVal(a.LatencyMs, b.LatencyMs) || !sameVal(a.Label, b.Label) ||
		len(a.Features) != len(b.Features) {
		return "envelope fields or feature counts differ"
	}
	for i := range a.Features {
		if !sameBytes(a.Features[i].Name, b.Features[i].Name) || !sameVal(a.Features[i].Value, b.Features[i].Value) {
			return "feature " + quoteName(a.Features[i].Name) + " differs"
		}
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// checkReuse decodes each input with one decoder per layout, kept across the
// inputs, and with a fresh decoder, and fails if they differ: a decoder carries
// the keys of the previous objects, which must never change a result.
func checkReuse(t *testing.T, inputs [][]byte) {
	t.Helper()
	for _, opts := range []Options{{}, {Layout: LayoutEnvelope}, {Layout: LayoutFlat}, {MaxFeatures: 3}} {
		reused := NewDecoder(opts)
		// Events of one Layout must have the same feature names, in order.
		layouts := make(map[uint64]string)
		for _, in := range inputs {
			var a, b Event
			errA := NewDecoder(opts).Decode(in, &a)
			errB := reused.Decode(in, &b)
			if diff := sameDecode(a, errA, b, errB); diff != "" {
				t.Fatalf("options %+v, %q after %d inputs: %s", opts, in, len(inputs), diff)
			}
			if errB != nil || b.Layout == 0 {
				continue
			}
			var names strings.Builder
			for _, f := range b.Features {
				names.Write(f.Name)
				names.WriteByte(0)
			}
			if seen, ok := layouts[b.Layout]; ok && seen != names.String() {
				t.Fatalf("options %+v, %q: layout %d has names %q, earlier %q", opts, in, b.Layout, names.String(), seen)
			}
			layouts[b.Layout] = names.String()
		}
	}
}

func TestDecoderReuseMatchesFresh(t *testing.T) {
	inputs := []string{
		`{"a": 1, "b": 2}`,
		`{"a": 1, "b": 2, "a": 3}`,
		`{"a": 1, "b": 2}`,
		`{"a": 1}`,
		`{"a": 1, "b": 2}`,
		`{"a": 1, "b": 2, "c": 3, "d": 4}`,
		`{"a": 1, "\u0062": 2}`,
		`{"a": 1, "\u0061": 2}`,
		`{"a":1,"b":2}`,
		`{"a":    1 ,"b"  :2}`,
		`{"a": 1, "b": 2`,
		`{"a": 1, "b": 2}`,
		`{"a": 1, "b": 2} x`,
		`{"b": 1, "a": 2}`,
		`{"a": 1, "b": 2, "features": {"x": 1, "y": 2}}`,
		`{"features": {"x": 1, "y": 2}}`,
		`{"features": {"x": 1, "y": 2, "x": 3}}`,
		`{"features": {"x": 1, "y": 2}}`,
		`{"features": {"x": 1}}`,
		`{"model": "m", "label": 1}`,
		`{"features": {"x": 1, "y": 2}}`,
		`{"features": {"x": 1, "y": 2}, "features": {"x": 1, "y": 2}}`,
		`{"features": {"x": 1, "ü": 2, "y": 3}}`,
		`{"features": {"x": 1, "ü": 2, "y": 3, "ü": 4}}`,
		`{"features": {"x": 1, "ü": 2, "y": 3}}`,
		`{"model": "m", "model": "n", "features": {}}`,
		`{"model": "m", "features": {}}`,
	}
	var b [][]byte
	for _, s := range inputs {
		b = append(b, []byte(s))
	}
	checkReuse(t, b)

	// Objects from a few schemas with random values and whitespace, in random
	// order, so that the cached keys often match, but not always.
	r := rand.New(rand.NewPCG(7, 8))
	names := []string{"a", "bb", "amount", "merchant_category", "\\u0062b", "a"}
	var seq [][]byte
	for range 3000 {
		var o bytes.Buffer
		o.WriteString("{")
		for i := range 2 + r.IntN(5) {
			if i > 0 {
				o.WriteString([]string{",", ", ", " ,\n"}[r.IntN(3)])
			}
			name := names[i]
			if r.IntN(8) == 0 {
				name = names[r.IntN(len(names))]
			}
			o.WriteString(`"` + name + `"` + []string{":", ": ", " : ", ":  "}[r.IntN(4)])
			randomJSON(r, &o, 2)
		}
		o.WriteString("}")
		in := o.String()
		switch r.IntN(4) {
		case 0:
			in = `{"model": "m", "features": ` + in + `}`
		case 1:
			in = in[:r.IntN(len(in))]
		}
		seq = append(seq, []byte(in))
	}
	checkReuse(t, seq)
}

// FuzzDecodeReuse: the input is a sequence of objects separated by newlines,
// decoded in turn by the same decoder.
func FuzzDecodeReuse(f *testing.F) {
	ev := string(realisticEvent())
	f.Add([]byte(strings.ReplaceAll(ev, "\n", " ") + "\n" + strings.ReplaceAll(ev, "\n", " ")))
	f.Add([]byte("{\"a\": 1, \"b\": 2}\n{\"a\": 1, \"b\": 2, \"a\": 3}\n{\"a\": 1, \"b\": 2}\n{\"a\": 1}\n{\"a\":1,\"b\":2}"))
	f.Add([]byte("{\"features\": {\"x\": 1, \"y\": 2}}\n{\"features\": {\"x\": 1, \"\\u0079\": 2}}\n{\"features\": {\"x\": 1, \"y\" : 2, \"y\": 3}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkReuse(t, bytes.Split(data, []byte("\n")))
	})
}
