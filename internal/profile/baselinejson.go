package profile

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/numparse"
)

// A baseline file is mostly long lists of numbers, a thousand quantiles and a
// run of bucket counts per numeric feature: a megabyte for fifty features,
// which a daemon or replay of a hundred models reads at start. encoding/json
// reads that at some 40 MB/s, scanning it twice and each number through
// reflection. decodeBaseline reads a baseline as Sentinel writes it in one
// pass, to the same values; anything else — another field's name or case, a
// repeated field, a null, a string with escapes, a number of the wrong kind,
// bad syntax, a null in a list — it declines, and encoding/json decodes the
// file, with its leniencies and its errors.

// baselineReader is a cursor over a baseline file.
type baselineReader struct {
	data []byte
	i    int
	ok   bool
}

// decodeBaseline decodes data into b, or reports false, leaving b in any
// state, for encoding/json to decode.
func decodeBaseline(data []byte, b *Baseline) bool {
	r := baselineReader{data: data, ok: true}
	version := false
	r.object(func(key []byte) {
		switch string(key) {
		case "format_version":
			b.FormatVersion = r.int()
			version = true
		case "model":
			b.Model = r.string()
		case "created_at":
			r.time(&b.CreatedAt)
		case "source":
			b.Source = r.string()
		case "rows":
			b.Rows = r.uint()
		case "row_errors":
			b.RowErrors = r.counts()
		case "sketch_relative_accuracy":
			b.RelativeAccuracy = r.float()
		case "features":
			b.Features = []FeatureBaseline{}
			r.array(func() {
				b.Features = append(b.Features, FeatureBaseline{})
				r.feature(&b.Features[len(b.Features)-1])
			})
		default:
			r.ok = false
		}
	})
	r.space()
	return r.ok && version && r.i == len(r.data)
}

func (r *baselineReader) feature(f *FeatureBaseline) {
	r.object(func(key []byte) {
		switch string(key) {
		case "name":
			f.Name = r.string()
		case "type":
			f.Type = config.FeatureType(r.string())
		case "count":
			f.Count = r.uint()
		case "nulls":
			f.Nulls = r.uint()
		case "nan":
			f.NaN = r.uint()
		case "pos_inf":
			f.PosInf = r.uint()
		case "neg_inf":
			f.NegInf = r.uint()
		case "violations":
			f.Violations = r.counts()
		case "distinct_estimate":
			f.Distinct = r.float()
		case "finite":
			f.Finite = r.uint()
		case "min":
			f.Min = r.floatPtr()
		case "max":
			f.Max = r.floatPtr()
		case "mean":
			f.Mean = r.floatPtr()
		case "std_dev":
			f.StdDev = r.floatPtr()
		case "deciles":
			f.Deciles = r.floats()
		case "bin_edges":
			f.BinEdges = r.floats()
		case "bin_counts":
			f.BinCounts = r.uints()
		case "quantiles":
			f.Quantiles = r.floats()
		case "sketch":
			f.Sketch = &SketchBuckets{}
			r.sketch(f.Sketch)
		case "categories":
			f.Categories = []CategoryCount{}
			r.array(func() {
				var c CategoryCount
				r.object(func(key []byte) {
					switch string(key) {
					case "value":
						c.Value = r.string()
					case "count":
						c.Count = r.uint()
					default:
						r.ok = false
					}
				})
				f.Categories = append(f.Categories, c)
			})
		case "other":
			f.Other = r.uint()
		default:
			r.ok = false
		}
	})
}

func (r *baselineReader) sketch(s *SketchBuckets) {
	r.object(func(key []byte) {
		switch string(key) {
		case "positive_offset":
			s.PosOffset = r.int()
		case "positive":
			s.Pos = r.uints()
		case "negative_offset":
			s.NegOffset = r.int()
		case "negative":
			s.Neg = r.uints()
		case "zero":
			s.Zero = r.uint()
		default:
			r.ok = false
		}
	})
}

func (r *baselineReader) space() {
	for r.i < len(r.data) {
		switch r.data[r.i] {
		case ' ', '\n', '\t', '\r':
			r.i++
		default:
			return
		}
	}
}

// next skips space and reports the next byte, or false at the end.
func (r *baselineReader) next() (byte, bool) {
	r.space()
	if !r.ok || r.i == len(r.data) {
		r.ok = false
		return 0, false
	}
	return r.data[r.i], true
}

func (r *baselineReader) expect(c byte) {
	if got, ok := r.next(); !ok || got != c {
		r.ok = false
		return
	}
	r.i++
}

