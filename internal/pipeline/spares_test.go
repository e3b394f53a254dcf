package pipeline

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/store"
)

func TestSpares(t *testing.T) {
	batch := func(results, profiles int) *store.Batch {
		return &store.Batch{Results: make([]check.Result, 1, results), Profiles: make([]store.WindowProfile, 1, profiles)}
	}
	var s spares
	var empty store.Batch
	var states []byte
	s.take(&empty, &states)
	if empty.Results != nil || empty.Profiles != nil || states != nil {
		t.Fatalf("no spares yet, got arrays of %d, %d and %d", cap(empty.Results), cap(empty.Profiles), cap(states))
	}
	s.put(batch(10, 40))
	s.put(batch(30, 20))
	s.put(batch(20, 30)) // full: replaces the smaller of each kind
	s.put(&store.Batch{})
	for _, want := range []struct{ results, profiles int }{{30, 40}, {20, 30}, {0, 0}} {
		var b store.Batch
		s.take(&b, &states)
		if cap(b.Results) != want.results || cap(b.Profiles) != want.profiles || len(b.Results) != 0 || len(b.Profiles) != 0 {
			t.Fatalf("took arrays of %d/%d (lengths %d, %d), want empty ones of %d/%d",
				cap(b.Results), cap(b.Profiles), len(b.Results), len(b.Profiles), want.results, want.profiles)
		}
	}
	own := store.Batch{Results: make([]check.Result, 0, 5)}
	s.put(batch(50, 50))
	s.take(&own, &states)
	if cap(own.Results) != 5 || cap(own.Profiles) != 50 {
		t.Errorf("a batch with results of its own took %d/%d, want its own 5 and a spare 50", cap(own.Results), cap(own.Profiles))
	}

	s.putStates([][]byte{make([]byte, 7, 100), make([]byte, 0, 300), make([]byte, 0, 200), nil})
	for _, want := range []int{300, 200, 0} {
		states = nil
		s.take(&store.Batch{}, &states)
		if cap(states) != want || len(states) != 0 {
			t.Fatalf("took a states array of %d (length %d), want an empty one of %d", cap(states), len(states), want)
		}
	}
	s.putStates([][]byte{make([]byte, 0, 400)})
	states = make([]byte, 0, 8)
	if s.take(&store.Batch{}, &states); cap(states) != 8 {
		t.Errorf("states of its own, of 8, replaced by a spare of %d", cap(states))
	}
}

// arrays notes the first result and the first profile state of each batch
// it is given, which say whose memory the batch's results and states are in.
type arrays struct {
	first  []*check.Result
	states []*byte
}

func (a *arrays) Write(_ context.Context, b store.Batch) error {
	if len(b.Results) > 0 {
		a.first = append(a.first, &b.Results[0])
	}
	for _, p := range b.Profiles {
		if p.Feature != "" && len(p.State) > 0 {
			a.states = append(a.states, &p.State[0])
			break
		}
	}
	return nil
}

// TestBatchesReuseArrays: once a batch is written, the next ones are made in
// its arrays, whether the checker waits for the store or writes behind.
func TestBatchesReuseArrays(t *testing.T) {
	for _, behind := range []bool{false, true} {
		a := &arrays{}
		opts := testOptions(exampleModel(t), a)
		opts.WriteBehind = behind
		p, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for i := range 6 {
			if err := p.Process(ctx, msg(int64(i), ev(t0.Add(time.Duration(i)*time.Minute+time.Second), "1"))); err != nil {
				t.Fatal(err)
			}
			// Each window's batch is durable before the next is made.
			if err := p.Checker.Settle(ctx); err != nil {
				t.Fatal(err)
			}
		}
		p.Checker.Close()
		if len(a.first) < 4 {
			t.Fatalf("write behind %t: %d batches of results, want at least 4", behind, len(a.first))
		}
		for i, r := range a.first[2:] {
			if r != a.first[0] && r != a.first[1] {
				t.Errorf("write behind %t: batch %d made in new arrays, not those of the first two", behind, i+2)
			}
		}
		// The states array grows to its window's size in the first batches.
		for i := 3; i < len(a.states); i++ {
			if !slices.Contains(a.states[:i], a.states[i]) {
				t.Errorf("write behind %t: batch %d's states in a new array, not one of the batches' before", behind, i)
			}
		}
	}
}
