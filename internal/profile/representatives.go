package profile

import (
	"math"
	"sync"
)

// Nearly every sketch has the default accuracy, and every closed window reads
// its sketches back as atoms: a bucket's representative then costs two
// cubics solved by Newton's method (exp2Approx), for the same buckets window
// after window. For the default accuracy they are read from a table instead,
// built a page at a time as buckets are first read. The table is a constant
// computed late, not state: each entry is what value gives, to the bit, and
// is written once (sync.Once) before any read.

// defaultMultiplier is the multiplier of a sketch of DefaultRelativeAccuracy,
// computed as NewSketch computes it.
var defaultMultiplier = multiplierOf(DefaultRelativeAccuracy)

// multiplierOf is the buckets per unit of approxLog2 at relative accuracy
// alpha.
func multiplierOf(alpha float64) float64 {
	gamma := (1 + alpha) / (1 - alpha)
	return stretch / math.Log(gamma)
}

const (
	repPageBits = 9
	repPageSize = 1 << repPageBits
	// repPages covers buckets -repPages/2·repPageSize to repPages/2·repPageSize:
	// every index of a finite float at the default accuracy (about ±72,000).
	repPages = 1 << 9
)

var defaultReps [repPages]struct {
	once sync.Once
	page *[repPageSize]float64
}

// defaultRepresentative returns the representative of bucket i of a sketch
// of the default accuracy; ok is false outside the table.
func defaultRepresentative(i int) (r float64, ok bool) {
	k := i + repPages/2*repPageSize
	if uint(k) >= repPages*repPageSize {
		return 0, false
	}
	p := &defaultReps[k>>repPageBits]
	p.once.Do(func() {
		page := new([repPageSize]float64)
		first := k&^(repPageSize-1) - repPages/2*repPageSize
		for j := range page {
			page[j] = representative(exp2Approx(float64(first+j-1)/defaultMultiplier), exp2Approx(float64(first+j)/defaultMultiplier))
		}
		p.page = page
	})
	return p.page[k&(repPageSize-1)], true
}
