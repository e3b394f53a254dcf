package profile

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

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
	alpha      float64
	gamma      float64
	multiplier float64 // buckets per unit of the approximate log2
	pos, neg   store
	zero       uint64
	count      uint64
}

// NewSketch returns an empty sketch with relative accuracy alpha in (0, 0.5).
func NewSketch(alpha float64) (*Sketch, error) {
	if !(alpha > 0 && alpha < 0.5) {
		return nil, fmt.Errorf("sketch relative accuracy %v is not in (0, 0.5)", alpha)
	}
	gamma := (1 + alpha) / (1 - alpha)
	return &Sketch{alpha: alpha, gamma: gamma, multiplier: stretch / math.Log(gamma)}, nil
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
	st := &s.pos
	switch {
	case x >= minIndexable:
	case x <= -minIndexable:
		st, x = &s.neg, -x
	default:
		s.zero++
		return
	}
	// store.add, by hand: it does not inline, and this is the per-value path.
	i := s.index(x)
	if j := i - st.offset; uint(j) < uint(len(st.counts)) {
		st.counts[j]++
		// Unconditionally: the bitset's few words stay in cache, while a
		// branch on the count just loaded would wait for it, and mispredict
		// wherever values still find empty buckets.
		st.set[j>>6] |= 1 << (j & 63)
		return
	}
	st.growAdd(i, 1)
}

// Merge adds o's counts to s.
func (s *Sketch) Merge(o *Sketch) error {
	if o.alpha != s.alpha {
		return fmt.Errorf("cannot merge sketches of relative accuracy %v and %v", s.alpha, o.alpha)
	}
	s.pos.merge(&o.pos)
	s.neg.merge(&o.neg)
	s.zero += o.zero
	s.count += o.count
	return nil
}

