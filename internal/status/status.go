// Package status keeps what a person looking at Sentinel wants to see of each
// model now — its last windows' check results and anomaly verdicts, its
// staleness, the alerts active and notes such as a known incident — for the
// status page.
//
// It knows nothing of the pipeline's internals: a Recorder wraps the
// store.Writer the pipeline writes through and keeps what was made durable;
// alerts and annotations come from two small interfaces that whoever
// evaluates alerts, or knows of incidents, implements.
package status

import (
	"cmp"
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// Alert is an alert whose condition holds now, as the page shows it. Every
// string is shown as text, never as markup.
type Alert struct {
	// Name is the alert's name, e.g. "SentinelTrainServeSkew".
	Name    string
	Model   string
	Feature string // "" for an alert on the whole model
	// Severity is critical, warning or info; the page shows others as given.
	Severity string
	Summary  string
	// Since is when the condition began to hold.
	Since time.Time
	// Firing is false while the condition has not yet held long enough.
	Firing bool
	// Causes are, for an alert on the anomaly detector, the metrics it blames.
	Causes []check.Cause
}

// AlertSource reports the alerts active now: the alert evaluator implements
// it. ActiveAlerts is called on every request of the page, from the HTTP
// server's goroutines, and must be safe for that.
type AlertSource interface {
	ActiveAlerts() []Alert
}

// Annotation marks a span of time on a model's charts, e.g. "incident: mean
// shift in amount" from 10:20 to 10:30.
type Annotation struct {
	// Model is the model annotated, "" for every model.
	Model string
	// Start and End bound the span; an End not after Start marks an instant.
	Start, End time.Time
	Text       string
}

// AnnotationSource reports the annotations to show, called as AlertSource is.
type AnnotationSource interface {
	Annotations() []Annotation
}

// Annotations is a fixed list of annotations, such as the incidents a demo
// injects into its traffic.
type Annotations []Annotation

// Annotations returns the list.
func (a Annotations) Annotations() []Annotation { return a }

// Snapshot is what the page shows, as of At.
type Snapshot struct {
	At     time.Time
	Models []Model
	// Alerting is whether an alert source reported: without one, no alert
	// on the page does not mean that none fires.
	Alerting bool
}

// Model is one model's recent state.
type Model struct {
	Name string
	// Windows are the latest windows written, oldest first.
	Windows []Window
	// Checks are the latest window's results that carry a threshold or were
	// skipped, ordered by feature ("" first), kind and metric.
	Checks []check.Result
	// Clock holds the latest staleness results (seconds since the last event,
	// the model's age), recorded at ClockAt; nil before the first clock check.
	Clock   []check.Result
	ClockAt time.Time
	// Alerts are the model's active alerts, firing first, then by severity
	// and age.
	Alerts []Alert
	// Annotations are the model's and every model's annotations, by start.
	Annotations []Annotation
}

// Latest returns the latest window, nil before the first.
func (m *Model) Latest() *Window {
	if len(m.Windows) == 0 {
		return nil
	}
	return &m.Windows[len(m.Windows)-1]
}

// Window is what one window's results say, in brief.
type Window struct {
	Start, End time.Time
	// Events is the number of events the window held; NaN when its results
	// do not say.
	Events float64
	// Kinds counts the window's results of each kind.
	Kinds map[check.Kind]Count
	// Breached lists results that broke their threshold, at most MaxBreached
	// of them; MoreBreached counts the others.
	Breached     []check.Result
	MoreBreached int
	// Verdict is the anomaly detector's, nil while it gathers history.
	Verdict *Verdict
	// Rewrites counts the times the window was written again with events
	// that arrived after it.
	Rewrites int
}

// Count is how many of a window's results of one kind carry a threshold,
// broke it, or were skipped.
type Count struct {
	Checks, Breached, Skipped int
}

// Total adds up the counts of every kind.
func (w *Window) Total() Count {
	var t Count
	for _, c := range w.Kinds {
		t.Checks += c.Checks
		t.Breached += c.Breached
		t.Skipped += c.Skipped
	}
	return t
}

// MaxBreached bounds the breached results a window keeps: a broken upstream
// can break every check of a wide model at once, and the page names the
// first few.
const MaxBreached = 32

// Verdict is the anomaly detector's judgement of a window.
type Verdict struct {
	// Score is -log10 of the estimated chance of so unusual a window when all
	// is well, capped at 300.
	Score float64
	// Threshold is the score at and above which a window is flagged; NaN
	// when the batch did not carry it.
	Threshold float64
	Anomaly   bool
	Statistic string
	Causes    []check.Cause
}

// Board gathers what the status page shows from the recorder and the sources.
type Board struct {
	Recorder *Recorder
	// Alerts and Annotations may be nil: none.
	Alerts      AlertSource
	Annotations AnnotationSource
}

// Snapshot returns the models' state with their alerts and annotations. An
// alert of a model the recorder has not seen gets a model of its own, so
// that no active alert is left off the page.
func (b *Board) Snapshot() Snapshot {
	s := b.Recorder.Snapshot()
	index := make(map[string]int, len(s.Models))
	for i := range s.Models {
		index[s.Models[i].Name] = i
	}
	if b.Alerts != nil {
		s.Alerting = true
		for _, a := range b.Alerts.ActiveAlerts() {
			i, ok := index[a.Model]
			if !ok {
				i = len(s.Models)
				index[a.Model] = i
				s.Models = append(s.Models, Model{Name: a.Model})
			}
			s.Models[i].Alerts = append(s.Models[i].Alerts, a)
		}
	}
	var notes []Annotation
	if b.Annotations != nil {
		notes = slices.Clone(b.Annotations.Annotations())
		slices.SortStableFunc(notes, func(x, y Annotation) int { return x.Start.Compare(y.Start) })
	}
	for i := range s.Models {
		m := &s.Models[i]
		slices.SortStableFunc(m.Alerts, compareAlerts)
		for _, n := range notes {
			if n.Model == "" || n.Model == m.Name {
				m.Annotations = append(m.Annotations, n)
			}
		}
	}
	return s
}

// compareAlerts orders firing alerts first, then by severity, then the
// oldest first.
func compareAlerts(x, y Alert) int {
	if x.Firing != y.Firing {
		if x.Firing {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(severityRank(x.Severity), severityRank(y.Severity)), x.Since.Compare(y.Since),
		cmp.Compare(x.Name, y.Name), cmp.Compare(x.Feature, y.Feature))
}

func severityRank(s string) int {
	switch s {
	case "critical":
		return 0
	case "warning":
		return 1
	case "info":
		return 2
	}
	return 3
}
