package status

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// Options configure a Recorder.
type Options struct {
	// Windows is how many of each model's latest windows are kept; zero is
	// DefaultWindows.
	Windows int
	// Models are the configured models, listed in this order (the others
	// after them, by name) and shown before their first window is written.
	Models []string
	// Now stamps the clock's results as they are recorded; nil is time.Now.
	Now func() time.Time
}

// DefaultWindows is two hours of five-minute windows.
const DefaultWindows = 24

// Recorder is a store.Writer that passes every batch on to the writer it
// wraps and, once that has made it durable, keeps each model's latest
// windows for the page. Memory is bounded per model: Options.Windows windows
// of a few counters, at most MaxBreached breached results and one verdict
// each, and the latest window's thresholded results. It is safe for
// concurrent use.
type Recorder struct {
	next  store.Writer
	keep  int
	order []string // the configured models
	now   func() time.Time

	mu     sync.Mutex
	models map[string]*modelState
}

// modelState is a model's part of the recorder. The windows and results it
// holds are never changed once stored, only replaced, so that a snapshot may
// share them.
type modelState struct {
	windows []Window // by start, at most keep
	checks  []check.Result
	// checksOf is the start of the window checks come from.
	checksOf time.Time
	clock    []check.Result
	clockAt  time.Time
}

