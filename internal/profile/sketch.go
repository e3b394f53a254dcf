package profile

import (
	"fmt"
	"math"

	"github.com/sentinel-ml/sentinel/internal/stats"
)

// DefaultRelativeAccuracy is the sketch's default quantile error: a reported
// quantile is within 0.5% of the true value's magnitude.
const DefaultRelativeAccuracy = 0.005

// minIndexable is the smallest magnitude given its own bucket; smaller values (only
// subnormals) count as zero.
const minIndexable = 0x1p-1022

// Sketch is a DDSketch (Masson, Rim and Lee, VLDB 2019): a quantile sketch with
// logarithmic buckets. Bucket bounds grow by at most γ = (1+α)/(1−α), so every
// quantile it reports is within a relative error α of the exact one
// (|x̃ − x| ≤ α·|x|), whatever the distribution. The bucket index comes from a
// cubic interpolation of log2 between powers of two, read off the float's bits,
// rather than from math.Log: it is several times cheaper, and the multiplier is
// scaled by the interpolation's worst stretch so that the guarantee still holds. Two sketches with
// the same α merge exactly by adding bucket counts, which is what makes window
// profiles from several partitions summable. Memory grows with the logarithm of the
// data's range, not with the number of values: a range of six decades costs about
// 1,400 buckets at α = 0.5%; the absolute worst case, values over the whole float64
// range, is about 280,000 buckets.
type Sketch struct {
	count uint64
	// pending holds the last values added, which reach the stores in their
	// order before anything reads them (drain): a daemon of many models
	// adds each event's values to sketches in memory no cache holds, and
	// one value at a time, each bucket's miss stalled the event; a run of
	// them in a row overlaps the misses. What Add writes comes first.
	npending   int
	pending    [pendingValues]float64
	alpha      float64
	gamma      float64
	multiplier float64 // buckets per unit of the approximate log2
	pos, neg   store
	zero       uint64
}

// pendingValues is how many values a sketch or a distinct count holds back.
const pendingValues = 16

// drain adds the pending values to the stores.
func (s *Sketch) drain() {
	// The buckets first, then the counts: the counts' cache misses, each
	// independent of the others, then issue together.
	var buckets [pendingValues]int
	pending := s.pending[:s.npending]
	for k, x := range pending {
		if abs := math.Abs(x); abs >= minIndexable {
			buckets[k] = s.index(abs)
		}
	}
	for k, x := range pending {
		st := &s.pos
		switch {
		case x >= minIndexable:
		case x <= -minIndexable:
			st = &s.neg
		default:
			s.zero++
			continue
		}
		// store.add, by hand: it does not inline, and this is the per-value
		// path.
		i := buckets[k]
		if j := i - st.offset; uint(j) < uint(len(st.counts)) {
			st.counts[j]++
			// Unconditionally: the bitset's few words stay in cache, while a
			// branch on the count just loaded would wait for it, and
			// mispredict wherever values still find empty buckets.
			st.set[j>>6] |= 1 << (j & 63)
			continue
		}
		st.growAdd(i, 1)
	}
	s.npending = 0
}

// NewSketch returns an empty sketch with relative accuracy alpha in (0, 0.5).
func NewSketch(alpha float64) (*Sketch, error) {
	if !(alpha > 0 && alpha < 0.5) {
		return nil, fmt.Errorf("sketch relative accuracy %v is not in (0, 0.5)", alpha)
	}
	gamma := (1 + alpha) / (1 - alpha)
	return &Sketch{alpha: alpha, gamma: gamma, multiplier: multiplierOf(alpha)}, nil
}

// The approximate log2 of x = 2^e·(1+s), s in [0, 1), is e + P(s) with
// P(s) = ((A·s + B)·s + C)·s, the cubic DDSketch uses: P(0) = 0 and P(1) = 1, so it
// is continuous across powers of two, and monotone.
const (
	cubicA = 6.0 / 35
	cubicB = -3.0 / 5
	cubicC = 10.0 / 7
)

func approxLog2(x float64) float64 {
	bits := math.Float64bits(x)
	e := int((bits>>52)&0x7ff) - 1023
	s := math.Float64frombits(bits&(1<<52-1)|0x3ff<<52) - 1
	return float64(e) + ((cubicA*s+cubicB)*s+cubicC)*s
}

