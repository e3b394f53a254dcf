// Package alerts is the one place that knows what a Sentinel alert is: the
// list of alerts (what each covers, its severity, how long its condition must
// hold, what it tells the on-call engineer and where its runbook is), the
// Prometheus rules generated from it, an evaluator of the same list for teams
// that let Sentinel post to Alertmanager directly, and the Alertmanager client
// that does so.
//
// The check alerts are built on the catalogue (package check): an alert names
// the kinds and metrics it covers, and the rules select exactly those series,
// so that no rule can name a check the daemon does not publish.
package alerts

import (
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// Severity says who hears of an alert: critical pages, warning opens a
// ticket, info is for dashboards and digests.
type Severity string

// The severities, as the alerts' severity label carries them.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// Valid reports whether s is a severity ("" is not: it means "the alert's
// default" where an override may be empty).
func (s Severity) Valid() bool { return s == Critical || s == Warning || s == Info }

// Match selects the check results of one kind and scope an alert fires on:
// those that broke their threshold.
type Match struct {
	Kind    check.Kind
	Scope   check.Scope
	Metrics []string
}

// CauseMatch selects anomaly verdicts that blame a metric moving the wrong
// way: the window is flagged, and one of its top causes is one of Metrics
// (as the detector names them: "latency_ms_p99", "prediction.auc") with its
// actual value on the Worse side of the expected one and at least
// CauseShare of the window's evidence.
type CauseMatch struct {
	Metrics []string
	Worse   check.Direction
}

// CauseShare is the least share of a flagged window's evidence a cause alert
// needs its metric to carry: a window flagged for something else still
// ranks three causes, and a metric a little on the wrong side of its forecast
// among them is not what went wrong.
const CauseShare = 0.25

// Alert is one alert of the list.
type Alert struct {
	// Name is the alertname, CamelCase with the Sentinel prefix.
	Name     string
	Severity Severity
	// Checks, when set, makes a check alert: it fires on the breached results
	// of these kinds and metrics, one alert per model, kind, feature and metric.
	Checks []Match
	// Cause, when set, makes an alert on the anomaly detector's verdict, one
	// per model and blamed metric.
	Cause *CauseMatch
	// Windows is how long a check or cause alert's condition must hold
	// before it fires, in windows: the rules' `for` is Windows times the
	// window size, and the evaluator fires on the window that closes that
	// long after the first one that showed the condition, as Prometheus does.
	Windows int
	// Expr, for an alert on Sentinel's own health, is its PromQL, given the
	// generator's options; only Prometheus evaluates these. For is then how
	// long it must hold, at production speed.
	Expr func(o Options) string
	For  time.Duration
	// Summary and Description are what the notification says, as parts that
	// render both to Prometheus templates and, in the evaluator, to text.
	Summary, Description []Part
	// Runbook is the anchor of the alert's section in docs/runbooks.md.
	Runbook string
}

// Evaluable reports whether the evaluator can judge the alert from check
// results and verdicts, as opposed to Sentinel's own health series.
func (a *Alert) Evaluable() bool { return a.Expr == nil }

// forDuration is the for of an alert at the given speed: the window size scales
// check alerts, the time scale health alerts.
func (a *Alert) forDuration(o Options) time.Duration {
	if a.Expr != nil {
		return scale(a.For, o.TimeScale)
	}
	return time.Duration(a.Windows) * o.Window
}

// List returns Sentinel's alerts, in the order the rules file and the
// runbooks give them.
func List() []Alert {
	var out []Alert
	out = append(out, checkAlerts()...)
	out = append(out, causeAlerts()...)
	out = append(out, healthAlerts()...)
	return out
}

// ByName returns the alert of the list with the given name.
func ByName(name string) (Alert, bool) {
	for _, a := range List() {
		if a.Name == name {
			return a, true
		}
	}
	return Alert{}, false
}

// driftMetrics names every drift statistic of the catalogue.
func driftMetrics() []string {
	var out []string
	for _, m := range check.DriftMethods() {
		for _, a := range []check.Against{check.VsPrevious, check.VsReference} {
			out = append(out, check.DriftMetric(m, a))
		}
	}
	return out
}

// skewStatistics names the skew statistics that can carry a threshold: the
// drift methods, compared with the training baseline.
func skewStatistics() []string {
	var out []string
	for _, m := range check.DriftMethods() {
		out = append(out, string(m))
	}
	return out
}

// checkAlerts are the alerts on what the checks find, one literal per alert:
// the list is long because it is the whole catalogue, kept in one place so a
// reader can see every alert, its severity and its `for` side by side.
func checkAlerts() []Alert {
	return []Alert{
		{
			Name: "SentinelFeatureDrift", Severity: Warning, Windows: 15, Runbook: "sentinelfeaturedrift",
			Checks:      []Match{{check.Drift, check.OfFeature, driftMetrics()}},
			Summary:     parts(SubjectCap, txt(" drifted ("), Label("metric"), txt(" "), Value, txt(")")),
			Description: checkDescription("Feature values stopped looking like recent traffic"),
		},
		{
			Name: "SentinelPredictionDrift", Severity: Warning, Windows: 15, Runbook: "sentinelpredictiondrift",
			Checks:      []Match{{check.Drift, check.OfPrediction, driftMetrics()}},
			Summary:     parts(SubjectCap, txt(" drifted ("), Label("metric"), txt(" "), Value, txt(")")),
			Description: checkDescription("The model's output distribution moved"),
		},
		{
			Name: "SentinelTrainServeSkew", Severity: Warning, Windows: 15, Runbook: "sentineltrainserveskew",
			Checks:      []Match{{check.Skew, check.OfFeature, skewStatistics()}},
			Summary:     parts(SubjectCap, txt(" differs from training ("), Label("metric"), txt(" "), Value, txt(")")),
			Description: checkDescription("Serving data no longer looks like the data the model was trained on"),
		},
		{
			Name: "SentinelSchemaSkew", Severity: Critical, Windows: 5, Runbook: "sentinelschemaskew",
			Checks: []Match{
				{check.Skew, check.OfFeature, []string{check.MissingRatio, check.TypeMismatch}},
				{check.Skew, check.OfModel, []string{check.UnexpectedFields}},
			},
			Summary:     parts(SubjectCap, txt(": schema skew ("), Label("metric"), txt(" "), Value, txt(")")),
			Description: checkDescription("Serving sends a different schema than the contract"),
		},
		{
			Name: "SentinelKeyedSkew", Severity: Warning, Windows: 15, Runbook: "sentinelkeyedskew",
			Checks:      []Match{{check.Skew, check.OfFeature, []string{check.KeyedMismatch}}},
			Summary:     parts(SubjectCap, txt(": served values differ from offline values ("), Value, txt(")")),
			Description: checkDescription("Online and offline feature pipelines disagree on the same requests"),
		},
		{
			Name: "SentinelDataQuality", Severity: Warning, Windows: 10, Runbook: "sentineldataquality",
			Checks: []Match{{check.Quality, check.OfFeature,
				[]string{check.NullRatio, check.WrongTypeRatio, check.OutOfRangeRatio, check.UnknownCategory}}},
			Summary:     parts(SubjectCap, txt(" breaks its contract ("), Label("metric"), txt(" "), Value, txt(")")),
			Description: checkDescription("Serving data breaks the data contract"),
		},
		{
			Name: "SentinelNumericalInstability", Severity: Critical, Windows: 3, Runbook: "sentinelnumericalinstability",
			Checks: []Match{
				{check.Numerical, check.OfModel, []string{check.NonFiniteFeatures}},
				{check.Numerical, check.OfPrediction, []string{check.NaNRatio, check.InfRatio, check.OutOfRangeRatio}},
			},
			Summary:     parts(SubjectCap, txt(": numerical instability ("), Label("metric"), txt(" "), Value, txt(")")),
			Description: checkDescription("NaN, infinite or impossible values reach or leave the model"),
		},
		{
			Name: "SentinelBadLabels", Severity: Warning, Windows: 10, Runbook: "sentinelbadlabels",
			Checks:      []Match{{check.Performance, check.OfPrediction, []string{check.BadLabels}}},
			Summary:     parts(SubjectCap, txt(": "), Value, txt(" labels could not be read")),
			Description: checkDescription("Ground-truth labels arrive in a form the model's prediction kind cannot use"),
		},
		{
			// A check alert of its own rather than a cause of
			// SentinelModelQualityDrop: that one fires when realised quality
			// drops below what the anomaly detector expects of the time of
			// day, whatever the reason (broken inputs, a shift of the
			// traffic); this one when it falls below what the model's own
			// calibrated probabilities promise for the inputs it sees, which
			// only a change in what the inputs mean explains. Ten windows
			// outlast the gap a shift of the inputs opens while its labels
			// are still on their way.
			Name: "SentinelConceptDrift", Severity: Warning, Windows: 10, Runbook: "sentinelconceptdrift",
			Checks: []Match{{check.Performance, check.OfPrediction, []string{check.AccuracyGap, check.AUCGap}}},
			Summary: parts(txt("Model "), Label("model"), txt(": labels show less quality than its predictions promise ("),
				Label("metric"), txt(" "), Value, txt(")")),
			Description: checkDescription("Labels show the model doing worse than its calibrated probabilities promise for the same inputs (concept drift)"),
		},
		{
			// How different a candidate may be is the team's call
			// (shadow.max_disagreement); ten windows keep a burst of
			// unusual requests from opening a ticket.
			Name: "SentinelShadowDisagreement", Severity: Warning, Windows: 10, Runbook: "sentinelshadowdisagreement",
			Checks: []Match{{check.Shadow, check.OfModel, []string{check.DisagreementRatio}}},
			Summary: parts(txt("Model "), Label("model"), txt(": the shadow candidate decides otherwise than the reference on "),
				Value, txt(" of requests")),
			Description: checkDescription("The candidate version decides otherwise than the live one on the same requests"),
		},
		{
			Name: "SentinelShadowUnpaired", Severity: Warning, Windows: 5, Runbook: "sentinelshadowunpaired",
			Checks:      []Match{{check.Shadow, check.OfModel, []string{check.UnpairedRatio}}},
			Summary:     parts(txt("Model "), Label("model"), txt(": "), Value, txt(" of shadow requests were scored by one version only")),
			Description: checkDescription("The shadow versions do not score the same requests, so they are not compared on all of them"),
		},
		{
			// A canary is on trial for a short while: three windows confirm a
			// verdict without waiting out the rollout.
			Name: "SentinelCanaryWorse", Severity: Warning, Windows: 3, Runbook: "sentinelcanaryworse",
			Checks: []Match{{check.Canary, check.OfVersion, []string{check.PredictionDrift, check.ErrorRatioIncrease,
				check.NaNRatioIncrease, check.LatencyP95Ratio, check.LatencyP99Ratio, check.AccuracyLoss, check.AUCLoss, check.MAEIncrease}}},
			Summary: parts(SubjectCap, txt(" is worse than the reference version: "), Label("metric"), txt(" is "), Value),
			Description: parts(SubjectCap, txt(", on trial as a canary, is worse than the reference version on "), Label("metric"),
				txt(": "), Value, txt(" against a tolerance of "), Threshold, txt(". Hold or roll back the rollout, and compare the two versions' panels.")),
		},
		{
			Name: "SentinelCanarySplitBiased", Severity: Warning, Windows: 3, Runbook: "sentinelcanarysplitbiased",
			Checks:  []Match{{check.Canary, check.OfVersion, []string{check.SplitPValue}}},
			Summary: parts(SubjectCap, txt(" sees other inputs than the reference version: the traffic split is biased")),
			Description: parts(SubjectCap, txt(" and the reference version receive differently distributed features (p-value "), Value,
				txt(", below canary.split_alpha "), Threshold, txt("): the router does not split traffic at random, so the canary's verdicts compare unlike inputs.")),
		},
		{
			Name: "SentinelVersionSilent", Severity: Warning, Windows: 1, Runbook: "sentinelversionsilent",
			Checks:  []Match{{check.Availability, check.OfVersion, []string{check.SecondsSinceEvent}}},
			Summary: parts(SubjectCap, txt(" has sent no events for "), Value, txt(" while the model sends")),
			Description: parts(SubjectCap, txt(" has sent no event for "), Value, txt(" of event time while the model still sends, "+
				"longer than versions.max_silence ("), Threshold, txt("). Its replicas may have failed to load, or traffic was routed away from it.")),
		},
		{
			// Info: a deploy is news for the dashboards, not a page. The
			// finding lasts one window, so the alert fires at once.
			Name: "SentinelNewModelVersion", Severity: Info, Windows: 1, Runbook: "sentinelnewmodelversion",
			Checks:  []Match{{check.Availability, check.OfVersion, []string{check.NewVersion}}},
			Summary: parts(SubjectCap, txt(" started sending events")),
			Description: parts(SubjectCap, txt(" sent its first events since Sentinel started: a deploy, a canary or a shadow "+
				"began. Check it is the one planned.")),
		},
		{
			Name: "SentinelModelSilent", Severity: Critical, Windows: 1, Runbook: "sentinelmodelsilent",
			Checks:  []Match{{check.Staleness, check.OfModel, []string{check.SecondsSinceEvent}}},
			Summary: parts(txt("Model "), Label("model"), txt(" has sent no events for "), Value),
			Description: parts(txt("Model "), Label("model"), txt(" has sent no event for "), Value,
				txt(", longer than staleness.max_silence ("), Threshold, txt("). Either the model stopped serving, "+
					"its producer stopped publishing, or Sentinel no longer reads its topic.")),
		},
		{
			Name: "SentinelModelTooOld", Severity: Info, Windows: 60, Runbook: "sentinelmodeltooold",
			Checks:  []Match{{check.Staleness, check.OfModel, []string{check.ModelAgeSeconds}}},
			Summary: parts(txt("Model "), Label("model"), txt(" was trained "), Value, txt(" ago")),
			Description: parts(txt("The contract of model "), Label("model"), txt(" says it was trained "), Value,
				txt(" ago (trained_at), longer than staleness.max_model_age ("), Threshold, txt("). Plan a retrain "+
					"or raise the limit.")),
		},
		{
			Name: "SentinelAnomaly", Severity: Warning, Windows: 5, Runbook: "sentinelanomaly",
			Checks:  []Match{{check.Anomaly, check.OfModel, []string{check.Score}}},
			Summary: parts(txt("Model "), Label("model"), txt(": anomalous windows (score "), Value, txt(")")),
			Description: parts(txt("The anomaly detector flags the windows of model "), Label("model"),
				txt(": score "), Value, txt(", above its threshold "), Threshold,
				txt(" (-log10 of the chance of so unusual a window when all is well), for "), For,
				txt(". Top causes (metric: actual vs expected): "), Causes, txt(".")),
		},
	}
}

// checkDescription is the description every check alert shares: what broke,
// by how much, against which threshold, for how long, and what the metric is.
func checkDescription(what string) []Part {
	return parts(txt(what+": "), Label("metric"), txt(" of "), Subject, txt(" is "), Value, txt(", "),
		Direction, txt(" its threshold "), Threshold, txt(", in every window for "), For, txt(". "), Help)
}

func causeAlerts() []Alert {
	return []Alert{
		{
			Name: "SentinelModelQualityDrop", Severity: Warning, Windows: 10, Runbook: "sentinelmodelqualitydrop",
			Cause: &CauseMatch{Metrics: qualityCauses(check.Below), Worse: check.Below},
			Summary: parts(txt("Model "), Label("model"), txt(": "), Label("metric"), txt(" fell to "), Value,
				txt(" (expected "), Expected, txt(")")),
			Description: qualityDescription("fell to", "below"),
		},
		{
			Name: "SentinelModelErrorRise", Severity: Warning, Windows: 10, Runbook: "sentinelmodelerrorrise",
			Cause: &CauseMatch{Metrics: qualityCauses(check.Above), Worse: check.Above},
			Summary: parts(txt("Model "), Label("model"), txt(": "), Label("metric"), txt(" rose to "), Value,
				txt(" (expected "), Expected, txt(")")),
			Description: qualityDescription("rose to", "above"),
		},
		{
			Name: "SentinelLatencyRegression", Severity: Warning, Windows: 10, Runbook: "sentinellatencyregression",
			Cause: &CauseMatch{Metrics: []string{check.LatencyP99}, Worse: check.Above},
			Summary: parts(txt("Model "), Label("model"), txt(": p99 serving latency "), Value,
				txt(" ms (expected "), Expected, txt(" ms)")),
			Description: parts(txt("The 99th percentile of the serving latency that model "), Label("model"),
				txt("'s events report is "), Value, txt(" ms where the anomaly detector expected "), Expected,
				txt(" ms for this time of day, and it is among the top causes of anomalous windows for "), For, txt(".")),
		},
	}
}

// qualityCauses names the label-based quality metrics the detector watches
// whose drop (Below) or rise (Above) is bad news.
func qualityCauses(worse check.Direction) []string {
	if worse == check.Below {
		return []string{check.PredictionFeature + "." + check.Accuracy, check.PredictionFeature + "." + check.AUC}
	}
	return []string{check.PredictionFeature + "." + check.MAE, check.PredictionFeature + "." + check.RMSE}
}

func qualityDescription(verb, side string) []Part {
	return parts(txt("Measured on delayed labels, "), Label("metric"), txt(" of model "), Label("model"),
		txt(" "+verb+" "), Value, txt(", "+side+" the "), Expected, txt(" the anomaly detector expected, "+
			"and it is among the top causes of anomalous windows for "), For,
		txt(". The model predicts worse than it did: its inputs changed or the world did."))
}

// Cover lists the catalogue metrics a check alert covers.
func (a *Alert) Cover(cat *check.Catalogue) []check.Metric {
	var out []check.Metric
	for _, m := range cat.Metrics() {
		if a.covers(m.Kind, m.Scope, m.Name) {
			out = append(out, m)
		}
	}
	return out
}

func (a *Alert) covers(kind check.Kind, scope check.Scope, metric string) bool {
	for _, m := range a.Checks {
		if m.Kind == kind && m.Scope == scope && slices.Contains(m.Metrics, metric) {
			return true
		}
	}
	return false
}

// scopeOf is the scope of a result by its feature.
func scopeOf(feature string) check.Scope {
	if _, ok := check.VersionOf(feature); ok {
		return check.OfVersion
	}
	switch feature {
	case "":
		return check.OfModel
	case check.PredictionFeature:
		return check.OfPrediction
	}
	return check.OfFeature
}

// CoversResult reports whether a check alert fires on r when r breaches.
func (a *Alert) CoversResult(r *check.Result) bool {
	return a.covers(r.Kind, scopeOf(r.Feature), r.Metric)
}
