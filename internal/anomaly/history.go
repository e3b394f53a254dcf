package anomaly

import "math"

// narrow copies a row into the history's precision; a value past float32's
// range is kept as missing rather than as an infinity the fit would choke on.
func narrow(dst []float32, row []float64) {
	for i, x := range row {
		if math.Abs(x) > math.MaxFloat32 {
			x = math.NaN()
		}
		dst[i] = float32(x)
	}
}

// ring holds the latest rows of a history, up to a capacity, in chunks of
// rows allocated as the rows arrive: remembering a window allocates a chunk
// once in chunkRows windows, and the chunks are large enough to live apart
// from the small, short-lived memory of the daemon's windows.
//
// Sampling contexts, once a row has one, are kept beside the values as a kind
// and two single-precision numbers per value (9 bytes where the value takes
// 4): N, with the two samples of a distance statistic folded into their
// effective size NM/(N+M), which is all its sampling model reads, and Scale.
type ring struct {
	chunks          [][]float32 // chunkRows rows of width values each
	width, capacity int
	first, rows     int // the oldest row's slot, and how many are held
	// Sampling, parallel to chunks; nil until a row comes with sampling.
	kinds     [][]SamplingKind
	ns, scale [][]float32
}

const chunkRows = 64

func newRing(capacity, width int) *ring {
	return &ring{width: width, capacity: capacity}
}

func (r *ring) slot(k int) []float32 {
	o := (k % chunkRows) * r.width
	return r.chunks[k/chunkRows][o : o+r.width]
}

// next returns the index of a new latest row's slot, the oldest one's when
// full, allocating chunks as needed.
func (r *ring) next() int {
	k := (r.first + r.rows) % r.capacity
	if r.rows == r.capacity {
		r.first = (r.first + 1) % r.capacity
	} else {
		r.rows++
	}
	for k/chunkRows >= len(r.chunks) {
		r.chunks = append(r.chunks, make([]float32, chunkRows*r.width))
		if r.kinds != nil {
			r.addSamplingChunk()
		}
	}
	return k
}

func (r *ring) addSamplingChunk() {
	r.kinds = append(r.kinds, make([]SamplingKind, chunkRows*r.width))
	r.ns = append(r.ns, make([]float32, chunkRows*r.width))
	r.scale = append(r.scale, make([]float32, chunkRows*r.width))
}

// add keeps a row and its sampling (nil: none known).
func (r *ring) add(row []float64, sampling []Sampling) {
	k := r.next()
	narrow(r.slot(k), row)
	if sampling == nil && r.kinds == nil {
		return
	}
	if r.kinds == nil {
		for range r.chunks {
			r.addSamplingChunk()
		}
	}
	o := (k % chunkRows) * r.width
	kinds := r.kinds[k/chunkRows][o : o+r.width]
	ns := r.ns[k/chunkRows][o : o+r.width]
	scale := r.scale[k/chunkRows][o : o+r.width]
	for j := range kinds {
		kinds[j], ns[j], scale[j] = SamplingUnknown, 0, 0
		if sampling == nil || !sampling[j].known() {
			continue
		}
		s := sampling[j]
		n := s.N
		if s.M > 0 {
			n = 1 / s.invN()
		}
		kinds[j], ns[j], scale[j] = s.Kind, float32(n), float32(s.Scale)
	}
}

// widened returns the rows, oldest first, in double precision for a fit, with
// their sampling (nil when no row has any).
func (r *ring) widened() ([][]float64, [][]Sampling) {
	out := make([][]float64, r.rows)
	var samp [][]Sampling
	if r.kinds != nil {
		samp = make([][]Sampling, r.rows)
	}
	for i := range out {
		k := (r.first + i) % r.capacity
		out[i] = make([]float64, r.width)
		for j, x := range r.slot(k) {
			out[i][j] = float64(x)
		}
		if samp == nil {
			continue
		}
		samp[i] = make([]Sampling, r.width)
		o := (k % chunkRows) * r.width
		for j := range r.width {
			c := k / chunkRows
			samp[i][j] = Sampling{Kind: r.kinds[c][o+j], N: float64(r.ns[c][o+j]), Scale: float64(r.scale[c][o+j])}
		}
	}
	return out, samp
}
