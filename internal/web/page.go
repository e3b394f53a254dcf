package web

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/status"
)

// StatusSource is what the status page shows; status.Board implements it.
type StatusSource interface {
	Snapshot() status.Snapshot
}

//go:embed page.html.tmpl
var pageTemplate string

// statusPage renders the status page: server-side HTML with inline SVG, no
// script and no external asset, so that it reads the same in a terminal
// browser, behind a strict proxy and in a screenshot. Every string that came
// from a payload or a configuration goes through html/template's escaping;
// the view holds none as markup.
type statusPage struct {
	src  StatusSource
	cat  *check.Catalogue
	tmpl *template.Template
	log  *slog.Logger
}

func newStatusPage(src StatusSource, log *slog.Logger) *statusPage {
	return &statusPage{src: src, cat: check.NewCatalogue(), tmpl: template.Must(template.New("page").Parse(pageTemplate)), log: log}
}

// refreshSeconds paces the page's reload: a window is minutes long, and an
// on-call engineer leaves the page open.
const refreshSeconds = 30

func (p *statusPage) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	var buf bytes.Buffer
	if err := p.tmpl.Execute(&buf, p.view(p.src.Snapshot())); err != nil {
		p.log.Error("rendering the status page", "err", err)
		http.Error(w, "rendering the status page failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// No script may run, whatever a payload managed to put in the page.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if _, err := w.Write(buf.Bytes()); err != nil {
		p.log.Debug("writing the status page", "err", err)
	}
}

// The view: everything formatted and placed, so that the template only
// lays it out.

type pageView struct {
	At       string
	Refresh  int
	Alerting bool
	Models   []modelView
}

type modelView struct {
	ID, Name  string
	State     badge
	Facts     []string
	LastText  string
	Events    string
	ScoreText string
	Breached  string
	AlertText string
	Alerts    []alertView
	Timeline  *timeline
	Verdict   *verdictView
	Table     *tableView
	Notes     []noteView
}

type badge struct{ Class, Text string }

type alertView struct {
	Name, Severity, SeverityClass, State, Feature, Since, Summary string
	Causes                                                        []string
}

type verdictView struct {
	Window      string
	Flagged     bool
	Score       string
	Explanation string
	Causes      []string
}

type noteView struct{ When, Text string }

func (p *statusPage) view(s status.Snapshot) pageView {
	v := pageView{At: s.At.UTC().Format("2006-01-02 15:04:05 MST"), Refresh: refreshSeconds, Alerting: s.Alerting}
	for i := range s.Models {
		v.Models = append(v.Models, p.model(i, &s.Models[i], s.At))
	}
	return v
}

func (p *statusPage) model(i int, m *status.Model, at time.Time) modelView {
	// Ids are the model's position, never its name: a name is text only.
	mv := modelView{ID: "m" + strconv.Itoa(i), Name: m.Name, LastText: "–", Events: "–", ScoreText: "–", Breached: "–"}
	firing, pending := 0, 0
	for _, a := range m.Alerts {
		if a.Firing {
			firing++
		} else {
			pending++
		}
		mv.Alerts = append(mv.Alerts, alertOf(a, at))
	}
	mv.AlertText = fmt.Sprintf("%d firing, %d pending", firing, pending)
	silent := false
	last := m.Latest()
	if last != nil {
		mv.LastText = span(last.Start, last.End)
		mv.Events = count(last.Events)
		t := last.Total()
		mv.Breached = fmt.Sprintf("%d of %d", t.Breached, t.Checks)
		fact := fmt.Sprintf("Last window checked: %s UTC on %s, %s events, %d of %d checks with a threshold breached",
			span(last.Start, last.End), last.Start.UTC().Format("2006-01-02"), count(last.Events), t.Breached, t.Checks)
		if t.Skipped > 0 {
			fact += fmt.Sprintf(", %d skipped (too few samples)", t.Skipped)
		}
		if at.After(last.End) {
			fact += ", closed " + duration(at.Sub(last.End).Seconds()) + " ago"
		}
		if last.Rewrites > 0 {
			fact += fmt.Sprintf("; written again %d times with late events", last.Rewrites)
		}
		mv.Facts = append(mv.Facts, fact+".")
		if v := last.Verdict; v != nil {
			mv.ScoreText = anomaly.ScoreText(v.Score)
		}
	} else {
		mv.Facts = append(mv.Facts, "No window checked yet: a window is checked once every partition of the events topic has passed its end.")
	}
	for _, r := range m.Clock {
		switch r.Metric {
		case check.SecondsSinceEvent:
			fact := fmt.Sprintf("Last event %s before the clock check at %s", duration(r.Value), m.ClockAt.UTC().Format("15:04:05 MST"))
			if r.HasThreshold() {
				fact += fmt.Sprintf(" (limit %s)", duration(r.Threshold))
			}
			if r.Breached {
				silent = true
				fact = "Silent: " + strings.ToLower(fact[:1]) + fact[1:] + ", longer than the limit"
			}
			mv.Facts = append(mv.Facts, fact+".")
		case check.ModelAgeSeconds:
			fact := "Model trained " + duration(r.Value) + " before the clock check"
			if r.HasThreshold() {
				fact += fmt.Sprintf(" (limit %s)", duration(r.Threshold))
			}
			if r.Breached {
				fact += ": older than the limit"
			}
			mv.Facts = append(mv.Facts, fact+".")
		}
	}
	mv.State = state(m, last, silent, firing)
	mv.Timeline = p.timeline(m)
	if last != nil {
		mv.Verdict = verdictOf(m)
		mv.Table = p.table(m)
	}
	for _, n := range m.Annotations {
		mv.Notes = append(mv.Notes, noteView{When: noteSpan(n), Text: n.Text})
	}
	return mv
}

