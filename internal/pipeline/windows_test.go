package pipeline

import (
	"runtime"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// TestWindowPoolKeeps: a window put back is the one the next get returns,
// also after garbage collections (which emptied the sync.Pool the windows
// were kept in), and the pool keeps no more windows than it is given to.
func TestWindowPoolKeeps(t *testing.T) {
	m := wideModel(t)
	p := newWindowPools([]*model.Model{m}, time.Minute, 2)[m.Name()]
	var ws []*window.Window
	for i := range 3 {
		w, err := p.get(t0.Add(time.Duration(i) * time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	for _, w := range ws {
		p.put(w)
	}
	runtime.GC()
	runtime.GC()
	kept := map[*window.Window]bool{}
	for i := range 3 {
		w, err := p.get(t0.Add(time.Duration(10+i) * time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if !w.Start.Equal(t0.Add(time.Duration(10+i)*time.Minute)) || w.Events != 0 {
			t.Fatalf("get %d: a window of %v with %d events", i, w.Start, w.Events)
		}
		kept[w] = true
	}
	recycled := 0
	for _, w := range ws {
		if kept[w] {
			recycled++
		}
	}
	if recycled != 2 {
		t.Fatalf("%d of 3 windows put back came out again, want the 2 the pool keeps", recycled)
	}
}
