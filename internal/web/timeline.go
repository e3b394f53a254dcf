package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/status"
)

// timeline is a model's recent windows drawn on one time axis: the anomaly
// score against its threshold, the events per window, and which kinds of
// check broke, with the annotations shaded across all three. Coordinates are
// formatted numbers; every text is escaped by the template.
type timeline struct {
	Width, Height, Left, Right   int
	Label                        string
	ScoreTop, ScoreBottom        int
	ScoreTicks                   []tick
	Threshold                    *tick
	ScoreLines                   []string
	Points                       []mark
	NoVerdict                    bool
	EventsTop, EventsBottom      int
	EventsMax                    string
	Bars                         []mark
	Rows                         []gridRow
	AxisY                        int
	TimeTicks                    []tick
	Notes                        []noteMark
	ScoreLabelY, EventsLabelY    int
	NoteLabelY, NoteTop, GridEnd int
}

type tick struct {
	X, Y  string
	Label string
}

// mark is a circle (X, Y) or a rectangle (X, Y, W, H) with a tooltip.
type mark struct {
	X, Y, W, H, Class, Title string
}

type gridRow struct {
	Label, Y string
	Cells    []mark
}

type noteMark struct {
	X, W, Label, Title string
}

// The timeline's geometry, in SVG user units (pixels at 100%).
const (
	tlWidth    = 960
	tlLeft     = 84
	tlRight    = 16
	noteLabelY = 13
	scoreTop   = 22
	scoreH     = 150
	eventsTop  = scoreTop + scoreH + 14
	eventsH    = 40
	gridTop    = eventsTop + eventsH + 12
	gridRowH   = 15
)

// scoreY places a score on a log scale, so that both the threshold (about
// 3.5) and the cap (300) are readable on one axis.
func scoreY(s float64) float64 {
	s = min(max(s, 0), anomaly.ScoreCap)
	return scoreTop + scoreH*(1-math.Log10(1+s)/math.Log10(1+anomaly.ScoreCap))
}

