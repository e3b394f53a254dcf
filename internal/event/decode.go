package event

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/sentinel-ml/sentinel/internal/numparse"
)

// Layout says how the top level of an object is interpreted.
type Layout uint8

const (
	// LayoutAuto: an envelope if the top-level "features" member is an object, flat otherwise.
	LayoutAuto Layout = iota
	// LayoutEnvelope: always an envelope. "features" may be absent or null (label
	// events have none); other top-level members that are not envelope fields are
	// ignored. Envelope fields are always checked strictly.
	LayoutEnvelope
	// LayoutFlat: always flat; "features" is an ordinary feature name.
	LayoutFlat
)

// Options configures a Decoder. The zero value gives the defaults.
type Options struct {
	// MaxFeatures bounds the number of features per event (default 1024).
	MaxFeatures int
	// MaxDepth bounds container nesting, counting the top-level object as 1
	// (default 64). Nested values inside features are skipped, but still validated
	// and bounded by this depth.
	MaxDepth int
	// Layout selects envelope or flat interpretation (default LayoutAuto).
	Layout Layout
}

const (
	defaultMaxFeatures = 1024
	defaultMaxDepth    = 64
)

// Decoder decodes events. It keeps scratch memory between calls so that decoding
// allocates nothing in steady state. A Decoder is not safe for concurrent use;
// use one per goroutine.
type Decoder struct {
	opts Options
	data []byte
	// buf receives strings that had to be unescaped. Slices handed out from it are
	// capacity-limited; if it has to grow mid-Decode, append moves it to a new
	// array and the slices already handed out keep the old one, untouched.
	buf  []byte
	top  []Field  // every top-level member, for the flat reading
	feat []Field  // the "features" object's members
	set  []uint32 // open-addressing table for the duplicate check, index+1 per slot
	seed maphash.Seed
	// A producer repeats its schema, so the text between one member's value and
	// the next usually repeats too: the keys of the last object at each level
	// let most members be read with one comparison, and often settle the
	// duplicate check without hashing.
	topKeys, featKeys keyCache
	featLayout        uint64 // Event.Layout of the last features object
}

// NewDecoder returns a Decoder with the given options.
func NewDecoder(opts Options) *Decoder {
	if opts.MaxFeatures <= 0 {
		opts.MaxFeatures = defaultMaxFeatures
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = defaultMaxDepth
	}
	d := &Decoder{opts: opts, seed: maphash.MakeSeed()}
	d.featKeys.gen = rand.Uint64()
	return d
}

// Top-level members with a meaning in the envelope.
const (
	envModel = iota
	envModelVersion
	envRequestID
	envTimestamp
	envPrediction
	envLatencyMs
	envLabel
	envFeatures
	numEnv
	envNone = -1
)

func envKey(name []byte) int {
	switch string(name) {
	case "model":
		return envModel
	case "model_version":
		return envModelVersion
	case "request_id":
		return envRequestID
	case "timestamp":
		return envTimestamp
	case "prediction":
		return envPrediction
	case "latency_ms":
		return envLatencyMs
	case "label":
		return envLabel
	case "features":
		return envFeatures
	}
	return envNone
}

// envField is an envelope member seen at the top level, kept until the end of the
// object because only then is it known whether the object is an envelope.
type envField struct {
	set bool
	off int // offset of the value, for error reports
	val Value
}

// envName is the JSON name of envelope member k, for error messages.
func envName(k int) string {
	return [numEnv]string{"model", "model_version", "request_id", "timestamp", "prediction", "latency_ms", "label", "features"}[k]
}

// quoteName quotes a name taken from the input for an error message, cut short
// so that a hostile key cannot bloat a dead-letter header.
func quoteName(name []byte) string {
	const max = 64
	if len(name) > max {
		return strconv.Quote(string(name[:max])) + "…"
	}
	return strconv.Quote(string(name))
}

