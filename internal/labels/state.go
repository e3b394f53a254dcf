package labels

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/sentinel-ml/sentinel/internal/binstate"
	"github.com/sentinel-ml/sentinel/internal/config"
)

// stateVersion is the first byte of a Performance's serialised state, which
// outlives the process: partial windows of a model from several partitions are
// stored and merged later.
const stateVersion = 1

// MarshalState serialises the accumulator exactly: every count, each
// compensated sum as its two floats, the scores held for the exact AUC or the
// AUC's buckets. UnmarshalState reads it back, and Merge of what it reads is
// the Merge of the originals.
func (p *Performance) MarshalState() []byte {
	n := 96 + 8*(len(p.pos)+len(p.neg))
	if p.binned {
		n += 4 * len(p.bins.pos)
	}
	return p.AppendState(make([]byte, 0, n))
}

// AppendState appends the state MarshalState returns to dst:
//
//	version byte (stateVersion)
//	kind                          uvarint length and bytes
//	threshold                     float64
//	exact AUC limit, n, correct,
//	positives                     uvarints
//	sums of predictions, log
//	loss, |error|, error², error  two float64s each
//	AUC                           byte 0 then the held positive and negative
//	                              scores (uvarint count, float64s each), or
//	                              byte 1 then the buckets: their number, the
//	                              non-empty ones' count, and for each the gap
//	                              from the previous (uvarint), its positive and
//	                              negative counts, its first score (float64)
//	                              and whether it has seen another (byte)
//
// float64s are their IEEE bits, little-endian.
func (p *Performance) AppendState(dst []byte) []byte {
	dst = append(dst, stateVersion)
	dst = binary.AppendUvarint(dst, uint64(len(p.kind)))
	dst = append(dst, p.kind...)
	dst = binstate.AppendFloat(dst, p.threshold)
	for _, n := range [...]int64{int64(p.limit), p.n, p.correct, p.positives} {
		dst = binary.AppendUvarint(dst, uint64(n))
	}
	for _, s := range [...]sum{p.sumPred, p.logLoss, p.absErr, p.sqErr, p.err} {
		dst = binstate.AppendFloat(binstate.AppendFloat(dst, s.s), s.c)
	}
	if !p.binned {
		dst = append(dst, 0)
		for _, xs := range [...][]float64{p.pos, p.neg} {
			dst = binary.AppendUvarint(dst, uint64(len(xs)))
			for _, x := range xs {
				dst = binstate.AppendFloat(dst, x)
			}
		}
		return dst
	}
	a := &p.bins
	dst = append(dst, 1)
	dst = binary.AppendUvarint(dst, uint64(len(a.pos)))
	k := 0
	for i := range a.pos {
		if a.pos[i]+a.neg[i] > 0 {
			k++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(k))
	last := -1
	for i := range a.pos {
		if a.pos[i]+a.neg[i] == 0 {
			continue
		}
		dst = binary.AppendUvarint(dst, uint64(i-last))
		dst = binary.AppendUvarint(dst, a.pos[i])
		dst = binary.AppendUvarint(dst, a.neg[i])
		dst = binstate.AppendFloat(dst, a.value[i])
		dst = append(dst, byte(a.mixed[i/64]>>(i%64)&1))
		last = i
	}
	return dst
}

// errMalformed says that a state ends early or holds what no accumulator does.
var errMalformed = errors.New("malformed performance state")

// UnmarshalState reads a Performance written by MarshalState. It refuses, with
// an error, bytes that are not such a state: counts that do not add up, scores
// the kind cannot have, buckets of another kind.
func UnmarshalState(data []byte) (*Performance, error) {
	p, err := readState(data)
	if err != nil {
		return nil, fmt.Errorf("reading performance state: %w", err)
	}
	return p, nil
}

func readState(data []byte) (*Performance, error) {
	r := binstate.NewReader(data, errMalformed)
	if v := r.Byte(); v != stateVersion {
		if r.Err() != nil {
			return nil, r.Err()
		}
		return nil, fmt.Errorf("state version %d is not supported (want %d)", v, stateVersion)
	}
	kind := config.PredictionKind(r.Bytes())
	threshold := r.Float()
	limit, n, correct, positives := r.Uvarint(), r.Uvarint(), r.Uvarint(), r.Uvarint()
	if r.Err() != nil {
		return nil, r.Err()
	}
	cfg := PerformanceConfig{Kind: kind}
	if kind == config.Probability || kind == config.Score {
		cfg.Threshold = &threshold
	} else if threshold != 0 {
		return nil, fmt.Errorf("%w: a threshold for %s predictions", errMalformed, kind)
	}
	if limit == 0 || limit > math.MaxInt32 || n > math.MaxInt64/2 || correct > n || positives > n {
		return nil, fmt.Errorf("%w: counts out of range", errMalformed)
	}
	cfg.ExactAUCLimit = int(limit)
	p, err := NewPerformance(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	p.n, p.correct, p.positives = int64(n), int64(correct), int64(positives)
	for _, s := range [...]*sum{&p.sumPred, &p.logLoss, &p.absErr, &p.sqErr, &p.err} {
		s.s, s.c = r.Float(), r.Float()
	}
	scored := kind == config.Probability || kind == config.Score
	switch r.Byte() {
	case 0:
		for _, xs := range [...]*[]float64{&p.pos, &p.neg} {
			m := r.Count(8)
			if m == 0 {
				continue
			}
			*xs = make([]float64, m)
			for i := range *xs {
				x := r.Float()
				if !p.validScore(x) {
					return nil, fmt.Errorf("%w: score %g", errMalformed, x)
				}
				(*xs)[i] = x
			}
		}
		held := len(p.pos) + len(p.neg)
		switch {
		case r.Err() != nil:
		case scored && (len(p.pos) != int(positives) || held != int(n)):
			return nil, fmt.Errorf("%w: %d and %d scores for %d pairs, %d positive", errMalformed, len(p.pos), len(p.neg), n, positives)
		case !scored && (held > 0 || positives > 0):
			return nil, fmt.Errorf("%w: scores of %s predictions", errMalformed, kind)
		case held > p.limit:
			return nil, fmt.Errorf("%w: more scores than the exact limit", errMalformed)
		}
	case 1:
		if !scored {
			return nil, fmt.Errorf("%w: AUC buckets for %s predictions", errMalformed, kind)
		}
		p.binned = true
		if err := p.readBins(&r); err != nil {
			return nil, err
		}
	default:
		r.Fail()
	}
	if r.Err() == nil && r.Len() > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the end", errMalformed, r.Len())
	}
	if r.Err() != nil {
		return nil, r.Err()
	}
	return p, nil
}

func (p *Performance) validScore(x float64) bool {
	switch p.kind {
	case config.Probability:
		return x >= 0 && x <= 1
	case config.Score:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	return false
}

func (p *Performance) readBins(r *binstate.Reader) error {
	_, size := p.bucket(0)
	if got := r.Uvarint(); got != uint64(size) {
		if r.Err() != nil {
			return r.Err()
		}
		return fmt.Errorf("%w: %d AUC buckets, want %d", errMalformed, got, size)
	}
	a := &p.bins
	a.pos, a.neg = make([]uint64, size), make([]uint64, size)
	a.value, a.mixed = make([]float64, size), make([]uint64, (size+63)/64)
	var total, positives uint64
	last := -1
	for k := r.Count(12); k > 0 && r.Err() == nil; k-- {
		gap := r.Uvarint()
		if gap == 0 || gap > uint64(size-1-last) {
			return fmt.Errorf("%w: AUC bucket out of range", errMalformed)
		}
		i := last + int(gap)
		pos, neg, x, mixed := r.Uvarint(), r.Uvarint(), r.Float(), r.Byte()
		if r.Err() != nil {
			break
		}
		if pos+neg == 0 || pos+neg < pos || mixed > 1 || !p.validScore(x) {
			return fmt.Errorf("%w: AUC bucket %d", errMalformed, i)
		}
		if b, _ := p.bucket(x); b != i {
			return fmt.Errorf("%w: score %g is not of AUC bucket %d", errMalformed, x, i)
		}
		a.pos[i], a.neg[i], a.value[i] = pos, neg, x
		a.mixed[i/64] |= uint64(mixed) << (i % 64)
		total += pos + neg
		positives += pos
		if total < pos+neg {
			return fmt.Errorf("%w: AUC counts overflow", errMalformed)
		}
		last = i
	}
	if r.Err() == nil && (total != uint64(p.n) || positives != uint64(p.positives)) {
		return fmt.Errorf("%w: AUC buckets hold %d pairs (%d positive), counts say %d (%d)", errMalformed, total, positives, p.n, p.positives)
	}
	return r.Err()
}
