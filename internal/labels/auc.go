package labels

import (
	"math"
	"slices"
)

// aucBins is the bounded form of the ROC AUC: per-class counts in buckets given by a
// fixed monotone map of the score. Pairs in different buckets are ordered exactly;
// a (positive, negative) pair sharing a bucket is counted as a tie (½) when its
// true contribution is 0, ½ or 1, so the AUC from the buckets is within
// ½·Σ_b pos_b·neg_b / (P·N) of the exact one. That bound is computed for every
// window and reported with the value rather than assumed.
//
// A bucket whose scores are all one value holds only true ties, so it adds nothing
// to the bound: models with few distinct outputs (rounded scores, small trees) keep
// a tight bound however many pairs share a value.
//
// Buckets keep the float's exponent and top mantissaBits mantissa bits, so each is
// 2^-9 ≈ 0.2% wide relative to its values: for probabilities relative to min(p,
// 1-p), which resolves both tails where imbalanced models put most of their mass,
// and for scores relative to |s|. Because the map is fixed, histograms from
// different partitions add exactly.
type aucBins struct {
	pos, neg []uint64
	// value is the first score seen in each bucket and mixed a bitset of the
	// buckets that have seen another.
	value []float64
	mixed []uint64
}

const (
	mantissaBits = 9
	shift        = 52 - mantissaBits
	// Probabilities are clipped to [1e-15, 1-1e-15] for the log loss; below 2^-50
	// (≈ 8.9e-16) min(p, 1-p) shares the lowest bucket.
	probLow = -50
	// Scores with |s| below 2^-30 (≈ 9.3e-10) share the buckets next to zero, and
	// above 2^30 (≈ 1.07e9) the outermost ones.
	scoreLow, scoreHigh = -30, 30
)

// magBucket maps x > 0 monotonically to [0, n) with exponents from lowExp up to
// (not including) highExp, clamping outside; positive floats' bit patterns are
// ordered like their values, so the top bits are a monotone bucket.
func magBucket(x float64, lowExp, highExp int) (int, int) {
	// The bit pattern of 2^e is (1023+e)<<52.
	lo := uint64(1023+lowExp) << mantissaBits
	hi := uint64(1023+highExp) << mantissaBits
	n := int(hi - lo + 1)
	b := math.Float64bits(x) >> shift
	switch {
	case x <= 0 || b < lo:
		return 0, n
	case b > hi:
		return n - 1, n
	}
	return int(b - lo), n
}

// bucketProb orders probabilities by min(p, 1-p) on each side of ½; 1-p is exact
// for p ≥ ½ (Sterbenz), so the upper half is as fine as the lower one.
func bucketProb(p float64) (int, int) {
	if p <= 0.5 {
		b, h := magBucket(p, probLow, -1)
		return b, 2 * h
	}
	b, h := magBucket(1-p, probLow, -1)
	return 2*h - 1 - b, 2 * h
}

func bucketScore(s float64) (int, int) {
	if s < 0 {
		b, h := magBucket(-s, scoreLow, scoreHigh)
		return h - 1 - b, 2 * h
	}
	b, h := magBucket(s, scoreLow, scoreHigh)
	return h + b, 2 * h
}

func (a *aucBins) add(bucket func(float64) (int, int), score float64, positive bool, n uint64) {
	b, size := bucket(score)
	if a.pos == nil {
		a.pos, a.neg = make([]uint64, size), make([]uint64, size)
		a.value, a.mixed = make([]float64, size), make([]uint64, (size+63)/64)
	}
	switch {
	case a.pos[b]+a.neg[b] == 0:
		a.value[b] = score
	case score != a.value[b]:
		a.mixed[b/64] |= 1 << (b % 64)
	}
	if positive {
		a.pos[b] += n
	} else {
		a.neg[b] += n
	}
}

func (a *aucBins) merge(o *aucBins) {
	if o.pos == nil {
		return
	}
	if a.pos == nil {
		a.pos, a.neg = slices.Clone(o.pos), slices.Clone(o.neg)
		a.value, a.mixed = slices.Clone(o.value), slices.Clone(o.mixed)
		return
	}
	for i := range a.mixed {
		a.mixed[i] |= o.mixed[i]
	}
	for i := range a.pos {
		switch {
		case o.pos[i]+o.neg[i] == 0:
		case a.pos[i]+a.neg[i] == 0:
			a.value[i] = o.value[i]
		case a.value[i] != o.value[i]:
			a.mixed[i/64] |= 1 << (i % 64)
		}
		a.pos[i] += o.pos[i]
		a.neg[i] += o.neg[i]
	}
}

// auc returns the bucketed AUC and its error bound; ok is false without both classes.
func (a *aucBins) auc() (auc, bound float64, ok bool) {
	var pairs, within, sumPos, sumNeg float64
	for i := range a.pos {
		p, n := float64(a.pos[i]), float64(a.neg[i])
		pairs += p * (sumNeg + n/2)
		if a.mixed[i/64]&(1<<(i%64)) != 0 {
			within += p * n
		}
		sumPos += p
		sumNeg += n
	}
	if sumPos == 0 || sumNeg == 0 {
		return 0, 0, false
	}
	total := sumPos * sumNeg
	return pairs / total, within / (2 * total), true
}

// exactAUC is the Mann-Whitney statistic with ties counted ½, which equals the
// trapezoidal ROC area sklearn's roc_auc_score computes. It sorts its arguments.
func exactAUC(pos, neg []float64) (float64, bool) {
	if len(pos) == 0 || len(neg) == 0 {
		return 0, false
	}
	slices.Sort(pos)
	slices.Sort(neg)
	// Counts stay below 2^53, so the sum is exact and the only rounding is the
	// final division.
	var pairs float64
	lo, hi := 0, 0 // neg[:lo] < v, neg[lo:hi] == v
	for _, v := range pos {
		for lo < len(neg) && neg[lo] < v {
			lo++
		}
		hi = max(hi, lo)
		for hi < len(neg) && neg[hi] == v {
			hi++
		}
		pairs += float64(lo) + float64(hi-lo)/2
	}
	return pairs / (float64(len(pos)) * float64(len(neg))), true
}
