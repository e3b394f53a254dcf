package pipeline

import (
	"sync"
	"time"

	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// windowPool recycles one model's windows between the workers, which open
// them, and the checker, which is done with them once they are merged into
// another or checked and turned into rows. A recycled window keeps the memory
// of its profiles, so that opening one costs a reset of what the last held
// rather than allocating, and growing, the sketches and registers of every
// feature: with a small window (fifty events of fifty features) that was
// nearly all of its cost.
//
// It keeps them in a free list of its own rather than a sync.Pool: a window
// goes back when it closes and out again when the next one opens, most of a
// window later, and the garbage collections in between (a hundred models'
// window closes allocate) emptied a sync.Pool, so that a third of the
// windows were allocated again. The list holds at most as many windows as
// the workers can have open at once; more go to the garbage collector. It
// is safe for concurrent use.
type windowPool struct {
	m    *model.Model
	size time.Duration
	mu   sync.Mutex
	free []*window.Window
	max  int
}

// newWindowPools returns the pools of the models' windows, each keeping up
// to keep windows.
func newWindowPools(models []*model.Model, size time.Duration, keep int) map[string]*windowPool {
	out := make(map[string]*windowPool, len(models))
	for _, m := range models {
		out[m.Name()] = &windowPool{m: m, size: size, max: keep}
	}
	return out
}

// get returns an empty window starting at start.
func (p *windowPool) get(start time.Time) (*window.Window, error) {
	w, err := p.take()
	if err == nil {
		w.Reset(start, p.size)
	}
	return w, err
}

// take returns a window as it was put back, for a caller that replaces all
// it holds (window.ReadPartialInto).
func (p *windowPool) take() (*window.Window, error) {
	p.mu.Lock()
	var w *window.Window
	if n := len(p.free); n > 0 {
		w, p.free[n-1] = p.free[n-1], nil
		p.free = p.free[:n-1]
	}
	p.mu.Unlock()
	if w != nil {
		return w, nil
	}
	return window.New(p.m, time.Time{}, p.size)
}

// put recycles w, of p's model, which nothing may use after.
func (p *windowPool) put(w *window.Window) {
	p.mu.Lock()
	if len(p.free) < p.max {
		p.free = append(p.free, w)
	}
	p.mu.Unlock()
}
