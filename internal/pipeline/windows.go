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
// nearly all of its cost. It is safe for concurrent use.
type windowPool struct {
	m    *model.Model
	size time.Duration
	pool sync.Pool
}

func newWindowPools(models []*model.Model, size time.Duration) map[string]*windowPool {
	out := make(map[string]*windowPool, len(models))
	for _, m := range models {
		out[m.Name()] = &windowPool{m: m, size: size}
	}
	return out
}

// get returns an empty window starting at start.
func (p *windowPool) get(start time.Time) (*window.Window, error) {
	if w, ok := p.pool.Get().(*window.Window); ok {
		w.Reset(start, p.size)
		return w, nil
	}
	return window.New(p.m, start, p.size)
}

// put recycles w, of p's model, which nothing may use after.
func (p *windowPool) put(w *window.Window) { p.pool.Put(w) }
