package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/binstate"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/shadow"
	"github.com/sentinel-ml/sentinel/internal/versions"
)

// partialVersion is the first byte of a window's binary form.
const partialVersion = 1

// errMalformed says bytes are not a window AppendPartial wrote.
var errMalformed = errors.New("malformed window")

// AppendPartial appends everything the window holds, in a binary form that
// ReadPartial reads back to an equal window: unlike Rows, which keep what a
// restart needs, it carries the label pairs' quality, the keyed comparisons,
// the shadow pairs and the versions too, so that a partition's share of a
// window can be merged in another process.
//
//	version byte (partialVersion)
//	start, end                       varints, Unix nanoseconds
//	events, out-of-range, bad labels uvarints
//	records                          uvarint
//	unexpected fields                uvarint count, then name and count each,
//	                                 in byte order; then the rest's count
//	features                         uvarint count, then each profile's state
//	                                 (length and bytes)
//	prediction, latency              each profile's state (length and bytes)
//	performance                      byte 0, or 1 then its state (length and bytes)
//	keyed comparisons                uvarint count, then compared and mismatched each
//	shadow pairs                     byte 0, or 1 then their state
//	version mix                      byte 0, or 1 then its state
//	versions' profiles               byte 0, or 1 then a count, then label and
//	                                 window (length and bytes) each
func (w *Window) AppendPartial(dst []byte) []byte {
	// A window of small profiles is written in hundreds of appends: grown
	// once to about the size it took last (a recycled window's), not
	// doubled a dozen times.
	at := len(dst)
	dst = w.appendPartial(slices.Grow(dst, max(w.partialBytes+w.partialBytes/8, 64*(len(w.Features.Features)+2))))
	w.partialBytes = len(dst) - at
	return dst
}