// state is the one word the summary gives a model, the worst that applies.
func state(m *status.Model, last *status.Window, silent bool, firing int) badge {
	critical := false
	for _, a := range m.Alerts {
		critical = critical || (a.Firing && a.Severity == "critical")
	}
	switch {
	case silent:
		return badge{"bad", "silent"}
	case critical:
		return badge{"bad", "critical alert"}
	case firing > 0:
		return badge{"warn", "alerting"}
	case last == nil:
		return badge{"idle", "waiting"}
	case last.Verdict != nil && last.Verdict.Anomaly:
		return badge{"warn", "anomalous"}
	case last.Total().Breached > 0:
		return badge{"warn", "checks breached"}
	}
	return badge{"ok", "ok"}
}

func alertOf(a status.Alert, at time.Time) alertView {
	av := alertView{Name: a.Name, Severity: a.Severity, SeverityClass: "other", State: "pending", Feature: a.Feature, Summary: a.Summary}
	switch a.Severity {
	case "critical", "warning", "info":
		av.SeverityClass = a.Severity
	}
	if av.Severity == "" {
		av.Severity = "none"
	}
	if a.Firing {
		av.State = "firing"
	}
	if av.Feature == "" {
		av.Feature = "–"
	}
	if !a.Since.IsZero() {
		av.Since = a.Since.UTC().Format("2006-01-02 15:04 MST")
		if at.After(a.Since) {
			av.Since += " (" + duration(at.Sub(a.Since).Seconds()) + ")"
		}
	}
	for _, c := range a.Causes {
		av.Causes = append(av.Causes, causeText(c))
	}
	return av
}

func causeText(c check.Cause) string {
	return anomaly.CauseFacts{Metric: c.Metric, Actual: c.Actual, Expected: c.Expected, Contribution: c.Contribution, Detail: c.Detail}.Explain()
}

// verdictOf describes the latest verdict, the one an on-call engineer asks
// about first.
func verdictOf(m *status.Model) *verdictView {
	for i := len(m.Windows) - 1; i >= 0; i-- {
		w := &m.Windows[i]
		v := w.Verdict
		if v == nil {
			continue
		}
		vv := &verdictView{Window: span(w.Start, w.End) + " UTC", Flagged: v.Anomaly, Score: anomaly.ScoreWithChance(v.Score),
			Explanation: anomaly.VerdictFacts{Score: v.Score, Threshold: v.Threshold, Anomaly: v.Anomaly, Statistic: v.Statistic}.Explain()}
		for _, c := range v.Causes {
			vv.Causes = append(vv.Causes, causeText(c))
		}
		return vv
	}
	return nil
}

// The per-feature table: one row per feature, one column per kind of check,
// each cell the latest window's results of that kind against their
// thresholds.

type tableView struct {
	Window string
	Kinds  []string
	Rows   []tableRow
}

type tableRow struct {
	Feature string
	Cells   [][]cellItem
}

// cellItem is one check in a cell: its metric, then its value against its
// threshold, kept on one line.
type cellItem struct{ Class, Metric, Value, Title string }