// settle moves the buckets of small stores to their dense runs, for the
// readers that walk those.
func (s *Sketch) settle() {
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
	s.zero, s.count = 0, 0
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

// store is a dense run of bucket counts starting at bucket offset. It grows (and
// allocates) only when a value lands outside the range seen so far, so the steady
// state of a stream allocates nothing. A bitset marks the non-empty buckets: a
// small window's few values spread over hundreds of buckets, and reading,
// storing and resetting the store then costs its values, not its range.
//
// Before it has a dense run, a store keeps its buckets in small, as pairs of
// bucket and count: a window of a few dozen values then costs a few bytes
// each, next to each other, instead of the dense run of their range (a
// kilobyte or more per sign, which a daemon of many models holds for every
// feature of every window open, and where a value lands in cold memory).
// The first sorted pairs are sorted by bucket, one a bucket, and take the
// values of their buckets in place; others are appended, and sorted in when
// read or when small is full. Once more than half of a full small are
// distinct buckets, or a count outgrows its pair, they move to the dense run
// for good: a store recycled through Reset keeps it.
type store struct {
	offset int
	counts []uint64
	set    []uint64 // bit j: counts[j] > 0
	small  []smallBucket
	sorted int
}

// smallBucket is a bucket and its count, of a store with no dense run yet:
// the bucket, biased to sort as unsigned, in the high half, so that pairs
// sort by bucket as integers do.
type smallBucket uint64

func newSmallBucket(i int, n uint64) smallBucket {
	return smallBucket(uint64(uint32(int32(i))^1<<31)<<32 | n)
}

func (b smallBucket) bucket() int   { return int(int32(uint32(b>>32) ^ 1<<31)) }
func (b smallBucket) count() uint64 { return uint64(uint32(b)) }

// smallBuckets is the most pairs a small store holds.
const smallBuckets = 64

// growthSlack is how many extra buckets a store reserves on each side when it
// grows, so that a slowly widening range does not reallocate on every new bucket.
const growthSlack = 32

func (st *store) add(i int, n uint64) {
	if n == 0 {
		return
	}
	if j := i - st.offset; uint(j) < uint(len(st.counts)) {
		st.set[j>>6] |= 1 << (j & 63)
		st.counts[j] += n
		return
	}
	st.growAdd(i, n)
}

// growAdd makes room for bucket i and adds n to it.
func (st *store) growAdd(i int, n uint64) {
	if st.counts == nil && st.addSmall(i, n) {
		return
	}
	st.grow(i)
	j := i - st.offset
	st.set[j>>6] |= 1 << (j & 63)
	st.counts[j] += n
}

// addSmall adds n to bucket i of a store with no dense run, unless it is
// time for one.
func (st *store) addSmall(i int, n uint64) bool {
	if int(int32(i)) != i || n > math.MaxUint32 {
		return false
	}
	b := newSmallBucket(i, n)
	lo, hi := 0, st.sorted
	for lo < hi {
		if m := int(uint(lo+hi) >> 1); st.small[m]>>32 < b>>32 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < st.sorted && st.small[lo]>>32 == b>>32 {
		if st.small[lo].count()+n > math.MaxUint32 {
			return false
		}
		st.small[lo] += smallBucket(n)
		return true
	}
	if len(st.small) == cap(st.small) {
		if cap(st.small) == 0 {
			st.small = make([]smallBucket, 0, smallBuckets)
		} else if st.tidy(); st.counts != nil || len(st.small) > smallBuckets/2 {
			return false
		}
	}
	st.small = append(st.small, b)
	return true
}

// tidy sorts the small pairs by bucket and adds up those of one bucket; a
// count that outgrows its pair moves them all to the dense run.
func (st *store) tidy() {
	if st.sorted == len(st.small) {
		return
	}
	sortBuckets(st.small)
	k := 0
	for _, b := range st.small[1:] {
		if last := &st.small[k]; b>>32 == *last>>32 {
			if last.count()+b.count() > math.MaxUint32 {
				st.settle()
				return
			}
			*last += smallBucket(b.count())
			continue
		}
		k++
		st.small[k] = b
	}
	st.small = st.small[:k+1]
	st.sorted = len(st.small)
}

// sortBuckets sorts small pairs for tidy: as slices.Sort does, or by bucket
// alone where the order of one bucket's pairs cannot change what tidy makes
// of them (their counts together fit a pair, so none overflows as they are
// added), with a radix sort of the buckets' offsets from the least, six bits
// a pass, while they span at most 4,096. Every numeric feature of every
// closed window sorts its few dozen pairs, and the comparison sort took
// several times as long.
func sortBuckets(small []smallBucket) {
	lo, hi := small[0]>>32, small[0]>>32
	var total uint64
	for _, b := range small {
		lo, hi = min(lo, b>>32), max(hi, b>>32)
		total += b.count()
	}
	if total > math.MaxUint32 || hi-lo >= 1<<12 {
		slices.Sort(small)
		return
	}
	var spare [smallBuckets]smallBucket
	src, dst := small, spare[:len(small)]
	for shift := 0; shift == 0 || (hi-lo)>>shift != 0; shift += 6 {
		var at [64]int
		for _, b := range src {
			at[(b>>32-lo)>>shift&63]++
		}
		n := 0
		for i, c := range at {
			at[i], n = n, n+c
		}
		for _, b := range src {
			d := (b>>32 - lo) >> shift & 63
			dst[at[d]] = b
			at[d]++
		}
		src, dst = dst, src
	}
	copy(small, src)
}

// settle moves the small pairs to the dense run.
func (st *store) settle() {
	if len(st.small) > 0 {
		st.grow(st.small[0].bucket())
	}
}

func (st *store) grow(i int) {
	if st.counts == nil {
		lo, hi := i, i
		for _, b := range st.small {
			lo, hi = min(lo, b.bucket()), max(hi, b.bucket())
		}
		st.alloc(lo-growthSlack, hi-lo+2*growthSlack+1)
		for _, b := range st.small {
			j := b.bucket() - st.offset
			st.counts[j] += b.count()
			st.set[j>>6] |= 1 << (j & 63)
		}
		st.small, st.sorted = st.small[:0], 0
		return
	}
	// Growing by a fixed slack, rather than by a share of the range, keeps
	// long-lived summaries and open windows at the size of their range (a
	// quarter more cost a hundred models' daemon 4% of its live heap and more
	// churn); the growth a new window goes through is what reusing windows
	// (Reset) saves.
	lo, hi := st.offset, st.offset+len(st.counts)-1
	if i < lo {
		lo = i - growthSlack
	}
	if i > hi {
		hi = i + growthSlack
	}
	old := *st
	st.alloc(lo, hi-lo+1)
	shift := old.offset - lo
	for j := old.next(0); j < len(old.counts); j = old.next(j + 1) {
		k := j + shift
		st.counts[k] = old.counts[j]
		st.set[k>>6] |= 1 << (k & 63)
	}
}

// load makes an empty store hold counts from bucket offset on, in one
// allocation, and returns their sum. A baseline's run of thousands of
// buckets, added one by one, grew the store by its slack over and over: a
// hundred models' baselines took a third of a second to read back.
func (st *store) load(offset int, counts []uint64) uint64 {
	if len(counts) == 0 {
		return 0
	}
	st.alloc(offset, len(counts))
	var sum uint64
	for j, c := range counts {
		if c > 0 {
			st.counts[j] = c
			st.set[j>>6] |= 1 << (j & 63)
			sum += c
		}
	}
	return sum
}

// alloc gives the store n empty buckets from offset, counts and bitset in one
// allocation.
func (st *store) alloc(offset, n int) {
	words := make([]uint64, n+(n+63)/64)
	st.offset, st.counts, st.set = offset, words[:n:n], words[n:]
}

// next returns the first non-empty bucket at or after j (an index into
// counts), or len(counts).
func (st *store) next(j int) int {
	w := j >> 6
	if w >= len(st.set) {
		return len(st.counts)
	}
	b := st.set[w] & (^uint64(0) << (j & 63))
	for b == 0 {
		w++
		if w == len(st.set) {
			return len(st.counts)
		}
		b = st.set[w]
	}
	return w<<6 + bits.TrailingZeros64(b)
}

// prev returns the last non-empty bucket at or before j, or -1.
func (st *store) prev(j int) int {
	if j < 0 {
		return -1
	}
	w := j >> 6
	b := st.set[w] & (^uint64(0) >> (63 - j&63))
	for b == 0 {
		w--
		if w < 0 {
			return -1
		}
		b = st.set[w]
	}
	return w<<6 + 63 - bits.LeadingZeros64(b)
}

// last returns the last non-empty bucket, or -1.
func (st *store) last() int { return st.prev(len(st.counts) - 1) }

// reset empties the store, keeping its memory.
func (st *store) reset() {
	for j := st.next(0); j < len(st.counts); j = st.next(j + 1) {
		st.counts[j] = 0
	}
	clear(st.set)
	st.small, st.sorted = st.small[:0], 0
}

// index marks the non-empty buckets of counts set by hand.
func (st *store) index() {
	st.set = make([]uint64, (len(st.counts)+63)/64)
	for j, c := range st.counts {
		if c > 0 {
			st.set[j>>6] |= 1 << (j & 63)
		}
	}
}

func (st *store) merge(o *store) {
	for _, b := range o.small {
		st.add(b.bucket(), b.count())
	}
	for j := o.next(0); j < len(o.counts); j = o.next(j + 1) {
		st.add(o.offset+j, o.counts[j])
	}
}

// sparse lists the non-empty buckets for the baseline file.
func (st *store) sparse() (offset int, counts []uint64) {
	st.settle()
	first, last := st.next(0), st.last()
	if last < 0 {
		return 0, nil
	}
	return st.offset + first, append([]uint64(nil), st.counts[first:last+1]...)
}
