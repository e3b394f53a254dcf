package shadow

import (
	"encoding/binary"

	"github.com/sentinel-ml/sentinel/internal/binstate"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/profile"
)

// AppendState appends the window's pairs in a binary form that ReadWindow
// reads back exactly, so that a window's share can travel between processes:
//
//	pairs, disagree, reference only, candidate only, evicted   uvarints
//	sum, compensation                                          float64s
//	differences                                                byte 0, or 1 then the sketch's state
func (w *Window) AppendState(dst []byte) []byte {
	for _, n := range [...]uint64{w.Pairs, w.Disagree, w.ReferenceOnly, w.CandidateOnly, w.Evicted} {
		dst = binary.AppendUvarint(dst, n)
	}
	dst = binstate.AppendFloat(binstate.AppendFloat(dst, w.sum), w.comp)
	if w.diffs == nil {
		return append(dst, 0)
	}
	return w.diffs.AppendState(append(dst, 1))
}

// ReadWindow reads a window of a model whose predictions are of kind, as
// AppendState wrote it; r fails on a malformed one.
func ReadWindow(kind config.PredictionKind, r *binstate.Reader) *Window {
	w := &Window{kind: kind}
	for _, n := range [...]*uint64{&w.Pairs, &w.Disagree, &w.ReferenceOnly, &w.CandidateOnly, &w.Evicted} {
		*n = r.Uvarint()
	}
	w.sum, w.comp = r.Float(), r.Float()
	has := r.Byte()
	switch {
	case has == 1 && kind != config.Class:
		w.diffs = profile.ReadSketch(r)
	case has != 0 || kind != config.Class:
		r.Fail() // a sketch where the kind has none, or none where it has
	}
	return w
}
