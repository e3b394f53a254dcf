package pipeline

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/store"
)

// TestRestoreReferences: a pipeline drained in the middle of a reference period
// and a new one restored from what it stored report the same drift against
// the reference as one that ran through — for the windows of the period in
// progress, compared with the stored completed period, and for those of the
// next, compared with a period that straddles the restart. After a crash (no
// drain) the same holds once the messages after the last commit are read again.
func TestRestoreReferences(t *testing.T) {
	m := exampleModel(t)
	options := func(rec *recorder) Options {
		opts := testOptions(m, rec)
		opts.ReferencePeriod = 5 * time.Minute
		return opts
	}
	const n = 540 // one event every 2 s, 10:00 to 10:17:58
	event := func(i int) []byte {
		return ev(t0.Add(time.Duration(i)*2*time.Second), fmt.Sprint(10+i%7+i/100*20))
	}
	restartAt := 375 // 10:12:30, in the third period
	ctx := context.Background()
	feed := func(p *Pipeline, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := p.Process(ctx, msg(int64(i), event(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	process := func(p *Pipeline, from, to int) {
		t.Helper()
		feed(p, from, to)
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	vsReference := func(r *recorder, from time.Time) map[string]float64 {
		out := make(map[string]float64)
		for _, b := range r.batches {
			for _, c := range b.Results {
				if !c.WindowStart.Before(from) && strings.HasSuffix(c.Metric, "_vs_reference") {
					key := c.WindowStart.Format("15:04") + " " + c.Feature + " " + c.Metric
					if c.Skipped != "" {
						key += " skipped"
					}
					out[key] = c.Value
				}
			}
		}
		return out
	}

	// restarted builds a pipeline from what before stored, as the daemon does at
	// start, with the reference summaries passed through edit.
	restarted := func(before, after *recorder, edit func([]store.ReferenceSummary) []store.ReferenceSummary) *Pipeline {
		t.Helper()
		mem := store.NewMemory()
		for _, b := range before.batches {
			b.References = edit(b.References)
			if err := mem.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		q, err := New(options(after))
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Restore(ctx, mem); err != nil {
			t.Fatal(err)
		}
		return q
	}
	unchanged := func(refs []store.ReferenceSummary) []store.ReferenceSummary { return refs }

	whole := &recorder{}
	p, err := New(options(whole))
	if err != nil {
		t.Fatal(err)
	}
	process(p, 0, n)
	restart := t0.Add(12 * time.Minute)
	want := vsReference(whole, restart)
	for _, w := range []string{"10:12", "10:15"} {
		if _, ok := want[w+" amount psi_vs_reference"]; !ok {
			t.Fatalf("the uninterrupted pipeline reported no drift of amount against the reference at %s: %v", w, want)
		}
	}

	before := &recorder{}
	p, err = New(options(before))
	if err != nil {
		t.Fatal(err)
	}
	process(p, 0, restartAt)
	after := &recorder{}
	process(restarted(before, after, unchanged), restartAt, n)
	if got := vsReference(after, restart); !maps.Equal(got, want) {
		t.Errorf("after the restart, drift against the reference\n%v\nwithout one\n%v", got, want)
	}

	// A feature binned otherwise when it was stored (its baseline was rebuilt)
	// starts empty; the others are restored.
	again := &recorder{}
	q := restarted(before, again, func(refs []store.ReferenceSummary) []store.ReferenceSummary {
		var rebinned []store.ReferenceSummary
		for _, r := range refs {
			if r.Feature == "amount" {
				r.State = []byte(strings.Replace(string(r.State), `"edges":[`, `"edges":[-1e9,`, 1))
			}
			rebinned = append(rebinned, r)
		}
		return rebinned
	})
	process(q, restartAt, n)
	got := vsReference(again, restart)
	if _, ok := got["10:12 amount psi_vs_reference"]; ok {
		t.Error("a summary of other bins was compared with")
	}
	if _, ok := got["10:12 amount psi_vs_reference skipped"]; !ok {
		t.Error("the comparison with an emptied reference was not reported as skipped")
	}
	if v, ok := got["10:12 country chi2_p_value_vs_reference"]; !ok || v != want["10:12 country chi2_p_value_vs_reference"] {
		t.Errorf("country against the reference %v (reported %v), want %v", v, ok, want["10:12 country chi2_p_value_vs_reference"])
	}

	// A crash at the same point: nothing drained, the period in progress was
	// never stored, and the messages from the start of the windows a restart
	// reopens (10:10, the earliest offset not yet committable) are read again.
	crashed := &recorder{}
	p, err = New(options(crashed))
	if err != nil {
		t.Fatal(err)
	}
	feed(p, 0, restartAt)
	resumed := &recorder{}
	q = restarted(crashed, resumed, unchanged)
	process(q, 300, n)
	// 10:10 and 10:11 were written whole before the crash: their messages read
	// again are skipped; the windows after them compare as if nothing happened.
	if st := q.Stats(); st.Skipped == 0 {
		t.Errorf("after a crash, stats %+v: nothing read again was skipped", st)
	}
	written := t0.Add(12 * time.Minute)
	if got := vsReference(resumed, t0.Add(10*time.Minute)); len(got) != len(vsReference(resumed, written)) {
		t.Errorf("after a crash, windows written whole before it were written again")
	}
	if got, want := vsReference(resumed, written), vsReference(whole, written); !maps.Equal(got, want) {
		t.Errorf("after a crash, drift against the reference\n%v\nwithout one\n%v", got, want)
	}
}