func (p *statusPage) timeline(m *status.Model) *timeline {
	ws := m.Windows
	if len(ws) == 0 {
		return nil
	}
	t0, t1 := ws[0].Start, ws[len(ws)-1].End
	if !t1.After(t0) {
		return nil
	}
	plot := float64(tlWidth - tlLeft - tlRight)
	x := func(t time.Time) float64 {
		return tlLeft + plot*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	kinds := timelineKinds(m)
	gridEnd := gridTop + gridRowH*len(kinds)
	tl := &timeline{Width: tlWidth, Left: tlLeft, Right: tlWidth - tlRight, ScoreTop: scoreTop, ScoreBottom: scoreTop + scoreH,
		EventsTop: eventsTop, EventsBottom: eventsTop + eventsH, GridEnd: gridEnd, AxisY: gridEnd + 14, Height: gridEnd + 22,
		NoteLabelY: noteLabelY, NoteTop: noteLabelY + 4, ScoreLabelY: scoreTop + scoreH/2, EventsLabelY: eventsTop + eventsH/2 + 4,
		Label: fmt.Sprintf("Model %s: anomaly score, events and breached checks per window, %s UTC", m.Name, span(t0, t1))}
	for _, s := range []float64{0, 1, 10, 30, 100, 300} {
		tl.ScoreTicks = append(tl.ScoreTicks, tick{Y: f1(scoreY(s)), Label: strconv.FormatFloat(s, 'f', -1, 64)})
	}
	tl.scores(ws, x)
	tl.grid(ws, kinds, x)

	step := (len(ws) + 7) / 8
	layout := clockLayout(ws[0].Start, ws[0].End)
	if t1.Sub(t0) > 24*time.Hour {
		layout = "Jan 2 15:04"
	}
	for i := 0; i < len(ws); i += step {
		tl.TimeTicks = append(tl.TimeTicks, tick{X: f1(x(ws[i].Start)), Label: ws[i].Start.UTC().Format(layout)})
	}
	tl.notes(m.Annotations, t0, t1, x)
	return tl
}

// scores draws the anomaly score, a line broken where there is no verdict or
// no window, with its threshold.
func (tl *timeline) scores(ws []status.Window, x func(time.Time) float64) {
	var line []string
	threshold := math.NaN()
	flush := func() {
		if len(line) > 1 {
			tl.ScoreLines = append(tl.ScoreLines, strings.Join(line, " "))
		}
		line = nil
	}
	for i := range ws {
		w := &ws[i]
		v := w.Verdict
		if v == nil || (i > 0 && !ws[i-1].End.Equal(w.Start)) {
			flush()
		}
		if v == nil {
			continue
		}
		if !math.IsNaN(v.Threshold) {
			threshold = v.Threshold
		}
		cx, cy := x(w.Start)+(x(w.End)-x(w.Start))/2, scoreY(v.Score)
		line = append(line, f1(cx)+","+f1(cy))
		class, verdict := "pt", "not flagged"
		if v.Anomaly {
			class, verdict = "pt flag", "flagged"
		}
		title := fmt.Sprintf("%s UTC: anomaly score %s, %s", span(w.Start, w.End), anomaly.ScoreText(v.Score), verdict)
		if v.Statistic != "" {
			title += " (" + v.Statistic + ")"
		}
		for _, c := range v.Causes {
			title += "\n" + causeText(c)
		}
		tl.Points = append(tl.Points, mark{X: f1(cx), Y: f1(cy), Class: class, Title: title})
	}
	flush()
	tl.NoVerdict = len(tl.Points) == 0
	if !math.IsNaN(threshold) {
		tl.Threshold = &tick{Y: f1(scoreY(threshold)), Label: "threshold " + strconv.FormatFloat(threshold, 'f', 2, 64)}
	}
}

// grid draws the events per window, and a row per kind of check: breached,
// passed, skipped or none.
func (tl *timeline) grid(ws []status.Window, kinds []check.Kind, x func(time.Time) float64) {
	maxEvents := 0.0
	for i := range ws {
		if !math.IsNaN(ws[i].Events) {
			maxEvents = max(maxEvents, ws[i].Events)
		}
	}
	tl.EventsMax = count(maxEvents)
	rows := make([]gridRow, len(kinds))
	for k, kind := range kinds {
		rows[k] = gridRow{Label: string(kind), Y: strconv.Itoa(gridTop + gridRowH*k)}
	}
	for i := range ws {
		w := &ws[i]
		x0, x1 := x(w.Start), x(w.End)
		width := f1(max(x1-x0-1, 1))
		if !math.IsNaN(w.Events) && maxEvents > 0 {
			h := eventsH * w.Events / maxEvents
			tl.Bars = append(tl.Bars, mark{X: f1(x0), Y: f1(eventsTop + eventsH - h), W: width, H: f1(h), Class: "bar",
				Title: fmt.Sprintf("%s UTC: %s events", span(w.Start, w.End), count(w.Events))})
		}
		for k, kind := range kinds {
			c, ok := w.Kinds[kind]
			class, title := "c-none", fmt.Sprintf("%s UTC, %s: no checks", span(w.Start, w.End), kind)
			switch {
			case !ok:
			case c.Breached > 0:
				class, title = "c-bad", breachTitle(w, kind, c)
			case c.Checks > 0:
				class, title = "c-ok", fmt.Sprintf("%s UTC, %s: %d checks, none breached", span(w.Start, w.End), kind, c.Checks)
			case c.Skipped > 0:
				class, title = "c-skip", fmt.Sprintf("%s UTC, %s: %d checks skipped (too few samples)", span(w.Start, w.End), kind, c.Skipped)
			}
			rows[k].Cells = append(rows[k].Cells, mark{X: f1(x0), Y: rows[k].Y, W: width, H: strconv.Itoa(gridRowH - 2), Class: class, Title: title})
		}
	}
	tl.Rows = rows
}

// notes shades the annotations that overlap the chart.
func (tl *timeline) notes(annotations []status.Annotation, t0, t1 time.Time, x func(time.Time) float64) {
	for _, n := range annotations {
		end := n.End
		if !end.After(n.Start) {
			end = n.Start
		}
		if end.Before(t0) || n.Start.After(t1) {
			continue
		}
		x0, x1 := x(maxTime(n.Start, t0)), x(minTime(end, t1))
		// About seven units a character at the labels' size: a label stops at
		// the chart's edge.
		room := int((tlWidth - tlRight - x0) / 6.8)
		tl.Notes = append(tl.Notes, noteMark{X: f1(x0), W: f1(max(x1-x0, 2)), Label: shorten(n.Text, max(room, 8)),
			Title: noteSpan(n) + ": " + n.Text})
	}
}

// breachTitle lists a window's breached checks of one kind.
func breachTitle(w *status.Window, kind check.Kind, c status.Count) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s UTC, %s: %d of %d checks breached", span(w.Start, w.End), kind, c.Breached, c.Checks)
	listed := 0
	for _, r := range w.Breached {
		if r.Kind != kind {
			continue
		}
		feature := r.Feature
		if feature == "" {
			feature = "(model)"
		}
		fmt.Fprintf(&b, "\n%s %s %s (threshold %s)", feature, r.Metric, anomaly.FormatValue(r.Value), anomaly.FormatValue(r.Threshold))
		listed++
	}
	if listed < c.Breached {
		fmt.Fprintf(&b, "\nand %d more", c.Breached-listed)
	}
	return b.String()
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// shorten cuts a label that would run across the chart; the full text is in
// its tooltip and in the list below the chart.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