// Decode decodes one JSON object from data into ev, overwriting all of ev. On
// error, ev's contents are unspecified. The slices in ev alias data and d's
// scratch memory; see [Event].
func (d *Decoder) Decode(data []byte, ev *Event) error {
	*ev = Event{}
	d.data = data
	if cap(d.buf) < len(data) {
		// Unescaping never lengthens a string, so this is enough unless the input
		// has invalid UTF-8 (see buf).
		d.buf = make([]byte, 0, len(data))
	}
	d.buf = d.buf[:0]
	d.top = d.top[:0]
	d.feat = d.feat[:0]
	layout := d.opts.Layout
	collectTop := layout != LayoutEnvelope
	topOverflow := false
	featuresObj := false
	var env [numEnv]envField

	i := ws(data, 0)
	switch c := peek(data, i); c {
	case '{':
	case 0:
		return d.failAt(ReasonInvalidJSON, i, "empty input")
	case '[', '"', 't', 'f', 'n', 'N', 'I', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return d.failAt(ReasonNotObject, i, "top level is not an object")
	default:
		return d.failAt(ReasonInvalidJSON, i, "invalid character at top level")
	}
	i++
	keys := keyReader{cache: &d.topKeys, limit: d.opts.MaxFeatures}
	for {
		name, k, vi, closed, err := d.key(&keys, i)
		if err != nil {
			return err
		}
		if closed {
			i = vi
			break
		}
		off := vi
		if k == envNone && !collectTop {
			// Nothing keeps an unknown envelope member: it is only validated.
			if i, err = d.skipValue(vi, 1); err != nil {
				return err
			}
		} else {
			// The value goes straight into the slot that keeps it.
			var scratch Value
			v := &scratch
			if collectTop {
				if len(d.top) < d.opts.MaxFeatures {
					f := next(&d.top)
					f.Name = name
					v = &f.Value
				} else {
					topOverflow = true
				}
			} else if !env[k].set {
				v = &env[k].val
			}
			if k == envFeatures && layout != LayoutFlat && peek(data, vi) == '{' {
				if featuresObj {
					return d.failAt(ReasonDuplicateKey, off, "duplicate \"features\"")
				}
				featuresObj = true
				*v = Value{Kind: KindOther}
				i, err = d.features(vi)
			} else {
				i, err = d.value(vi, 1, v)
			}
			if err != nil {
				return err
			}
			if k != envNone {
				e := &env[k]
				if e.set {
					return d.failAt(ReasonDuplicateKey, off, "duplicate \""+envName(k)+"\"")
				}
				e.set, e.off = true, off
				if v != &e.val {
					e.val = *v
				}
			}
		}
	}
	keys.close()
	if i = ws(data, i); i != len(data) {
		return d.failAt(ReasonInvalidJSON, i, "trailing data after object")
	}

	strict := featuresObj || layout == LayoutEnvelope
	cache := &d.topKeys
	if strict {
		ev.Envelope = featuresObj
		ev.Features = d.feat
		if featuresObj {
			ev.Layout = d.featLayout
		}
		cache = &d.featKeys
		if f := env[envFeatures]; f.set && !featuresObj && f.val.Kind != KindNull {
			return d.failAt(ReasonBadFieldType, f.off, "\"features\" is not an object")
		}
	} else {
		if topOverflow {
			return d.failAt(ReasonTooManyFeatures, 0, "more than "+strconv.Itoa(d.opts.MaxFeatures)+" top-level members")
		}
		ev.Features = d.top
	}
	if i, j := d.duplicate(ev.Features, cache); i >= 0 {
		return d.failAt(ReasonDuplicateKey, 0, "duplicate feature "+quoteName(ev.Features[j].Name)+" (members "+strconv.Itoa(i)+" and "+strconv.Itoa(j)+")")
	}
	return d.envelope(&env, ev, strict)
}

