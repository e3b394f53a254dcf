package anomaly

import (
	"errors"
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// PCA is a principal component basis of standardised metrics.
type PCA struct {
	// Loadings is metrics × components, columns ordered by explained variance.
	Loadings *mat.Dense
	// Explained is the share of total variance each retained component explains.
	Explained []float64
}

// FitPCA finds the principal components of z, an observations × metrics matrix of
// standardised values without gaps, and keeps the fewest components whose explained
// shares sum to at least share, never more than maxComponents (0 for no cap).
func FitPCA(z *mat.Dense, share float64, maxComponents int) (*PCA, error) {
	return fitPCA(z, share, maxComponents, nil)
}

// isolateNoise is how many times its whole variance a metric's sampling
// variance must be for the metric to share no component (see fitPCA).
const isolateNoise = 4

// fitPCA is FitPCA on the covariance of z less noise on its diagonal (nil for
// none): the variance each metric owes to sampling noise, which is its own
// and shared with no other. Left in, it would make a component of each metric
// noisy enough, where it belongs in the residual, whose sampling spread the
// detector knows. Each diagonal keeps at least a hundredth of its variance.
//
// A metric whose sampling variance is more than isolateNoise times its whole
// variance shares no component: its covariances with the others are set to
// zero, which leaves it an eigenvector of its own, too small to be retained,
// and no loading on the retained ones. Such a metric is a rate that is zero in
// almost every window, whose sampling spread is floored at one item in N (see
// Sampling.variance): the out-of-range ratio of a Cauchy-like feature at 1,000
// events a minute, whose one out-of-range value in a window is 40 of its
// standard deviations. Through a component, that jump reached every other
// metric's residual, and its floored sampling variance, 1,700 times its whole
// one, was charged to theirs: they took variances 5 to 30 times what they
// showed, and a shift of 4 standard errors scored as 1 (trafficbench).
func fitPCA(z *mat.Dense, share float64, maxComponents int, noise []float64) (*PCA, error) {
	n, m := z.Dims()
	if n < 2 || m < 1 {
		return nil, fmt.Errorf("fit pca: %d×%d matrix: need at least 2 rows and 1 column", n, m)
	}
	cov := mat.NewSymDense(m, nil)
	cov.SymOuterK(1/float64(n-1), z.T())
	for i, w := range noise {
		c := cov.At(i, i)
		if w > 0 {
			cov.SetSym(i, i, max(c-w, c/100))
		}
		if w > isolateNoise*c {
			for j := range m {
				if j != i {
					cov.SetSym(i, j, 0)
				}
			}
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		return nil, errors.New("fit pca: eigendecomposition did not converge")
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	total := 0.0
	for _, v := range vals {
		total += max(v, 0)
	}
	if total <= 0 {
		return nil, errors.New("fit pca: all metrics are constant")
	}
	limit := m
	if maxComponents > 0 {
		limit = min(limit, maxComponents)
	}
	var explained []float64
	cum := 0.0
	for i := m - 1; i >= 0 && len(explained) < limit && cum < share; i-- {
		r := max(vals[i], 0) / total
		explained = append(explained, r)
		cum += r
	}
	k := len(explained)
	load := mat.NewDense(m, k, nil)
	for j := range k {
		col := m - 1 - j
		// Fix each component's sign so that its largest loading is positive: refits
		// then describe the same direction the same way.
		big, sign := 0.0, 1.0
		for i := range m {
			if v := vecs.At(i, col); v*v > big {
				big = v * v
				sign = 1
				if v < 0 {
					sign = -1
				}
			}
		}
		for i := range m {
			load.Set(i, j, sign*vecs.At(i, col))
		}
	}
	return &PCA{Loadings: load, Explained: explained}, nil
}
