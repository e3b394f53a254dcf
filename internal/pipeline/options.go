package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/skew"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/tracing"
)

// Options configure a Pipeline.
type Options struct {
	Models          []*model.Model
	Window          time.Duration
	Lateness        time.Duration
	ReferencePeriod time.Duration
	// MinSamples is the fewest values each side needs for a distribution
	// statistic.
	MinSamples int
	// MaxFutureSkew and MaxAge bound believable event times against Now; zero
	// turns the bound off (replay reads yesterday's traffic).
	MaxFutureSkew   time.Duration
	MaxAge          time.Duration
	MaxMessageBytes int
	// Labels, when set, joins predictions with delayed labels by request id, and
	// windows report model quality. Label events are envelopes with a "label".
	Labels *labels.JoinerConfig
	// Anomaly, when set, runs the detector over each model's window metrics.
	Anomaly *analyze.AnomalyOptions
	// FeaturesTopic, when set, carries the offline feature values of served
	// requests ({"model", "request_id", "timestamp", "features"}); KeyedSkew then
	// compares them with the served values, per feature.
	FeaturesTopic    string
	KeyedSkew        skew.KeyedOptions
	MaxMismatchRatio float64
	// MaxSilence is how long a model may send nothing before Tick reports it
	// stale; MaxModelAge, when positive, how old its trained_at may be.
	MaxSilence  time.Duration
	MaxModelAge time.Duration
	// Partitions is the number of partitions of the events topic: a window is
	// checked once each of them has passed it. Zero is one.
	Partitions int
	// MaxLead is how far in event time a partition may be read ahead of the
	// slowest one before Sides.Ahead asks its reader to pause: the windows in
	// between wait for the slowest, every model's. Zero is two windows;
	// negative never pauses.
	MaxLead time.Duration
	// LateHorizon is how long after a window is written events that arrive
	// for it still update it; later ones are counted as late. Zero is an hour.
	LateHorizon time.Duration
	// Writer receives the results of every closed window; the pipeline returns
	// only once they are durable, unless WriteBehind.
	Writer store.Writer
	// WriteBehind writes on a goroutine of the checker's, so that checking
	// goes on while the store works; offsets are still released only once
	// durable. The checker's owner then watches Checker.Failed and calls
	// Checker.Close when it stops.
	WriteBehind bool
	// SharedWindows says other processes write this pipeline's windows too
	// (the stages of a scaled-out Sentinel): what is stored is asked of the
	// store, never assumed from what this process wrote, and a share of a
	// window already stored that holds nothing new is dropped.
	SharedWindows bool
	// DeadLetters receives rejected messages; nil counts them only (replay).
	DeadLetters ingest.DeadLetters
	// Now is the wall clock. With EventTime set, the clock is instead the
	// latest event time admitted, which is what "now" means in a recording
	// read back faster than it was written: staleness and idle partitions are
	// then judged in the recording's own time. Now is then unused and may be nil.
	Now       func() time.Time
	EventTime bool
	// ReplayTick, under EventTime, runs the clock's checks (Tick) each time the
	// recording's clock passes a multiple of it, before the event that moves
	// it is admitted, so that a silence in the recording is seen as one.
	ReplayTick time.Duration
	// Registerer receives the pipeline's series; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives what the pipeline reports; nil discards.
	Logger *slog.Logger
	// TracerProvider receives a span per window checked; nil traces nothing.
	TracerProvider trace.TracerProvider
}