// envelope fills ev's envelope fields from the top-level members. When strict is
// false (a flat object) a member of the wrong type is simply not copied, since it
// is also an ordinary feature.
func (d *Decoder) envelope(env *[numEnv]envField, ev *Event, strict bool) error {
	for k := range envFeatures {
		f := &env[k]
		if !f.set {
			continue
		}
		v := f.val
		switch k {
		case envModel, envModelVersion, envRequestID:
			var dst *[]byte
			switch k {
			case envModel:
				dst = &ev.Model
			case envModelVersion:
				dst = &ev.ModelVersion
			default:
				dst = &ev.RequestID
			}
			switch {
			case v.quoted():
				*dst = v.Str
			case v.Kind == KindNull:
			case strict:
				return d.failAt(ReasonBadFieldType, f.off, "\""+envName(k)+"\" is "+v.Kind.String()+", want string")
			}
		case envTimestamp:
			var ok bool
			switch {
			case v.Kind == KindNull:
				continue
			case v.quoted():
				ev.Timestamp, ok = parseRFC3339(v.Str)
			case v.Kind == KindNumber:
				ev.Timestamp, ok = epochMillis(v.Num)
			}
			if ok {
				ev.HasTimestamp = true
			} else if strict {
				return d.failAt(ReasonBadTimestamp, f.off, "\"timestamp\" is not an RFC 3339 string with offset or epoch milliseconds in years 1-9999")
			}
		case envPrediction, envLabel:
			if v.Kind == KindOther {
				if strict {
					return d.failAt(ReasonBadFieldType, f.off, "\""+envName(k)+"\" is an object or array, want a scalar")
				}
				continue
			}
			if k == envPrediction {
				ev.Prediction = v
			} else {
				ev.Label = v
			}
		case envLatencyMs:
			if v.Kind != KindNumber && v.Kind != KindNull {
				if strict {
					return d.failAt(ReasonBadFieldType, f.off, "\"latency_ms\" is "+v.Kind.String()+", want number")
				}
				continue
			}
			ev.LatencyMs = v
		}
	}
	return nil
}

// features decodes the "features" object (depth 2) at i into d.feat and returns
// its end.
func (d *Decoder) features(i int) (int, error) {
	if 2 > d.opts.MaxDepth {
		return 0, d.failAt(ReasonTooDeep, i, "nesting deeper than MaxDepth")
	}
	keys := keyReader{cache: &d.featKeys, limit: d.opts.MaxFeatures}
	i++
	for {
		name, _, vi, closed, err := d.key(&keys, i)
		if err != nil {
			return 0, err
		}
		if closed {
			keys.close()
			d.featLayout = keys.layout()
			return vi, nil
		}
		if len(d.feat) >= d.opts.MaxFeatures {
			return 0, d.failAt(ReasonTooManyFeatures, vi, "more than "+strconv.Itoa(d.opts.MaxFeatures)+" features")
		}
		f := next(&d.feat)
		f.Name = name
		if i, err = d.value(vi, 2, &f.Value); err != nil {
			return 0, err
		}
	}
}

// keyCache holds what lay, in the last object read at one level, between each
// member's value and the next: from the end of the previous value (or the
// opening brace) through the separator, the quoted name, the colon and the
// whitespace up to the value. Only plain names (no escapes, ASCII) get a slot,
// so that equal text means an equal name.
type keyCache struct {
	raw   []byte // the slots end to end
	slots []keySlot
	// known says the slots' names are free of duplicates: they were found so in
	// an object that had them in this order, and maybe more after them.
	// Recording a slot clears it; dropping slots from the end keeps it true.
	known bool
	// gen changes whenever the slots do; it starts at random so that the
	// layouts of two decoders do not share numbers.
	gen uint64
}

type keySlot struct {
	start, end    int // where the slot is in raw
	name, nameEnd int // where the name is within the slot
	env           int // envKey of the name
}