// object reads an object, calling field with each key, the reader then at
// its value. A key seen twice in it is declined (encoding/json merges
// repeated maps), as are objects of more than 64 keys.
func (r *baselineReader) object(field func(key []byte)) {
	r.expect('{')
	if c, ok := r.next(); ok && c == '}' {
		r.i++
		return
	}
	var keys [64][]byte
	n := 0
	for r.ok {
		key := r.stringBytes()
		r.expect(':')
		if !r.ok {
			return
		}
		for _, k := range keys[:n] {
			if bytes.Equal(k, key) {
				r.ok = false
				return
			}
		}
		if n == len(keys) {
			r.ok = false
			return
		}
		keys[n] = key
		n++
		if c, ok := r.next(); ok && c == 'n' {
			// A null leaves the field as it was, zero: the key is not
			// repeated (an empty sketch run is written so).
			if !bytes.HasPrefix(r.data[r.i:], []byte("null")) {
				r.ok = false
				return
			}
			r.i += len("null")
		} else {
			field(key)
		}
		c, ok := r.next()
		switch {
		case !ok:
			return
		case c == ',':
			r.i++
		case c == '}':
			r.i++
			return
		default:
			r.ok = false
		}
	}
}

// array reads a list, calling elem at each element.
func (r *baselineReader) array(elem func()) {
	r.expect('[')
	if c, ok := r.next(); ok && c == ']' {
		r.i++
		return
	}
	for r.ok {
		if c, ok := r.next(); !ok || c == 'n' {
			r.ok = false
			return
		}
		elem()
		c, ok := r.next()
		switch {
		case !ok:
			return
		case c == ',':
			r.i++
		case c == ']':
			r.i++
			return
		default:
			r.ok = false
		}
	}
}

// stringBytes reads a string of valid UTF-8 without escapes or control
// characters, which reads as its bytes.
func (r *baselineReader) stringBytes() []byte {
	r.expect('"')
	if !r.ok {
		return nil
	}
	start := r.i
	ascii := true
	for ; r.i < len(r.data); r.i++ {
		switch c := r.data[r.i]; {
		case c == '"':
			s := r.data[start:r.i]
			r.i++
			if !ascii && !utf8.Valid(s) {
				r.ok = false
			}
			return s
		case c == '\\' || c < 0x20:
			r.ok = false
			return nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	r.ok = false
	return nil
}

func (r *baselineReader) string() string { return string(r.stringBytes()) }

func (r *baselineReader) time(t *time.Time) {
	start := r.i
	r.stringBytes()
	if !r.ok {
		return
	}
	if err := t.UnmarshalJSON(bytes.TrimLeft(r.data[start:r.i], " \n\t\r")); err != nil {
		r.ok = false
	}
}

// number reads a number as JSON writes them.
func (r *baselineReader) number() []byte {
	if _, ok := r.next(); !ok {
		return nil
	}
	d, start := r.data, r.i
	i := start
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		r.ok = false
		return nil
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i == len(d) || d[i] < '0' || d[i] > '9' {
			r.ok = false
			return nil
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i == len(d) || d[i] < '0' || d[i] > '9' {
			r.ok = false
			return nil
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	r.i = i
	return d[start:i]
}

// float reads a number as encoding/json reads it into a float64.
func (r *baselineReader) float() float64 {
	num := r.number()
	if !r.ok {
		return 0
	}
	x, err := numparse.ParseFloat(num)
	if err != nil {
		r.ok = false
	}
	return x
}

func (r *baselineReader) floatPtr() *float64 {
	x := r.float()
	return &x
}

// uint reads a whole number as encoding/json reads it into a uint64: at most
// 19 digits cannot overflow, longer ones are declined.
func (r *baselineReader) uint() uint64 {
	num := r.number()
	if !r.ok || len(num) > 19 {
		r.ok = false
		return 0
	}
	var n uint64
	for _, c := range num {
		if c < '0' || c > '9' {
			r.ok = false
			return 0
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

// int reads a whole number as encoding/json reads it into an int.
func (r *baselineReader) int() int {
	num := r.number()
	if !r.ok {
		return 0
	}
	n, err := strconv.ParseInt(string(num), 10, 0)
	if err != nil {
		r.ok = false
	}
	return int(n)
}

func (r *baselineReader) floats() []float64 {
	out := make([]float64, 0, r.listed())
	r.array(func() { out = append(out, r.float()) })
	return out
}

func (r *baselineReader) uints() []uint64 {
	out := make([]uint64, 0, r.listed())
	r.array(func() { out = append(out, r.uint()) })
	return out
}

// listed is about how many numbers the list ahead holds (its commas and
// one), counted at a glance so that it is allocated once: a baseline's
// quantiles and sketch counts, thousands a feature, were grown by append,
// which allocated about as much again as they hold and copied it.
func (r *baselineReader) listed() int {
	rest := r.data[r.i:]
	if end := bytes.IndexByte(rest, ']'); end >= 0 {
		return bytes.Count(rest[:end], []byte{','}) + 1
	}
	return 0
}

func (r *baselineReader) counts() map[string]uint64 {
	out := map[string]uint64{}
	r.object(func(key []byte) { out[string(key)] = r.uint() })
	return out
}