// exp2Approx inverts approxLog2, solving the cubic by Newton's method; it is only
// used to turn bucket indexes back into values. It gives what eight iterations
// give, stopping early at a fixed point (most bounds reach one in four or five:
// every closed window reads its sketches' bounds back), and scales by the
// exponent's bits where the result is a normal float, as Ldexp would.
func exp2Approx(y float64) float64 {
	e := math.Floor(y)
	t := y - e
	s := t
	for range 8 {
		p := ((cubicA*s+cubicB)*s+cubicC)*s - t
		next := s - p/((3*cubicA*s+2*cubicB)*s+cubicC)
		if next == s {
			break
		}
		s = next
	}
	if e > -1022 && e < 1023 {
		// 1+s is in [1, 2]: adding e to its exponent multiplies it by 2^e.
		return math.Float64frombits(math.Float64bits(1+s) + uint64(int64(e))<<52)
	}
	return math.Ldexp(1+s, int(e))
}

// stretch is maxStretch(), as a constant: every window's sketch of every feature
// needs it, and the grid behind it cost more than all else in making one. Bucket
// indexes are stored, so it must stay the same float to the last bit; a test
// holds it to maxStretch.
const stretch = 0x1.66667de35aadcp-01

// maxStretch is the largest d(ln x)/d(approxLog2 x), 1/((1+s)·P'(s)) over s in
// [0, 1]: a bucket one unit of approxLog2 wide spans at most this much of ln x.
// A fine grid plus a margin bounds it from above.
func maxStretch() float64 {
	m := 0.0
	for i := 0; i <= 4096; i++ {
		s := float64(i) / 4096
		m = math.Max(m, 1/((1+s)*((3*cubicA*s+2*cubicB)*s+cubicC)))
	}
	return m * (1 + 1e-6)
}

// RelativeAccuracy returns α.
func (s *Sketch) RelativeAccuracy() float64 { return s.alpha }

// Count returns the number of values added.
func (s *Sketch) Count() uint64 { return s.count }

// index returns the bucket of a positive magnitude: bucket i holds
// approxLog2(x)·multiplier in (i−1, i].
func (s *Sketch) index(abs float64) int {
	return int(math.Ceil(approxLog2(abs) * s.multiplier))
}

// value is the representative of bucket i: the harmonic mean of its bounds, whose
// relative distance to both is at most α.
func (s *Sketch) value(i int) float64 {
	if s.multiplier == defaultMultiplier {
		if r, ok := defaultRepresentative(i); ok {
			return r
		}
	}
	return representative(exp2Approx(float64(i-1)/s.multiplier), exp2Approx(float64(i)/s.multiplier))
}

// bounds gives the representatives of a walk over buckets, reusing the bound
// two neighbouring buckets share: a bound costs a cubic solved by Newton's
// method, and the buckets of a run are mostly consecutive.
type bounds struct {
	s      *Sketch
	last   int // the bucket whose bounds lo and hi are, when ok
	lo, hi float64
	ok     bool
}

func (b *bounds) value(i int) float64 {
	m := b.s.multiplier
	if m == defaultMultiplier {
		if r, ok := defaultRepresentative(i); ok {
			return r
		}
	}
	switch {
	case b.ok && b.last == i-1:
		b.lo, b.hi = b.hi, exp2Approx(float64(i)/m)
	case b.ok && b.last == i+1:
		b.lo, b.hi = exp2Approx(float64(i-1)/m), b.lo
	default:
		b.lo, b.hi = exp2Approx(float64(i-1)/m), exp2Approx(float64(i)/m)
	}
	b.last, b.ok = i, true
	return representative(b.lo, b.hi)
}

func representative(lo, hi float64) float64 {
	if num := 2 * lo * hi; num != 0 && !math.IsInf(num, 0) {
		return num / (lo + hi)
	}
	// At the ends of float64's range the product overflows (the mean came out
	// NaN) or underflows (0); the same mean, divided through, does neither.
	return math.Min(lo*(2/(1+lo/hi)), math.MaxFloat64)
}

// Add adds a finite value; callers count NaN and ±Inf apart.
func (s *Sketch) Add(x float64) {
	s.count++
	s.pending[s.npending] = x
	if s.npending++; s.npending == len(s.pending) {
		s.drain()
	}
}

// Merge adds o's counts to s.
func (s *Sketch) Merge(o *Sketch) error {
	if o.alpha != s.alpha {
		return fmt.Errorf("cannot merge sketches of relative accuracy %v and %v", s.alpha, o.alpha)
	}
	s.drain()
	o.drain()
	s.pos.merge(&o.pos)
	s.neg.merge(&o.neg)
	s.zero += o.zero
	s.count += o.count
	return nil
}