// keyReader reads the keys of one object through its level's keyCache.
type keyReader struct {
	cache *keyCache
	limit int // slots kept at most, so that one huge object cannot bloat the cache
	k     int // index of the next member
	// valid counts the leading slots that hold this object's members, because
	// they matched or were recorded from it; recording stops at the first member
	// that could not be recorded, since slot k must be member k.
	valid int
}

// key reads from p, where the previous member's value ends (or just past the
// opening brace), to the start of the next member's value. It returns that
// member's name, the name's envKey, and the offset of the value; or closed and
// the offset past the closing brace at the end of the object.
func (d *Decoder) key(r *keyReader, p int) (name []byte, env, i int, closed bool, err error) {
	data := d.data
	c := r.cache
	k := r.k
	r.k++
	if k == r.valid && k < len(c.slots) {
		s := &c.slots[k]
		if match(data, p, c.raw[s.start:s.end]) {
			r.valid++
			// The value may start after more whitespace than last time.
			return data[p+s.name : p+s.nameEnd : p+s.nameEnd], s.env, ws(data, p+s.end-s.start), false, nil
		}
	}
	return d.keySlow(r, k, p)
}

// keySlow is key for a member that its slot does not give, kept apart so that
// the common case runs without its stack frame and spills.
func (d *Decoder) keySlow(r *keyReader, k, p int) (name []byte, env, i int, closed bool, err error) {
	data := d.data
	c := r.cache
	i = ws(data, p)
	ch := peek(data, i)
	if ch == '}' {
		return nil, 0, i + 1, true, nil
	}
	if k > 0 {
		if ch != ',' {
			return nil, 0, 0, false, d.failAt(ReasonInvalidJSON, i, "expected ',' or '}' after object member")
		}
		i = ws(data, i+1)
		ch = peek(data, i)
	}
	if ch != '"' {
		return nil, 0, 0, false, d.failAt(ReasonInvalidJSON, i, "expected object key")
	}
	q := i
	e := plainEnd(data, q+1)
	plain := e < len(data) && data[e] == '"'
	if plain {
		name, i = data[q+1:e:e], e+1
	} else if name, i, err = d.strSlow(q, e); err != nil {
		return nil, 0, 0, false, err
	}
	if i, err = d.colon(i); err != nil {
		return nil, 0, 0, false, err
	}
	env = envKey(name)
	if plain && k == r.valid && k < r.limit {
		start := 0
		if k > 0 {
			start = c.slots[k-1].end
		}
		c.raw = append(c.raw[:start], data[p:i]...)
		c.slots = append(c.slots[:k], keySlot{start: start, end: len(c.raw), name: q + 1 - p, nameEnd: e - p, env: env})
		c.known = false
		c.gen++
		r.valid++
	}
	return name, env, i, false, nil
}

// close drops the slots past the object's last valid one, so that the slots
// are as many as the members only if every member matched or was recorded.
func (r *keyReader) close() {
	if c := r.cache; len(c.slots) > r.valid {
		c.slots = c.slots[:r.valid]
		c.gen++
	}
}

// layout is the object's Event.Layout once closed: the slots' generation when
// every member is in a slot, so that equal layouts mean equal names.
func (r *keyReader) layout() uint64 {
	if r.valid != r.k-1 {
		return 0
	}
	return r.cache.gen
}

// match reports whether data holds s at p. Slots are mostly a word or two long,
// where comparing words inline beats a call to the runtime's memequal.
func match(data []byte, p int, s []byte) bool {
	n := len(s)
	if n > len(data)-p {
		return false
	}
	if n < 8 {
		return string(data[p:p+n]) == string(s)
	}
	for j := 0; j < n-8; j += 8 {
		if binary.LittleEndian.Uint64(data[p+j:]) != binary.LittleEndian.Uint64(s[j:]) {
			return false
		}
	}
	return binary.LittleEndian.Uint64(data[p+n-8:]) == binary.LittleEndian.Uint64(s[n-8:])
}