// NewRecorder returns a recorder that writes through next.
func NewRecorder(next store.Writer, opts Options) *Recorder {
	keep := opts.Windows
	if keep <= 0 {
		keep = DefaultWindows
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	r := &Recorder{next: next, keep: keep, now: now, models: make(map[string]*modelState)}
	for _, m := range opts.Models {
		if r.models[m] == nil {
			r.models[m] = &modelState{}
			r.order = append(r.order, m)
		}
	}
	return r
}

// Write writes b through, then records it: the page shows what is durable.
func (r *Recorder) Write(ctx context.Context, b store.Batch) error {
	if err := r.next.Write(ctx, b); err != nil {
		return err
	}
	r.record(&b)
	return nil
}

// windowKey identifies a model's window within a batch.
type windowKey struct {
	model string
	start int64
}

func (r *Recorder) record(b *store.Batch) {
	if len(b.Results) == 0 && len(b.Anomalies) == 0 {
		return // profiles, rejections, references: nothing the page shows
	}
	// A batch may hold several windows of several models (a drain, a
	// replay), each window's results usually in one run: a run is kept as a
	// slice of the batch, and only a window split over runs is copied.
	var keys []windowKey
	results := make(map[windowKey][]check.Result)
	clocks := make(map[string][]check.Result)
	for i := 0; i < len(b.Results); {
		res := &b.Results[i]
		if res.Kind == check.Staleness {
			clocks[res.Model] = append(clocks[res.Model], *res)
			i++
			continue
		}
		j := i + 1
		for j < len(b.Results) && b.Results[j].Kind != check.Staleness && b.Results[j].Model == res.Model &&
			b.Results[j].WindowStart.Equal(res.WindowStart) {
			j++
		}
		k := windowKey{res.Model, res.WindowStart.UnixNano()}
		if prev, ok := results[k]; ok {
			results[k] = append(slices.Clip(prev), b.Results[i:j]...)
		} else {
			keys = append(keys, k)
			results[k] = b.Results[i:j]
		}
		i = j
	}
	verdicts := make(map[windowKey]*check.Verdict, len(b.Anomalies))
	for i := range b.Anomalies {
		v := &b.Anomalies[i]
		k := windowKey{v.Model, v.WindowStart.UnixNano()}
		if _, ok := results[k]; !ok {
			keys = append(keys, k)
		}
		verdicts[k] = v
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		r.state(k.model).put(summarise(results[k], verdicts[k]), results[k], r.keep)
	}
	for model, res := range clocks {
		st := r.state(model)
		st.clock, st.clockAt = res, now
	}
}

func (r *Recorder) state(model string) *modelState {
	st := r.models[model]
	if st == nil {
		st = &modelState{}
		r.models[model] = st
	}
	return st
}

// summarise turns a window's results and verdict into what the page keeps.
func summarise(results []check.Result, v *check.Verdict) Window {
	w := Window{Events: math.NaN(), Kinds: make(map[check.Kind]Count)}
	threshold := math.NaN()
	for i := range results {
		res := &results[i]
		w.Start, w.End = res.WindowStart, res.WindowEnd
		if res.Kind == check.Anomaly {
			threshold = res.Threshold
			continue
		}
		if res.Kind == check.Quality && res.Feature == "" && res.Metric == check.Events {
			w.Events = res.Value
		}
		// Every kind the results hold has an entry, counted or not, so that
		// a rewrite says which kinds it replaces.
		c := w.Kinds[res.Kind]
		switch {
		case res.Skipped != "":
			c.Skipped++
		case res.HasThreshold():
			c.Checks++
			if res.Breached {
				c.Breached++
				w.Breached = append(w.Breached, *res)
			}
		}
		w.Kinds[res.Kind] = c
	}
	w.capBreached()
	if v != nil {
		w.Start, w.End = v.WindowStart, v.WindowEnd
		w.Verdict = &Verdict{Score: v.Score, Threshold: threshold, Anomaly: v.Anomaly, Statistic: v.Statistic,
			Causes: slices.Clone(v.Causes)}
	}
	return w
}

// capBreached keeps the first MaxBreached breached results and counts the
// others.
func (w *Window) capBreached() {
	total := w.Total().Breached
	if len(w.Breached) > MaxBreached {
		w.Breached = slices.Clip(w.Breached[:MaxBreached])
	}
	w.MoreBreached = total - len(w.Breached)
}

// rewrite merges a window written again into its earlier copy. A rewrite
// holds the checks of the window alone (quality, skew, numerical,
// performance); drift and the verdict compared with history that has moved
// on, so they keep what they found, as the store's rows do.
func rewrite(old, w Window) Window {
	merged := Window{Start: w.Start, End: w.End, Events: w.Events, Kinds: make(map[check.Kind]Count),
		Verdict: w.Verdict, Rewrites: old.Rewrites + 1}
	if math.IsNaN(merged.Events) {
		merged.Events = old.Events
	}
	if merged.Verdict == nil {
		merged.Verdict = old.Verdict
	}
	for k, c := range old.Kinds {
		if _, replaced := w.Kinds[k]; !replaced {
			merged.Kinds[k] = c
		}
	}
	for _, res := range old.Breached {
		if _, replaced := w.Kinds[res.Kind]; !replaced {
			merged.Breached = append(merged.Breached, res)
		}
	}
	for k, c := range w.Kinds {
		merged.Kinds[k] = c
	}
	merged.Breached = append(merged.Breached, w.Breached...)
	merged.capBreached()
	return merged
}

// put stores a window, merging it into an earlier copy of it.
func (st *modelState) put(w Window, results []check.Result, keep int) {
	i, found := slices.BinarySearchFunc(st.windows, w.Start, func(x Window, t time.Time) int { return x.Start.Compare(t) })
	switch {
	case found:
		st.windows[i] = rewrite(st.windows[i], w)
	case i == 0 && len(st.windows) >= keep:
		return // older than every window kept
	default:
		st.windows = slices.Insert(st.windows, i, w)
		if len(st.windows) > keep {
			// Shift rather than reslice, so that the array does not creep
			// forward and grow without bound.
			st.windows = slices.Delete(st.windows, 0, len(st.windows)-keep)
		}
	}
	switch table := thresholded(results); {
	case len(results) == 0 || w.Start.Before(st.checksOf):
	case w.Start.Equal(st.checksOf):
		st.checks = mergeChecks(st.checks, table)
	default:
		st.checks, st.checksOf = table, w.Start
	}
}

// thresholded returns the results the per-feature table shows, in its order.
func thresholded(results []check.Result) []check.Result {
	shown := func(r *check.Result) bool { return r.Kind != check.Anomaly && (r.HasThreshold() || r.Skipped != "") }
	n := 0
	for i := range results {
		if shown(&results[i]) {
			n++
		}
	}
	out := make([]check.Result, 0, n)
	for i := range results {
		if shown(&results[i]) {
			out = append(out, results[i])
		}
	}
	slices.SortStableFunc(out, compareChecks)
	return out
}

// mergeChecks replaces the rows of old that a rewrite's rows replace.
func mergeChecks(old, table []check.Result) []check.Result {
	out := slices.Clone(table)
	for _, res := range old {
		if _, found := slices.BinarySearchFunc(table, res, compareChecks); !found {
			out = append(out, res)
		}
	}
	slices.SortStableFunc(out, compareChecks)
	return out
}

func compareChecks(x, y check.Result) int {
	return cmp.Or(cmp.Compare(x.Feature, y.Feature), cmp.Compare(kindRank(x.Kind), kindRank(y.Kind)), cmp.Compare(x.Metric, y.Metric))
}

// kindRank orders kinds as check.Kinds does, without building its list on
// every comparison of a sort.
func kindRank(k check.Kind) int {
	switch k {
	case check.Quality:
		return 0
	case check.Skew:
		return 1
	case check.Drift:
		return 2
	case check.Numerical:
		return 3
	case check.Performance:
		return 4
	case check.Shadow:
		return 5
	case check.Canary:
		return 6
	case check.Version:
		return 7
	case check.Availability:
		return 8
	case check.Staleness:
		return 9
	case check.Anomaly:
		return 10
	}
	return 11
}

// Snapshot returns every model's state, the configured models first.
func (r *Recorder) Snapshot() Snapshot {
	at := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	// Models first seen in batches, after the configured ones: a model the
	// pipeline writes is configured, so this is for recorders given none.
	var others []string
	for name := range r.models {
		others = append(others, name)
	}
	slices.Sort(others)
	names := slices.Clone(r.order)
	for _, name := range others {
		if !slices.Contains(r.order, name) {
			names = append(names, name)
		}
	}
	s := Snapshot{At: at, Models: make([]Model, 0, len(names))}
	for _, name := range names {
		st := r.models[name]
		s.Models = append(s.Models, Model{Name: name, Windows: slices.Clone(st.windows), Checks: st.checks,
			Clock: st.clock, ClockAt: st.clockAt})
	}
	return s
}
