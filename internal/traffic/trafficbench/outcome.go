package trafficbench

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sentinel-ml/sentinel/internal/alerts"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/traffic"
)

// Outcome is what a run's windows found. It is the store.Writer the replay
// writes to: a window written again (late events) replaces its results.
type Outcome struct {
	Setup Setup
	Stats pipeline.Stats
	// Windows are the windows checked, in order.
	Windows []*Window
	// Subjects are what findings are counted per window for: the contract's
	// features, then the prediction.
	Subjects []string

	byStart map[int64]*Window
	eval    *alerts.Evaluator
	fired   map[string]bool
	firing  []Firing
}

// Window is one window's findings.
type Window struct {
	Start  time.Time
	Events float64
	// Checked is set for a window the checks ran on (not merely a clock
	// tick's staleness results).
	Checked bool
	// Findings are the breached checks, anomaly scores aside.
	Findings []Finding
	// Verdict is the anomaly detector's, nil before it scores.
	Verdict *check.Verdict
	results map[resultKey]check.Result
}

type resultKey struct {
	kind            check.Kind
	feature, metric string
}

// Finding is a breached check.
type Finding struct {
	Kind             check.Kind
	Feature, Metric  string
	Value, Threshold float64
}

func (f Finding) String() string {
	subject := f.Feature
	if subject == "" {
		subject = "model"
	}
	return fmt.Sprintf("%s %s.%s", f.Kind, subject, f.Metric)
}

// Firing is an alert that fired: pending Since, firing from At (a window's
// end).
type Firing struct {
	Alert, Feature, Metric string
	Since, At              time.Time
}

func (f Firing) key() string { return strings.TrimSpace(f.Alert + " " + f.Feature + " " + f.Metric) }

func newOutcome(m *model.Model, s Setup) *Outcome {
	o := &Outcome{Setup: s, byStart: make(map[int64]*Window), fired: make(map[string]bool)}
	for _, f := range m.Contract.Features {
		o.Subjects = append(o.Subjects, f.Name)
	}
	o.Subjects = append(o.Subjects, check.PredictionFeature)
	return o
}

func (o *Outcome) window(start time.Time) *Window {
	w := o.byStart[start.UnixNano()]
	if w == nil {
		w = &Window{Start: start, results: make(map[resultKey]check.Result)}
		o.byStart[start.UnixNano()] = w
	}
	return w
}

// Write records a batch's results and verdicts.
func (o *Outcome) Write(_ context.Context, b store.Batch) error {
	for _, r := range b.Results {
		w := o.window(r.WindowStart)
		w.results[resultKey{r.Kind, r.Feature, r.Metric}] = r
		if r.Kind == check.Quality && r.Feature == "" && r.Metric == check.Events {
			w.Checked, w.Events = true, r.Value
		}
	}
	for i := range b.Anomalies {
		v := b.Anomalies[i]
		o.window(v.WindowStart).Verdict = &v
	}
	return nil
}

// finish orders the windows and lists each one's findings.
func (o *Outcome) finish() {
	for _, w := range o.byStart {
		for _, r := range w.results {
			if r.Breached && r.Skipped == "" && r.Kind != check.Anomaly && isFinite(r.Value) {
				w.Findings = append(w.Findings, Finding{Kind: r.Kind, Feature: r.Feature, Metric: r.Metric, Value: r.Value, Threshold: r.Threshold})
			}
		}
		sort.Slice(w.Findings, func(i, j int) bool { return w.Findings[i].String() < w.Findings[j].String() })
		o.Windows = append(o.Windows, w)
	}
	sort.Slice(o.Windows, func(i, j int) bool { return o.Windows[i].Start.Before(o.Windows[j].Start) })
}

// incidentTail is how many windows after an incident ends still count as
// its own: a detector that followed the incident sees its end as a change.
const incidentTail = 3

// inIncident reports whether a window starting at t belongs to an incident
// (or its tail).
func (o *Outcome) inIncident(t time.Time) bool {
	for _, in := range o.Setup.Incidents {
		if !t.Before(in.Start.Truncate(o.Setup.Window)) && t.Before(in.End.Add(incidentTail*o.Setup.Window)) {
			return true
		}
	}
	return false
}

// Summary is what healthy windows found.
type Summary struct {
	// Windows are the windows checked outside incidents; Pairs those times
	// the subjects (features and prediction), and PairsFound the pairs with
	// at least one finding.
	Windows, Pairs, PairsFound int
	// ModelFindings counts the model-level findings (events, staleness,
	// unexpected fields, non-finite features).
	ModelFindings int
	// Scored and Flagged are the windows the detector scored and flagged.
	Scored, Flagged int
	// Found counts each check that breached, and each metric an anomaly
	// named among its causes ("anomaly: metric"), by the windows it did so in.
	Found map[string]int
	// Alerts lists the alerts that fired, with the window each first did.
	Alerts []string
	// MinEvents and MaxEvents bound the events of a window, the first and
	// last (possibly partial) aside.
	MinEvents, MaxEvents float64
}

