package pipeline

import (
	"sync"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// spares keeps the result and profile arrays of batches the store has
// written, for the batches after them. A window of a 50-feature model makes
// over 400 results of 170 bytes: allocated afresh for every batch, a
// hundred such models' results were a quarter of a gigabyte per 100,000
// events of replay, with the growth and garbage collection that go with it.
// The store's writers keep nothing of a batch once Write returns (store.Writer
// says so), and a write behind hands its arrays back from its own goroutine.
// What a kept array's elements point at (details, the arrays of states
// outgrown) stays reachable until they are overwritten: two batches' worth at
// most. The arrays the profiles' states are written into come back the same
// way, for the same reason: a few kilobytes a window, they were a fifth of
// what a fleet's replay allocated.
type spares struct {
	mu       sync.Mutex
	results  [][]check.Result
	profiles [][]store.WindowProfile
	states   [][]byte
}

// maxSpares is how many arrays of each kind are kept: one batch being
// written behind while the next is made needs two.
const maxSpares = 2

// take gives b, and states, the largest spare arrays, when they have none of
// their own.
func (s *spares) take(b *store.Batch, states *[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.Results == nil {
		b.Results, s.results = takeLargest(s.results)
	}
	if b.Profiles == nil {
		b.Profiles, s.profiles = takeLargest(s.profiles)
	}
	if *states == nil {
		*states, s.states = takeLargest(s.states)
	}
}

// put keeps b's arrays for later batches; b must not be used after.
func (s *spares) put(b *store.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results = keep(s.results, b.Results)
	s.profiles = keep(s.profiles, b.Profiles)
}

// putStates keeps arrays of profile states for later batches, once the rows
// that hold slices of them are written.
func (s *spares) putStates(states [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range states {
		s.states = keep(s.states, st)
	}
}

func takeLargest[T any](kept [][]T) ([]T, [][]T) {
	if len(kept) == 0 {
		return nil, kept
	}
	at := 0
	for i, k := range kept {
		if cap(k) > cap(kept[at]) {
			at = i
		}
	}
	s := kept[at][:0]
	kept[at] = kept[len(kept)-1]
	kept[len(kept)-1] = nil
	return s, kept[:len(kept)-1]
}

// keep adds s to kept, or in place of the smallest kept array when kept is
// full and s is larger.
func keep[T any](kept [][]T, s []T) [][]T {
	if cap(s) == 0 {
		return kept
	}
	if len(kept) < maxSpares {
		return append(kept, s)
	}
	at := 0
	for i, k := range kept {
		if cap(k) < cap(kept[at]) {
			at = i
		}
	}
	if cap(s) > cap(kept[at]) {
		kept[at] = s
	}
	return kept
}