// settle adds the pending values and moves the buckets of small stores to
// their dense runs, for the readers that walk those.
func (s *Sketch) settle() {
	s.drain()
	s.pos.settle()
	s.neg.settle()
}

// stored returns the sketch's counts as files and the store keep them.
func (s *Sketch) stored() *SketchBuckets {
	s.settle()
	sb := &SketchBuckets{Zero: s.zero}
	sb.PosOffset, sb.Pos = s.pos.sparse()
	sb.NegOffset, sb.Neg = s.neg.sparse()
	return sb
}

// reset empties the sketch but keeps its stores' memory for the values to come.
func (s *Sketch) reset() {
	s.pos.reset()
	s.neg.reset()
	s.zero, s.count, s.npending = 0, 0, 0
}

// Quantile returns the q-quantile (q in [0, 1]) by the lower rank ⌊q·(n−1)⌋, or NaN
// for an empty sketch.
func (s *Sketch) Quantile(q float64) float64 {
	if s.count == 0 || q < 0 || q > 1 {
		return math.NaN()
	}
	s.settle()
	rank := uint64(q * float64(s.count-1))
	var seen uint64
	// Negative values come first, the largest magnitude first.
	neg, pos := &s.neg, &s.pos
	for i := neg.last(); i >= 0; i = neg.prev(i - 1) {
		seen += neg.counts[i]
		if seen > rank {
			return -s.value(neg.offset + i)
		}
	}
	seen += s.zero
	if seen > rank {
		return 0
	}
	for i := pos.next(0); i < len(pos.counts); i = pos.next(i + 1) {
		seen += pos.counts[i]
		if seen > rank {
			return s.value(pos.offset + i)
		}
	}
	return s.value(s.pos.offset + len(s.pos.counts) - 1)
}

// Atoms returns the sketch as sorted point masses at the bucket representatives, the
// form KS and Wasserstein take.
func (s *Sketch) Atoms() []stats.Atom {
	// Sized at once: a window of a thousand values has hundreds of atoms,
	// grown to by doubling from a guess.
	s.settle()
	return s.AppendAtoms(make([]stats.Atom, 0, s.neg.nonZero()+s.pos.nonZero()+1))
}

// AppendAtoms appends the atoms to dst, for callers that reuse a buffer.
func (s *Sketch) AppendAtoms(atoms []stats.Atom) []stats.Atom {
	s.settle()
	neg, pos := &s.neg, &s.pos
	nb := bounds{s: s}
	for i := neg.last(); i >= 0; i = neg.prev(i - 1) {
		atoms = append(atoms, stats.Atom{X: -nb.value(neg.offset + i), W: float64(neg.counts[i])})
	}
	if s.zero > 0 {
		atoms = append(atoms, stats.Atom{X: 0, W: float64(s.zero)})
	}
	pb := bounds{s: s}
	for i := pos.next(0); i < len(pos.counts); i = pos.next(i + 1) {
		atoms = append(atoms, stats.Atom{X: pb.value(pos.offset + i), W: float64(pos.counts[i])})
	}
	return atoms
}

// bucket identifies a bucket across signs in value order: negative buckets, the zero
// bucket, positive buckets.
type bucket struct {
	sign int // -1, 0, 1
	i    int
}

func (s *Sketch) bucketOf(x float64) bucket {
	switch {
	case x >= minIndexable:
		return bucket{1, s.index(x)}
	case x <= -minIndexable:
		return bucket{-1, s.index(-x)}
	default:
		return bucket{}
	}
}

// buckets calls f for each non-empty bucket in value order with its count and the
// number of values before it; it stops when f returns false.
func (s *Sketch) buckets(f func(b bucket, below, count uint64) bool) {
	s.settle()
	var below uint64
	neg, pos := &s.neg, &s.pos
	for i := neg.last(); i >= 0; i = neg.prev(i - 1) {
		c := neg.counts[i]
		if !f(bucket{-1, neg.offset + i}, below, c) {
			return
		}
		below += c
	}
	if s.zero > 0 {
		if !f(bucket{}, below, s.zero) {
			return
		}
		below += s.zero
	}
	for i := pos.next(0); i < len(pos.counts); i = pos.next(i + 1) {
		c := pos.counts[i]
		if !f(bucket{1, pos.offset + i}, below, c) {
			return
		}
		below += c
	}
}