// OptionsFromConfig maps sentinel.yaml to options, for `run` and `replay`
// alike, so that both honour every setting. The caller sets what is not
// configuration: Writer, DeadLetters, Now, Registerer and Logger, and the
// bounds on event time that a replay of recorded traffic turns off.
func OptionsFromConfig(cfg *config.Daemon, models []*model.Model) Options {
	o := Options{
		Models: models, Window: cfg.Windows.Size, Lateness: cfg.Windows.AllowedLateness,
		ReferencePeriod: cfg.Drift.ReferencePeriod, MinSamples: cfg.Drift.MinSamples,
		MaxFutureSkew: cfg.Windows.MaxFutureSkew, MaxAge: cfg.Windows.MaxAge, MaxMessageBytes: cfg.Kafka.MaxMessageBytes,
		LateHorizon: cfg.Windows.LateHorizon, MaxSilence: cfg.Staleness.MaxSilence, MaxModelAge: cfg.Staleness.MaxModelAge,
	}
	if cfg.Kafka.Topics.Labels != "" {
		o.Labels = LabelJoin(cfg)
	}
	if t := cfg.Kafka.Topics.Features; t != "" {
		ks := cfg.KeyedSkew
		o.FeaturesTopic, o.MaxMismatchRatio = t, ks.MaxMismatchRatio
		o.KeyedSkew = skew.KeyedOptions{Tolerance: ks.Tolerance, MaxPending: ks.MaxPending, MaxDelay: ks.MaxDelay}
	}
	if a := cfg.Anomaly; a.Enabled {
		o.Anomaly = &analyze.AnomalyOptions{FitAfter: a.FitAfter, HistoryWindows: a.HistoryWindows,
			RefitEvery: a.RefitEvery, FalseAlarmRate: a.FalseAlarmRate}
	}
	return o
}

// ReplayOptions are OptionsFromConfig for a recording played back, as
// `sentinel replay` runs it: a recording is read far faster than it was
// written, so its clock is its own event time: staleness is judged in it, and
// wall-clock bounds on event times mean nothing. The clock's results are
// stored per window, so running them more often than once a window of the
// recording would only rewrite them. Its labels are in the same file as its
// events. The caller sets Writer, Registerer and Logger.
func ReplayOptions(cfg *config.Daemon, models []*model.Model) Options {
	o := OptionsFromConfig(cfg, models)
	o.EventTime, o.MaxFutureSkew, o.MaxAge = true, 0, 0
	o.ReplayTick = max(cfg.Staleness.CheckInterval, cfg.Windows.Size)
	o.Labels = LabelJoin(cfg)
	return o
}

// LabelJoin is the label join sentinel.yaml configures.
func LabelJoin(cfg *config.Daemon) *labels.JoinerConfig {
	return &labels.JoinerConfig{MaxDelay: cfg.Labels.MaxDelay, MaxPending: cfg.Labels.MaxPending}
}

// Validate reports every problem of the options.
func (o *Options) Validate() error {
	var errs []error
	if len(o.Models) == 0 {
		errs = append(errs, errors.New("no models"))
	}
	seen := make(map[string]bool)
	for _, m := range o.Models {
		if seen[m.Name()] {
			errs = append(errs, fmt.Errorf("model %s is configured twice", m.Name()))
		}
		seen[m.Name()] = true
	}
	if o.Lateness < 0 {
		errs = append(errs, fmt.Errorf("allowed lateness %s is negative", o.Lateness))
	}
	if o.Partitions < 0 {
		errs = append(errs, fmt.Errorf("partitions %d is negative", o.Partitions))
	}
	if o.LateHorizon < 0 {
		errs = append(errs, fmt.Errorf("late horizon %s is negative", o.LateHorizon))
	}
	if o.MaxMessageBytes < 1 {
		errs = append(errs, fmt.Errorf("max message bytes %d is not positive", o.MaxMessageBytes))
	}
	ao := o.analyzerOptions()
	if err := ao.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Writer == nil {
		errs = append(errs, errors.New("no writer"))
	}
	if o.Now == nil && !o.EventTime {
		errs = append(errs, errors.New("no clock"))
	}
	return errors.Join(errs...)
}

func (o *Options) analyzerOptions() analyze.Options {
	return analyze.Options{Models: o.Models, Window: o.Window, ReferencePeriod: o.ReferencePeriod, MinSamples: o.MinSamples,
		Anomaly: o.Anomaly, MaxMismatchRatio: o.MaxMismatchRatio, MaxSilence: o.MaxSilence, MaxModelAge: o.MaxModelAge,
		Registerer: o.Registerer, Logger: o.Logger, Tracer: tracing.Tracer(o.TracerProvider)}
}