// value decodes the value at i, a member of a container at the given depth, into
// *v and returns its end. It writes in place because a Value is large enough for
// the copies of a returned one to show in profiles.
func (d *Decoder) value(i, depth int, v *Value) (int, error) {
	switch c := peek(d.data, i); c {
	case '"':
		s, end, err := d.str(i)
		if err != nil {
			return 0, err
		}
		if f, ok := nonFinite(s); ok {
			*v = Value{Kind: KindNumber, Num: f, Str: s}
		} else {
			*v = Value{Kind: KindString, Str: s}
		}
		return end, nil
	case 't':
		*v = Value{Kind: KindBool, Num: 1, Bool: true}
		return d.literal(i, "true")
	case 'f':
		*v = Value{Kind: KindBool}
		return d.literal(i, "false")
	case 'n':
		*v = Value{Kind: KindNull}
		return d.literal(i, "null")
	case '{', '[':
		*v = Value{Kind: KindOther}
		return d.skipContainer(i, depth+1)
	default:
		f, end, err := d.number(i)
		*v = Value{Kind: KindNumber, Num: f}
		return end, err
	}
}

// next returns a pointer to a new last element of *fields, reusing the backing
// array's old contents, which the caller overwrites entirely.
func next(fields *[]Field) *Field {
	n := len(*fields)
	if n == cap(*fields) {
		*fields = append(*fields, Field{})
	}
	*fields = (*fields)[:n+1]
	return &(*fields)[n]
}

// number decodes the JSON number at i, or one of the literals NaN, Infinity,
// -Infinity, and returns its end. Plain decimals, most of what events carry, are
// scanned and converted in one pass; everything else, including every invalid
// number, takes numberSlow.
func (d *Decoder) number(i int) (float64, int, error) {
	data := d.data
	start := i
	neg := i < len(data) && data[i] == '-'
	if neg {
		i++
	}
	first := i
	var mant uint64
	for ; i < len(data) && isDigit(data[i]); i++ {
		mant = mant*10 + uint64(data[i]-'0')
	}
	digits := i - first
	frac := 0
	if i < len(data) && data[i] == '.' {
		i++
		point := i
		for ; i < len(data) && isDigit(data[i]); i++ {
			mant = mant*10 + uint64(data[i]-'0')
		}
		if frac = i - point; frac == 0 {
			return d.numberSlow(start)
		}
	}
	// Past 19 digits mant may have wrapped; a leading zero of a longer integer
	// part, an exponent or an empty integer part is for numberSlow to judge.
	if digits == 0 || digits+frac > 19 || (digits > 1 && data[first] == '0') ||
		(i < len(data) && (data[i] == 'e' || data[i] == 'E')) {
		return d.numberSlow(start)
	}
	x, ok := numparse.Scale(mant, frac)
	if !ok {
		return d.numberSlow(start)
	}
	if neg {
		x = -x
	}
	return x, i, nil
}

func (d *Decoder) numberSlow(start int) (float64, int, error) {
	end, special, ok := scanNumber(d.data, start)
	if !ok {
		return 0, 0, d.failAt(ReasonInvalidJSON, start, "invalid value")
	}
	if special != 0 {
		return special, end, nil
	}
	if f, ok := numparse.Decimal(d.data[start:end]); ok {
		return f, end, nil
	}
	// The grammar is already checked, so the only possible error is ErrRange, for
	// which ParseFloat returns ±Inf or ±0: overflow is kept as the instability it
	// is rather than rejected. unsafe.String avoids copying; ParseFloat retains the
	// string only inside the error it returns, which is discarded here.
	f, _ := strconv.ParseFloat(unsafe.String(&d.data[start], end-start), 64)
	return f, end, nil
}

// scanNumber checks the number (or NaN/Infinity literal) starting at i and
// returns its end. For the literals, special is NaN or ±Inf; otherwise 0.
func scanNumber(data []byte, i int) (end int, special float64, ok bool) {
	if i < len(data) && data[i] == 'N' {
		if hasPrefix(data[i:], "NaN") {
			return i + 3, math.NaN(), true
		}
		return 0, 0, false
	}
	neg := false
	if i < len(data) && data[i] == '-' {
		neg = true
		i++
	}
	if i >= len(data) {
		return 0, 0, false
	}
	switch c := data[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		i++
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	case c == 'I':
		if hasPrefix(data[i:], "Infinity") {
			if neg {
				return i + 8, math.Inf(-1), true
			}
			return i + 8, math.Inf(1), true
		}
		return 0, 0, false
	default:
		return 0, 0, false
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return 0, 0, false
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return 0, 0, false
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	return i, 0, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// nonFinite recognizes the strings that spell NaN or ±Inf.
func nonFinite(s []byte) (float64, bool) {
	if len(s) < 3 || len(s) > 9 {
		return 0, false
	}
	sign := 0
	switch s[0] {
	case '+':
		sign, s = 1, s[1:]
	case '-':
		sign, s = -1, s[1:]
	case 'n', 'N', 'i', 'I':
	default:
		return 0, false
	}
	switch {
	case foldEq(s, "nan") && sign == 0:
		return math.NaN(), true
	case foldEq(s, "inf") || foldEq(s, "infinity"):
		if sign < 0 {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	}
	return 0, false
}

// foldEq compares s with a lower-case ASCII letter string, ignoring case.
// c|0x20 maps exactly an upper-case letter and its lower-case form onto the latter.
func foldEq(s []byte, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := range len(s) {
		if s[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

func (d *Decoder) literal(i int, lit string) (int, error) {
	if !hasPrefix(d.data[i:], lit) {
		return 0, d.failAt(ReasonInvalidJSON, i, "invalid literal")
	}
	return i + len(lit), nil
}

func peek(data []byte, i int) byte {
	if i < len(data) {
		return data[i]
	}
	return 0 // never valid outside a string, so EOF fails wherever a token is expected
}

// ws returns the offset of the first non-whitespace byte from i on.
func ws(data []byte, i int) int {
	for i < len(data) {
		// Every whitespace byte is at most ' ', so one comparison lets tokens through.
		if c := data[i]; c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return i
		}
		i++
	}
	return i
}

// colon reads the colon after an object key at i, and the whitespace around it.
func (d *Decoder) colon(i int) (int, error) {
	i = ws(d.data, i)
	if peek(d.data, i) != ':' {
		return 0, d.failAt(ReasonInvalidJSON, i, "expected ':' after object key")
	}
	return ws(d.data, i+1), nil
}

// str decodes the string whose opening quote is at i and returns its end. A
// string without escapes or invalid UTF-8 aliases the input; others are
// unescaped into d.buf.
func (d *Decoder) str(i int) ([]byte, int, error) {
	data := d.data
	e := plainEnd(data, i+1)
	if e < len(data) && data[e] == '"' {
		return data[i+1 : e : e], e + 1, nil
	}
	return d.strSlow(i, e)
}

// plainEnd returns the index of the first byte from i on that stringStop marks,
// or len(data). The scan of strings is most of the decoder's work, so it tests
// eight bytes at a time: in each of the masks below the lowest flagged byte is a
// true match (a false one needs a borrow from a true one below it), so the
// lowest flag of all is the first stop.
func plainEnd(data []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(data); i += 8 {
		w := binary.LittleEndian.Uint64(data[i:])
		q := w ^ ('"' * ones)
		b := w ^ ('\\' * ones)
		m := ((q-ones)&^q | (b-ones)&^b | (w-' '*ones)&^w | w) & highs
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(data) && stringStop[data[i]] == '0' {
		i++
	}
	return i
}

// stringStop marks with '1' the bytes that end the fast scan of a string:
// the closing quote, a backslash, control characters and non-ASCII bytes.
const stringStop = "" +
	"11111111111111111111111111111111" +
	"00100000000000000000000000000000" +
	"00000000000000000000000000001000" +
	"00000000000000000000000000000000" +
	"11111111111111111111111111111111" +
	"11111111111111111111111111111111" +
	"11111111111111111111111111111111" +
	"11111111111111111111111111111111"

// strSlow continues str from i, where the fast scan of the string whose opening
// quote is at q stopped.
func (d *Decoder) strSlow(q, i int) ([]byte, int, error) {
	data := d.data
	start := q + 1
	// Still aliasable as long as only valid multi-byte UTF-8 turns up.
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			return data[start:i:i], i + 1, nil
		case c == '\\':
			return d.unescape(q, i)
		case c < 0x20:
			return nil, 0, d.failAt(ReasonInvalidJSON, i, "control character in string")
		case c < utf8.RuneSelf:
			i = plainEnd(data, i+1)
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return d.unescape(q, i)
			}
			i += size
		}
	}
	return nil, 0, d.failAt(ReasonInvalidJSON, q, "unterminated string")
}

// unescape copies the string whose opening quote is at q into d.buf, decoding
// escapes from i on; what comes before i needs no decoding.
func (d *Decoder) unescape(q, i int) ([]byte, int, error) {
	data := d.data
	start := q + 1
	b0 := len(d.buf)
	buf := append(d.buf, data[start:i]...)
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			d.buf = buf
			return buf[b0:len(buf):len(buf)], i + 1, nil
		case c == '\\':
			if i+1 >= len(data) {
				return nil, 0, d.failAt(ReasonInvalidJSON, q, "unterminated string")
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(data, i+2)
				if !ok {
					return nil, 0, d.failAt(ReasonInvalidJSON, i, "invalid \\u escape")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// Like encoding/json: a valid pair is joined; anything else
					// becomes U+FFFD and the following escape, if any, is decoded
					// on its own.
					r2, ok := hex4(data, i+2)
					if dec := utf16.DecodeRune(r, r2); ok && i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default:
				return nil, 0, d.failAt(ReasonInvalidJSON, i, "invalid escape in string")
			}
			i += 2
		case c < 0x20:
			return nil, 0, d.failAt(ReasonInvalidJSON, i, "control character in string")
		case c < utf8.RuneSelf:
			// The run of plain bytes that follows an escape goes in one append.
			j := plainEnd(data, i+1)
			buf = append(buf, data[i:j]...)
			i = j
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, "\uFFFD"...)
			} else {
				buf = append(buf, data[i:i+size]...)
			}
			i += size
		}
	}
	return nil, 0, d.failAt(ReasonInvalidJSON, q, "unterminated string")
}