// PairShare is the share of pairs with a finding.
func (s *Summary) PairShare() float64 { return ratio(s.PairsFound, s.Pairs) }

// FlaggedShare is the share of scored windows flagged.
func (s *Summary) FlaggedShare() float64 { return ratio(s.Flagged, s.Scored) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// FoundText lists what was found, most often first.
func (s *Summary) FoundText() string {
	keys := make([]string, 0, len(s.Found))
	for k := range s.Found {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if s.Found[keys[i]] != s.Found[keys[j]] {
			return s.Found[keys[i]] > s.Found[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, s.Found[k])
	}
	return strings.Join(parts, ", ")
}

// Healthy sums up the windows outside incidents.
func (o *Outcome) Healthy() Summary {
	s := Summary{Found: make(map[string]int), MinEvents: -1}
	subjects := make(map[string]bool, len(o.Subjects))
	for _, name := range o.Subjects {
		subjects[name] = true
	}
	for i, w := range o.Windows {
		if o.inIncident(w.Start) || !w.Checked {
			continue
		}
		s.Windows++
		s.Pairs += len(o.Subjects)
		if i > 0 && i < len(o.Windows)-1 {
			if s.MinEvents < 0 || w.Events < s.MinEvents {
				s.MinEvents = w.Events
			}
			s.MaxEvents = max(s.MaxEvents, w.Events)
		}
		found := map[string]bool{}
		for _, f := range w.Findings {
			s.Found[f.String()]++
			if subjects[f.Feature] {
				found[f.Feature] = true
			} else {
				s.ModelFindings++
			}
		}
		s.PairsFound += len(found)
		if v := w.Verdict; v != nil {
			s.Scored++
			if v.Anomaly {
				s.Flagged++
				for _, c := range v.Causes {
					s.Found["anomaly: "+c.Metric]++
				}
			}
		}
	}
	for _, f := range o.firing {
		if !o.inIncident(f.Since.Add(-o.Setup.Window)) {
			s.Alerts = append(s.Alerts, fmt.Sprintf("%s at %s", f.key(), f.At.Format("01-02 15:04")))
		}
	}
	return s
}

// Detection is how an incident was found.
type Detection struct {
	Incident traffic.Incident
	// Found is set when a finding of the incident's feature (or an anomaly
	// naming one of its metrics) came in a window of the incident, or in the
	// incidentTail windows after it; Delay is in windows from its first.
	Found bool
	Delay int
	// By is what found it first.
	By string
	// Alerted lists the alerts that fired during the incident (or its tail)
	// about its feature, or about the model as a whole.
	Alerted []string
}

// Detections says, for each incident, whether and how soon it was found.
func (o *Outcome) Detections() []Detection {
	var out []Detection
	for _, in := range o.Setup.Incidents {
		d := Detection{Incident: in, Delay: -1}
		first := in.Start.Truncate(o.Setup.Window)
		last := in.End.Add(incidentTail * o.Setup.Window)
		for _, w := range o.Windows {
			if w.Start.Before(first) || !w.Start.Before(last) {
				continue
			}
			if by, ok := attributed(&in, w); ok {
				d.Found, d.By = true, by
				d.Delay = int(w.Start.Sub(first) / o.Setup.Window)
				break
			}
		}
		seen := map[string]bool{}
		for _, f := range o.firing {
			if since := f.Since.Add(-o.Setup.Window); since.Before(first) || !since.Before(last) || (f.Feature != "" && f.Feature != in.Feature) {
				continue
			}
			key := f.key()
			if !seen[key] {
				seen[key] = true
				d.Alerted = append(d.Alerted, key)
			}
		}
		out = append(out, d)
	}
	return out
}

// attributed returns what in w points at the incident: a breached check of
// its feature (of the model, for a traffic drop), or an anomaly naming one of
// its metrics among the causes.
func attributed(in *traffic.Incident, w *Window) (string, bool) {
	for _, f := range w.Findings {
		if f.Feature == in.Feature {
			return f.String(), true
		}
	}
	if v := w.Verdict; v != nil && v.Anomaly {
		for _, c := range v.Causes {
			if (in.Feature == "" && c.Metric == check.Events) || (in.Feature != "" && strings.HasPrefix(c.Metric, in.Feature+".")) {
				return "anomaly: " + c.Metric, true
			}
		}
	}
	return "", false
}

// Kinds lists the incident kinds of detections, in traffic.Kinds order.
func Kinds(ds []Detection) []traffic.Kind {
	var out []traffic.Kind
	for _, k := range traffic.Kinds() {
		if slices.ContainsFunc(ds, func(d Detection) bool { return d.Incident.Kind == k }) {
			out = append(out, k)
		}
	}
	return out
}