func (w *Window) appendPartial(dst []byte) []byte {
	dst = append(dst, partialVersion)
	dst = binary.AppendVarint(dst, w.Start.UnixNano())
	dst = binary.AppendVarint(dst, w.End.UnixNano())
	for _, n := range [...]uint64{w.Events, w.ProbabilityOutOfRange, w.BadLabels, w.Features.Records} {
		dst = binary.AppendUvarint(dst, n)
	}
	names := make([]string, 0, len(w.Features.Unexpected))
	for k := range w.Features.Unexpected {
		names = append(names, k)
	}
	slices.Sort(names)
	dst = binary.AppendUvarint(dst, uint64(len(names)))
	for _, k := range names {
		dst = binstate.AppendBytes(dst, k)
		dst = binary.AppendUvarint(dst, w.Features.Unexpected[k])
	}
	dst = binary.AppendUvarint(dst, w.Features.UnexpectedOther)
	dst = binary.AppendUvarint(dst, uint64(len(w.Features.Features)))
	for _, f := range append(slices.Clip(w.Features.Features), w.Prediction, w.Latency) {
		dst = appendSized(dst, f.AppendState)
	}
	if w.Performance == nil {
		dst = append(dst, 0)
	} else {
		dst = appendSized(append(dst, 1), w.Performance.AppendState)
	}
	dst = binary.AppendUvarint(dst, uint64(len(w.KeyedCompared)))
	for i := range w.KeyedCompared {
		dst = binary.AppendUvarint(binary.AppendUvarint(dst, w.KeyedCompared[i]), w.KeyedMismatch[i])
	}
	if w.Shadow == nil {
		dst = append(dst, 0)
	} else {
		dst = w.Shadow.AppendState(append(dst, 1))
	}
	if w.Versions == nil {
		dst = append(dst, 0)
	} else {
		dst = w.Versions.AppendState(append(dst, 1))
	}
	if w.ByVersion == nil {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	n := 0
	w.ByVersion.Each(func(string, *Window) { n++ })
	dst = binary.AppendUvarint(dst, uint64(n))
	w.ByVersion.Each(func(label string, v *Window) {
		dst = binstate.AppendBytes(dst, label)
		dst = appendSized(dst, v.AppendPartial)
	})
	return dst
}

// appendSized appends what appendTo writes, after its length.
func appendSized(dst []byte, appendTo func([]byte) []byte) []byte {
	// The state is written after room for a length of two bytes, most
	// states' (128 bytes to 16 KiB), which then goes there: it is moved
	// only when its length takes another number of bytes.
	const room = 2
	at := len(dst)
	dst = appendTo(append(dst, make([]byte, room)...))
	n := len(dst) - at - room
	var lenBuf [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(lenBuf[:], uint64(n))
	if k != room {
		end := len(dst)
		dst = slices.Grow(dst, max(k-room, 0))[:end+k-room]
		copy(dst[at+k:], dst[at+room:end])
	}
	copy(dst[at:], lenBuf[:k])
	return dst
}

// ReadPartial reads a window of m that AppendPartial wrote. It refuses, with
// an error, bytes that are not one: a state of other features, counts that
// run past the end, bytes after it. The window keeps slices of data, for the
// states of its rows: data is not to change after.
func ReadPartial(m *model.Model, data []byte) (*Window, error) {
	return readWindow(m, data, nil)
}

// ReadPartialInto reads a window of m that AppendPartial wrote into w, a
// window of m that may have held another (New's or Reset's), in the memory
// its profiles have: a process that reads many windows' shares recycles
// them rather than allocate and grow every feature's sketch and registers
// for each. The profiles' states must be of w's sketch accuracies and bin
// edges. After an error w is to be Reset before it is used again. As with
// ReadPartial, data is not to change after.
func ReadPartialInto(w *Window, m *model.Model, data []byte) error {
	_, err := readWindow(m, data, w)
	return err
}

func readWindow(m *model.Model, data []byte, into *Window) (*Window, error) {
	r := binstate.NewReader(data, errMalformed)
	w, err := readPartial(m, &r, true, into)
	if err == nil && r.Err() == nil && r.Len() > 0 {
		err = fmt.Errorf("%w: %d bytes after the end", errMalformed, r.Len())
	}
	if err == nil {
		err = r.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("reading a window of model %s: %w", m.Name(), err)
	}
	return w, nil
}

// readPartial reads a window, into w when it is not nil, or a new one; top
// says it is a model's, whose versions' profiles it may hold, not a
// version's.
func readPartial(m *model.Model, r *binstate.Reader, top bool, w *Window) (*Window, error) {
	if v := r.Byte(); v != partialVersion {
		if r.Err() != nil {
			return nil, r.Err()
		}
		return nil, fmt.Errorf("window version %d is not supported (want %d)", v, partialVersion)
	}
	start, end := time.Unix(0, r.Varint()).UTC(), time.Unix(0, r.Varint()).UTC()
	events, outOfRange, badLabels, records := r.Uvarint(), r.Uvarint(), r.Uvarint(), r.Uvarint()
	var unexpected map[string]uint64
	if w != nil {
		// Every profile is read below, and reading one empties it first.
		w.resetCounts(start, end.Sub(start))
		unexpected = w.Features.Unexpected
	}
	if unexpected == nil {
		unexpected = make(map[string]uint64)
	}
	for i, n := 0, r.Count(2); i < n && r.Err() == nil; i++ {
		k := r.Bytes()
		unexpected[string(k)] = r.Uvarint()
	}
	unexpectedOther := r.Uvarint()
	specs := m.Specs()
	switch n := r.Uvarint(); {
	case r.Err() != nil:
		return nil, r.Err()
	case n == 0 && !top:
		specs = nil // a version's profile without its features
	case n != uint64(len(specs)):
		return nil, fmt.Errorf("%w: %d features, the contract has %d", errMalformed, n, len(specs))
	}
	if w == nil {
		var err error
		if w, err = newWindow(m, specs, start, end); err != nil {
			return nil, err
		}
	}
	w.Events, w.ProbabilityOutOfRange, w.BadLabels = events, outOfRange, badLabels
	set := w.Features
	set.Records, set.Unexpected, set.UnexpectedOther = records, unexpected, unexpectedOther
	// The states are kept where they were read, not copied: the rows of a
	// window of one share are stored from them.
	clear(w.read)
	w.read = w.read[:0]
	for _, f := range append(slices.Clip(set.Features), w.Prediction, w.Latency) {
		st := r.Bytes()
		if err := f.ReadState(st); err != nil {
			if r.Err() != nil {
				return nil, r.Err()
			}
			return nil, err
		}
		w.read = append(w.read, st)
	}
	if present(r) {
		var err error
		if w.Performance, err = labels.UnmarshalState(r.Bytes()); err != nil {
			return nil, err
		}
	}
	if n := r.Count(2); n > 0 {
		if n != len(m.Contract.Features) {
			return nil, fmt.Errorf("%w: keyed comparisons of %d features, the contract has %d", errMalformed, n, len(m.Contract.Features))
		}
		w.KeyedCompared, w.KeyedMismatch = make([]uint64, n), make([]uint64, n)
		for i := range n {
			w.KeyedCompared[i], w.KeyedMismatch[i] = r.Uvarint(), r.Uvarint()
		}
	}
	if present(r) {
		w.Shadow = shadow.ReadWindow(m.PredictionKind(), r)
	}
	if present(r) {
		w.Versions = versions.ReadCounts(m.Contract, r)
	}
	if present(r) {
		if !top {
			return nil, fmt.Errorf("%w: a version's profile holds versions", errMalformed)
		}
		w.ByVersion = newByVersion(m)
		for i, n := 0, r.Count(2); i < n && r.Err() == nil; i++ {
			label := string(r.Bytes())
			sub := binstate.NewReader(r.Bytes(), errMalformed)
			v, err := readPartial(m, &sub, false, nil)
			if err == nil && sub.Len() > 0 {
				err = fmt.Errorf("%w: %d bytes after version %s's profile", errMalformed, sub.Len(), label)
			}
			if err == nil {
				err = sub.Err()
			}
			if err != nil {
				return nil, fmt.Errorf("version %s: %w", label, err)
			}
			slot := w.ByVersion.slot([]byte(label))
			if w.ByVersion.windows[slot] == nil {
				w.ByVersion.windows[slot] = v
			} else if err := w.ByVersion.windows[slot].Merge(v); err != nil {
				return nil, err
			}
		}
	}
	w.readValid = r.Err() == nil
	return w, r.Err()
}

// present reads the byte that says whether a part follows: 1 when it does,
// 0 when not; r fails on any other.
func present(r *binstate.Reader) bool {
	switch r.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.Fail()
	return false
}
