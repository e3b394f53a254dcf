package pipeline

import (
	"time"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// openWindow is a window still being filled, with the offsets that admission
// tracks for it: the lowest offset of each partition that fed it, which may be
// committed only once the window is written.
type openWindow struct {
	*window.Window
	minOffset map[ingest.TopicPartition]int64
	held      bool
	lastHeld  ingest.TopicPartition
	// counted is set on a window reopened after a restart: per partition, the
	// last offset its stored profiles already include.
	counted map[ingest.TopicPartition]int64
}

func newOpenWindow(m *model.Model, start time.Time, size time.Duration) (*openWindow, error) {
	w, err := window.New(m, start, size)
	if err != nil {
		return nil, err
	}
	return &openWindow{Window: w, minOffset: make(map[ingest.TopicPartition]int64)}, nil
}

// hold records that the message at offset feeds this window.
func (w *openWindow) hold(tp ingest.TopicPartition, offset int64) {
	// A partition's offsets only grow, so its first message in the window holds
	// the lowest; consecutive messages mostly come from one partition.
	if w.held && tp == w.lastHeld {
		return
	}
	if o, ok := w.minOffset[tp]; !ok || offset < o {
		w.minOffset[tp] = offset
	}
	w.held, w.lastHeld = true, tp
}

func (ms *modelState) addOpen(w *openWindow) {
	ms.open[w.Start.UnixNano()] = w
	if ms.firstEnd.IsZero() || w.End.Before(ms.firstEnd) {
		ms.firstEnd = w.End
	}
}

func (ms *modelState) removeOpen(w *openWindow) {
	delete(ms.open, w.Start.UnixNano())
	ms.firstEnd = time.Time{}
	for _, o := range ms.open {
		if ms.firstEnd.IsZero() || o.End.Before(ms.firstEnd) {
			ms.firstEnd = o.End
		}
	}
}