// windowKinds are the kinds of check a window's results hold: the table's
// columns and the timeline's rows (staleness is the clock's, anomaly the
// score's). The versions' kinds come last, for models whose contract has
// them: in the table their rows are the versions ("version:v2").
func windowKinds() []check.Kind {
	return []check.Kind{check.Quality, check.Skew, check.Drift, check.Numerical, check.Performance,
		check.Shadow, check.Canary, check.Availability}
}

// versionKinds are the kinds of windowKinds only a contract's versions,
// shadow or canary report.
func versionKinds() []check.Kind { return []check.Kind{check.Shadow, check.Canary, check.Availability} }

// timelineKinds are the timeline's rows for m: every kind of the checks of
// every model, and the versions' kinds when m reports them.
func timelineKinds(m *status.Model) []check.Kind {
	present := make(map[check.Kind]bool)
	for i := range m.Checks {
		present[m.Checks[i].Kind] = true
	}
	var out []check.Kind
	for _, k := range windowKinds() {
		if !slices.Contains(versionKinds(), k) || present[k] {
			out = append(out, k)
		}
	}
	return out
}

func (p *statusPage) table(m *status.Model) *tableView {
	if len(m.Checks) == 0 {
		return nil
	}
	last := m.Latest()
	t := &tableView{Window: span(last.Start, last.End) + " UTC"}
	present := make(map[check.Kind]bool)
	for _, r := range m.Checks {
		present[r.Kind] = true
	}
	var kinds []check.Kind
	for _, k := range windowKinds() {
		if present[k] {
			kinds = append(kinds, k)
			t.Kinds = append(t.Kinds, string(k))
		}
	}
	col := func(k check.Kind) int {
		for i, x := range kinds {
			if x == k {
				return i
			}
		}
		return -1
	}
	for i := range m.Checks {
		r := &m.Checks[i]
		c := col(r.Kind)
		if c < 0 {
			continue
		}
		feature := r.Feature
		if feature == "" {
			feature = "(model)"
		}
		if len(t.Rows) == 0 || t.Rows[len(t.Rows)-1].Feature != feature {
			t.Rows = append(t.Rows, tableRow{Feature: feature, Cells: make([][]cellItem, len(kinds))})
		}
		row := &t.Rows[len(t.Rows)-1]
		row.Cells[c] = append(row.Cells[c], p.cell(r))
	}
	return t
}

// cell writes a result against its threshold in the metric's direction:
// "psi 0.7451 > 0.2" when breached, "psi 0.01 ≤ 0.2" when not.
func (p *statusPage) cell(r *check.Result) cellItem {
	m, known := p.cat.Lookup(r)
	title := r.Metric
	if known {
		title = m.Help
	}
	if r.Skipped != "" {
		return cellItem{Class: "skip", Title: title, Metric: r.Metric,
			Value: fmt.Sprintf("skipped: %s (%s of %s)", strings.ReplaceAll(r.Skipped, "_", " "), count(r.Value), count(r.Threshold))}
	}
	below := known && m.Breach == check.Below
	op := map[[2]bool]string{{false, false}: "≤", {false, true}: ">", {true, false}: "≥", {true, true}: "<"}[[2]bool{below, r.Breached}]
	class := "ok"
	if r.Breached {
		class = "bad"
	}
	return cellItem{Class: class, Title: title, Metric: r.Metric,
		Value: fmt.Sprintf("%s %s %s", anomaly.FormatValue(r.Value), op, anomaly.FormatValue(r.Threshold))}
}

// Formatting.

func span(start, end time.Time) string {
	layout := clockLayout(start, end)
	return start.UTC().Format(layout) + "–" + end.UTC().Format(layout)
}

// clockLayout shows seconds only when the times are not on the minute, as
// windows shorter than a minute are not.
func clockLayout(times ...time.Time) string {
	for _, t := range times {
		if t.Second() != 0 || t.Nanosecond() != 0 {
			return "15:04:05"
		}
	}
	return "15:04"
}

func noteSpan(n status.Annotation) string {
	if !n.End.After(n.Start) {
		return n.Start.UTC().Format("2006-01-02 15:04 MST")
	}
	return n.Start.UTC().Format("2006-01-02 ") + span(n.Start, n.End) + " UTC"
}

// count writes a count, "–" when unknown.
func count(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// duration writes seconds as a person reads them: "42 s", "5m 12s", "3h 5m",
// "19d 10h".
func duration(seconds float64) string {
	if math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		return "–"
	}
	s := int64(math.Round(seconds))
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		return fmt.Sprintf("%dm %ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
}
