package profile

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
)

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
	sortBuckets(st.small, st.sorted)
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

// insertionMax is the most entries a small store or register list is sorted
// by insertion rather than by radix: a radix pass walks its 64 digit counts
// whatever the entries, and at the two dozen values a small window's sketch
// holds per sign the passes cost about four times the insertions (3,800
// instructions a sort, 14% of a fleet's replay with the registers').
const insertionMax = 32

// insertSorted sorts s, whose first sorted entries are in order, by inserting
// the others.
func insertSorted[T cmp.Ordered](s []T, sorted int) {
	for i := max(sorted, 1); i < len(s); i++ {
		x, j := s[i], i
		for ; j > 0 && s[j-1] > x; j-- {
			s[j] = s[j-1]
		}
		s[j] = x
	}
}

// sortBuckets sorts small pairs for tidy, the first sorted of them in order
// already: up to insertionMax by inserting the others; past it as slices.Sort
// does, or by bucket alone where the order of one bucket's pairs cannot
// change what tidy makes of them (their counts together fit a pair, so none
// overflows as they are added), with a radix sort of the buckets' offsets
// from the least, six bits a pass, while they span at most 4,096. Every numeric feature of every
// closed window sorts its few dozen pairs, and the comparison sort took
// several times as long.
func sortBuckets(small []smallBucket, sorted int) {
	if len(small) <= insertionMax {
		insertSorted(small, sorted)
		return
	}
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