// hex4 decodes the four hex digits at data[i:i+4].
func hex4(data []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipString validates the string whose opening quote is at q, without decoding
// it, and returns its end.
func (d *Decoder) skipString(q int) (int, error) {
	data := d.data
	for i := q + 1; ; i++ {
		// Non-ASCII bytes stop plainEnd too, and fall through the switch.
		if i = plainEnd(data, i); i >= len(data) {
			break
		}
		switch c := data[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(data) {
				return 0, d.failAt(ReasonInvalidJSON, q, "unterminated string")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if _, ok := hex4(data, i+2); !ok {
					return 0, d.failAt(ReasonInvalidJSON, i, "invalid \\u escape")
				}
				i += 5
			default:
				return 0, d.failAt(ReasonInvalidJSON, i, "invalid escape in string")
			}
		case c < 0x20:
			return 0, d.failAt(ReasonInvalidJSON, i, "control character in string")
		}
	}
	return 0, d.failAt(ReasonInvalidJSON, q, "unterminated string")
}

// skipContainer validates and skips the object or array at i, which sits at the
// given depth, and returns its end. Recursion is bounded by MaxDepth.
func (d *Decoder) skipContainer(i, depth int) (int, error) {
	if depth > d.opts.MaxDepth {
		return 0, d.failAt(ReasonTooDeep, i, "nesting deeper than MaxDepth")
	}
	data := d.data
	isObj := data[i] == '{'
	closer := byte(']')
	if isObj {
		closer = '}'
	}
	i = ws(data, i+1)
	if peek(data, i) == closer {
		return i + 1, nil
	}
	var err error
	for {
		if isObj {
			if peek(data, i) != '"' {
				return 0, d.failAt(ReasonInvalidJSON, i, "expected object key")
			}
			if i, err = d.skipString(i); err != nil {
				return 0, err
			}
			if i, err = d.colon(i); err != nil {
				return 0, err
			}
		}
		if i, err = d.skipValue(i, depth); err != nil {
			return 0, err
		}
		i = ws(data, i)
		c := peek(data, i)
		if c == closer {
			return i + 1, nil
		}
		if c != ',' {
			return 0, d.failAt(ReasonInvalidJSON, i, "expected ',' or closing bracket")
		}
		i = ws(data, i+1)
	}
}

// skipValue validates and skips the value at i and returns its end.
func (d *Decoder) skipValue(i, depth int) (int, error) {
	switch peek(d.data, i) {
	case '"':
		return d.skipString(i)
	case 't':
		return d.literal(i, "true")
	case 'f':
		return d.literal(i, "false")
	case 'n':
		return d.literal(i, "null")
	case '{', '[':
		return d.skipContainer(i, depth+1)
	}
	end, _, ok := scanNumber(d.data, i)
	if !ok {
		return 0, d.failAt(ReasonInvalidJSON, i, "invalid value")
	}
	return end, nil
}

// duplicate returns the indexes of the first repeated name in fields, or -1, -1.
// c is the key cache of the level the fields were read from.
func (d *Decoder) duplicate(fields []Field, c *keyCache) (int, int) {
	if c.known && len(c.slots) == len(fields) {
		// Recording clears known, so none was recorded, and after close equal
		// counts mean every member matched its slot: the names are the slots'.
		return -1, -1
	}
	i, j := d.findDuplicate(fields)
	if i < 0 && len(c.slots) == len(fields) {
		c.known = true
	}
	return i, j
}

func (d *Decoder) findDuplicate(fields []Field) (int, int) {
	n := len(fields)
	if n <= 8 {
		for j := 1; j < n; j++ {
			for i := range j {
				if string(fields[i].Name) == string(fields[j].Name) {
					return i, j
				}
			}
		}
		return -1, -1
	}
	size := 16
	for size < 2*n {
		size <<= 1
	}
	if cap(d.set) < size {
		d.set = make([]uint32, size)
	}
	set := d.set[:size]
	clear(set)
	mask := uint64(size - 1)
	for j := range fields {
		h := maphash.Bytes(d.seed, fields[j].Name) & mask
		for {
			e := set[h]
			if e == 0 {
				set[h] = uint32(j + 1)
				break
			}
			if i := int(e - 1); string(fields[i].Name) == string(fields[j].Name) {
				return i, j
			}
			h = (h + 1) & mask
		}
	}
	return -1, -1
}

func (d *Decoder) failAt(r Reason, off int, msg string) error {
	return &DecodeError{Reason: r, Offset: off, Msg: msg}
}

// TimeReader returns a function that reads an envelope's event time, the
// zero time when it does not decode (it is rejected when processed, and
// soonest is as good as any). Each function has its own decoder, for one
// goroutine: the merges of co-partitioned topics by event time use it.
func TimeReader() func(value []byte) time.Time {
	dec := NewDecoder(Options{Layout: LayoutEnvelope})
	var ev Event
	return func(value []byte) time.Time {
		if dec.Decode(value, &ev) != nil {
			return time.Time{}
		}
		return ev.Timestamp
	}
}
