// Package pipeline is the daemon's core. Its admission side decodes each
// message, validates it against its model's contract, routes it to its model's
// event-time window and the label and keyed-skew joins, and tracks watermarks
// and offsets; when the watermark passes a window, the window is complete and
// goes to the checking side (package analyze), and the results to the store,
// before the offsets of the window's messages may be committed.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/skew"
)

// Stats counts what the pipeline has done, for replay's summary.
type Stats struct {
	Messages, Events, Labels, Offline, Rejected, Late, Skipped, Windows uint64
}

// Pipeline turns messages into window results. It is not safe for concurrent
// use: one goroutine owns it (the daemon's runner, or replay).
type Pipeline struct {
	opts     Options
	log      *slog.Logger
	analyzer *analyze.Analyzer
	models   map[string]*modelState
	dec      *event.Decoder
	ev       event.Event
	offsets  offsets
	rejected map[rejectedKey]uint64
	// unwritten holds closed windows whose results are not yet durable: their
	// offsets stay held.
	unwritten []*openWindow
	joiner    *labels.Joiner
	values    *labels.ValueParser
	metrics   *metrics
	stats     Stats
	started   time.Time
	// eventNow is the latest event time admitted, the clock under EventTime,
	// and nextTick when it runs the clock's checks next.
	eventNow, nextTick time.Time
}

// modelState is what admission keeps per model.
type modelState struct {
	m    *model.Model
	open map[int64]*openWindow // by window start, unix nanoseconds
	// parts tracks each partition's latest event time for the model.
	parts      map[ingest.TopicPartition]*partition
	lastPartTP ingest.TopicPartition
	lastPart   *partition
	latest     time.Time // latest event time of any partition
	closedUpTo time.Time
	// firstEnd is the earliest end among the open windows (zero when none): no
	// window closes while the watermark is before it, which spares the scan of
	// the open windows on almost every event.
	firstEnd time.Time
	// written is the end of the windows written before a restart: events of
	// earlier windows were counted then.
	written   time.Time
	lastEvent time.Time // wall clock, for staleness and idle windows
	// The per-event series, resolved once: a label lookup per event would cost
	// more than profiling a feature.
	eventsTotal  prometheus.Counter
	lastEventSec prometheus.Gauge
	keyed        *skew.KeyedJoin
}

// New builds a pipeline.
func New(opts Options) (*Pipeline, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline options: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	analyzer, err := analyze.New(opts.analyzerOptions())
	if err != nil {
		return nil, err
	}
	p := &Pipeline{
		opts:     opts,
		log:      log,
		analyzer: analyzer,
		models:   make(map[string]*modelState, len(opts.Models)),
		dec:      event.NewDecoder(event.Options{Layout: event.LayoutEnvelope}),
		offsets:  newOffsets(),
		rejected: make(map[rejectedKey]uint64),
	}
	now := p.now()
	p.started = now
	names := make([]string, 0, len(opts.Models))
	for _, m := range opts.Models {
		ms := &modelState{m: m, open: make(map[int64]*openWindow), lastEvent: now,
			parts: make(map[ingest.TopicPartition]*partition)}
		if opts.FeaturesTopic != "" {
			names := make([]string, len(m.Contract.Features))
			for i, f := range m.Contract.Features {
				names[i] = f.Name
			}
			ms.keyed = skew.NewKeyedJoin(names, opts.KeyedSkew)
		}
		p.models[m.Name()] = ms
		names = append(names, m.Name())
	}
	if p.metrics, err = newMetrics(opts.Registerer, names); err != nil {
		return nil, err
	}
	if opts.Labels != nil {
		if p.joiner, err = labels.NewJoiner(*opts.Labels, names); err != nil {
			return nil, fmt.Errorf("label join: %w", err)
		}
		p.values = labels.NewValueParser(maxClasses)
	}
	for name, ms := range p.models {
		ms.eventsTotal = p.metrics.events.WithLabelValues(name)
		ms.lastEventSec = p.metrics.lastEvent.WithLabelValues(name)
	}
	return p, nil
}

// Stats returns the counts so far.
func (p *Pipeline) Stats() Stats { return p.stats }

// Process handles one message: an event is profiled into its window, a bad one
// dead-lettered. Windows the event's time closes are checked and written before
// Process returns, so an error means the results could not be made durable; the
// pipeline is then unusable, and its owner stops consuming and exits so that a
// restart resumes from the committed offsets.
func (p *Pipeline) Process(ctx context.Context, msg ingest.Message) error {
	return p.ProcessAt(ctx, msg, p.now())
}

// now reads the pipeline's clock: the wall clock, or the latest event time.
func (p *Pipeline) now() time.Time {
	if p.opts.EventTime {
		return p.eventNow
	}
	return p.opts.Now()
}

// maxTime is later than any event time the decoder accepts (years up to 9999).
func maxTime() time.Time { return time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }
