package pipeline

import (
	"sync"
	"time"
)

// alignment holds the partitions of the events topic together in event time.
// A window is checked only once every partition has passed it, so a
// partition read far ahead of the slowest (a backlog read faster on some
// partitions than others, or a partition another member holds) piles up
// every model's windows in between, in the checker, until the slowest
// catches up. A worker whose watermark leads the checker's by more than the
// allowed lead is told to pause instead: the windows held stay a few per
// model, whatever the backlog. The slowest partition is never ahead, so the
// ones that wait for it are never waited for.
type alignment struct {
	lead time.Duration // zero: never ahead

	mu sync.Mutex
	// mark is the checker's watermark: zero while a partition has never
	// reported, the end of time when every one is idle.
	mark time.Time
	// moved is closed, and replaced, when mark advances.
	moved chan struct{}
}

func newAlignment(lead time.Duration) *alignment {
	return &alignment{lead: lead, moved: make(chan struct{})}
}

// advance records the checker's watermark.
func (a *alignment) advance(mark time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if mark.After(a.mark) {
		a.mark = mark
		close(a.moved)
		a.moved = make(chan struct{})
	}
}

// ahead reports whether a partition at watermark leads by more than the
// allowed lead, and returns a channel closed when the checker's watermark
// next advances: read it before ahead's answer goes stale.
func (a *alignment) ahead(watermark time.Time) (bool, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lead <= 0 || watermark.IsZero() {
		return false, a.moved
	}
	return watermark.Sub(a.mark) > a.lead, a.moved
}
