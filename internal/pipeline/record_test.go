package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// viaRecords hands shares and reports to a checker as the partials topic
// would: written as records and read back. With shared windows, lane is
// what a report read from the models' partition closes (Progress.Only).
type viaRecords struct {
	s      *Sides
	tb     testing.TB
	shares int
	lane   []string
}

func (v *viaRecords) Deliver(ctx context.Context, d *Delta) error {
	got, _, err := v.s.ReadRecord(AppendShare(nil, d), d.Done)
	if err != nil {
		v.tb.Fatalf("reading a share back: %v", err)
	}
	v.shares++
	return v.s.Checker.Deliver(ctx, got)
}

func (v *viaRecords) Progress(ctx context.Context, p *Progress) error {
	_, got, err := v.s.ReadRecord(AppendProgress(nil, p), p.Done)
	if err != nil {
		v.tb.Fatalf("reading a report back: %v", err)
	}
	if !reflect.DeepEqual(got.LastEvent, p.LastEvent) || !reflect.DeepEqual(got.Rejected, p.Rejected) || !got.Watermark.Equal(p.Watermark) {
		v.tb.Fatalf("report read back %+v, want %+v", got, p)
	}
	got.Only = v.lane
	return v.s.Checker.Progress(ctx, got)
}

// TestRecordsLoseNothing runs the canary recording through three workers
// twice: shares handed to the checker in memory, and written as partials
// records and read back. Every stored result and profile is the same.
func TestRecordsLoseNothing(t *testing.T) {
	m := canaryModel(t)
	path := canaryRecording(t, worseCanary)
	run := func(records bool) (*recorder, int) {
		rec := &recorder{}
		opts := testOptions(m, rec)
		opts.Partitions = 3
		opts.Labels = &labels.JoinerConfig{MaxDelay: time.Hour, MaxPending: 100_000}
		s, err := NewSides(opts)
		if err != nil {
			t.Fatal(err)
		}
		var sink Sink = s.Checker
		via := &viaRecords{s: s, tb: t}
		if records {
			sink = via
		}
		workers := make([]*Worker, opts.Partitions)
		for k := range workers {
			if workers[k], err = s.NewWorker(k, sink); err != nil {
				t.Fatal(err)
			}
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		dec := event.NewDecoder(event.Options{Layout: event.LayoutEnvelope})
		var ev event.Event
		ctx := context.Background()
		offsets := make([]int64, opts.Partitions)
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			if err := dec.Decode(line, &ev); err != nil {
				t.Fatal(err)
			}
			// Keyed by request id, as producers key them: a prediction and its
			// label in one partition.
			k := int(ev.RequestID[len(ev.RequestID)-1]) % opts.Partitions
			msg := ingest.Message{Topic: "events", Partition: k, Offset: offsets[k], Value: line}
			offsets[k]++
			if err := workers[k].Process(ctx, msg, ev.Timestamp); err != nil {
				t.Fatal(err)
			}
		}
		for _, w := range workers {
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Checker.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return rec, via.shares
	}
	direct, _ := run(false)
	viaTopic, shares := run(true)
	if shares == 0 {
		t.Fatal("no share went through records")
	}
	if len(direct.batches) == 0 || len(direct.batches) != len(viaTopic.batches) {
		t.Fatalf("%d batches in memory, %d through records", len(direct.batches), len(viaTopic.batches))
	}
	results, profiles := 0, 0
	for i := range direct.batches {
		a, b := direct.batches[i], viaTopic.batches[i]
		results += len(a.Results)
		profiles += len(a.Profiles)
		// Printed, so that NaN thresholds compare equal.
		for j := range max(len(a.Results), len(b.Results)) {
			var x, y string
			if j < len(a.Results) {
				x = fmt.Sprintf("%+v", a.Results[j])
			}
			if j < len(b.Results) {
				y = fmt.Sprintf("%+v", b.Results[j])
			}
			if x != y {
				t.Errorf("batch %d, result %d:\nin memory      %s\nthrough records %s", i, j, x, y)
				break
			}
		}
		if fmt.Sprintf("%+v", a.Profiles) != fmt.Sprintf("%+v", b.Profiles) {
			t.Errorf("batch %d: profiles differ", i)
		}
	}
	t.Logf("%d shares through records; %d results and %d profile rows alike", shares, results, profiles)
}

// FuzzReadRecord: whatever the bytes, reading them as a partials record
// returns a share, a report, nothing for a well-formed release, or an error;
// never a panic.
func FuzzReadRecord(f *testing.F) {
	m := canaryModel(f)
	w, err := window.New(m, t0, time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(AppendShare(nil, &Delta{Model: m, Window: w, Partition: 2, Final: true,
		Through: []window.Offset{{Topic: "events", Partition: 2, Offset: 41}}}))
	f.Add(AppendRelease(nil, 3, 7))
	f.Add(AppendProgress(nil, &Progress{Partition: 1, Watermark: t0, Idle: true, LastEvent: map[string]time.Time{"fraud": t0},
		Rejected: []store.RejectedCount{{Model: "fraud", Reason: "invalid_json", Topic: "events", Partition: 1, WindowStart: t0, Count: 3, Through: 9}}}))
	s, err := NewSides(testOptions(m, &recorder{}))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, p, err := s.ReadRecord(data, func() {})
		_, _, release := ReadRelease(data)
		if err == nil && (d == nil) == (p == nil) && !release {
			t.Fatalf("a record read as share %v and report %v", d != nil, p != nil)
		}
	})
}
