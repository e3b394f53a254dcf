package alerts

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// Part is a piece of an alert's summary or description. The same parts render
// to a Prometheus template for the rules and to text in the evaluator, so that
// a notification reads the same whichever evaluated it.
type Part struct {
	kind partKind
	text string // txt: the text; label: the label's name; value: the unit
}

type partKind int

const (
	partText partKind = iota
	partLabel
	partSubject   // "feature amount of model fraud", "the predictions of model fraud", "model fraud"; text "cap" capitalises
	partValue     // the alert's value, in the metric's unit
	partThreshold // the check's threshold, in the metric's unit
	partDirection // "above" or "below": how the metric breaches
	partHelp      // the catalogue's help of the metric
	partFor       // how long the condition must hold
	partExpected  // the detector's expected value of a blamed metric
	partCauses    // the anomaly's top causes
)

// The parts that take nothing.
var (
	Subject = Part{kind: partSubject}
	// SubjectCap is Subject at the start of a sentence.
	SubjectCap = Part{kind: partSubject, text: "cap"}
	Value      = Part{kind: partValue}
	Threshold  = Part{kind: partThreshold}
	Direction  = Part{kind: partDirection}
	Help       = Part{kind: partHelp}
	For        = Part{kind: partFor}
	Expected   = Part{kind: partExpected}
	Causes     = Part{kind: partCauses}
)

func txt(s string) Part { return Part{kind: partText, text: s} }

// Label is the value of one of the alert's labels.
func Label(name string) Part { return Part{kind: partLabel, text: name} }

// ValueAs is the alert's value in a given unit, for alerts without a metric.
func ValueAs(unit string) Part { return Part{kind: partValue, text: unit} }

func parts(ps ...Part) []Part { return ps }

// templateOf renders parts to a Prometheus template for alert a.
func (a *Alert) templateOf(ps []Part, o Options, cat *check.Catalogue) string {
	var b strings.Builder
	metrics := a.Cover(cat)
	for _, p := range ps {
		switch p.kind {
		case partText:
			b.WriteString(escapeTemplate(p.text))
		case partLabel:
			fmt.Fprintf(&b, "{{ $labels.%s }}", p.text)
		case partSubject:
			b.WriteString(subjectTemplate(metrics, p.text == "cap"))
		case partValue:
			if p.text != "" || a.Cause != nil {
				b.WriteString(formatTemplate("$value", unitOrValue(p.text)))
				break
			}
			b.WriteString(byMetric(metrics, func(m check.Metric) string { return formatTemplate("$value", m.Unit) }))
		case partThreshold:
			q := `printf "sentinel_check_threshold{model=%q,kind=%q,feature=%q,metric=%q}" $labels.model $labels.kind $labels.feature $labels.metric`
			b.WriteString("{{ with " + q + " | query }}")
			b.WriteString(byMetric(metrics, func(m check.Metric) string { return formatTemplate(". | first | value", m.Unit) }))
			b.WriteString("{{ end }}")
		case partDirection:
			b.WriteString(byMetric(metrics, func(m check.Metric) string { return directionWord(m.Breach) }))
		case partHelp:
			b.WriteString(byMetric(metrics, func(m check.Metric) string { return escapeTemplate(m.Help) }))
		case partFor:
			b.WriteString(promDuration(a.forDuration(o)))
		case partExpected:
			q := `printf "sentinel_anomaly_cause_expected{model=%q,metric=%q}" $labels.model $labels.metric`
			b.WriteString("{{ with " + q + " | query }}" + formatTemplate(". | first | value", "value") + "{{ end }}")
		case partCauses:
			b.WriteString(`{{ range $i, $c := printf "sentinel_anomaly_cause_actual{model=%q}" $labels.model | query | sortByLabel "rank" }}`)
			b.WriteString(`{{ if $i }}; {{ end }}{{ $c.Labels.metric }} ` + formatTemplate("$c.Value", "value") + ` vs `)
			b.WriteString(`{{ with printf "sentinel_anomaly_cause_expected{model=%q,rank=%q}" $c.Labels.model $c.Labels.rank | query }}`)
			b.WriteString(formatTemplate(". | first | value", "value") + `{{ end }}{{ else }}none published{{ end }}`)
		}
	}
	return b.String()
}

func unitOrValue(u string) string {
	if u == "" {
		return "value"
	}
	return u
}

// escapeTemplate keeps text from being read as a template action.
func escapeTemplate(s string) string {
	return strings.ReplaceAll(s, "{{", `{{ "{{" }}`)
}

// formatTemplate formats the pipeline expr as Prometheus' templates would for
// a unit, matching format.
func formatTemplate(expr, unit string) string {
	switch unit {
	case "ratio":
		return "{{ " + expr + " | humanizePercentage }}"
	case "seconds":
		return "{{ " + expr + " | humanizeDuration }}"
	case "count":
		return `{{ ` + expr + ` | printf "%.0f" }}`
	case "milliseconds":
		return `{{ ` + expr + ` | printf "%.4g" }} ms`
	}
	return `{{ ` + expr + ` | printf "%.3g" }}`
}

// format is formatTemplate in Go.
func format(v float64, unit string) string {
	switch unit {
	case "ratio":
		return humanizePercentage(v)
	case "seconds":
		return humanizeDuration(v)
	case "count":
		return fmt.Sprintf("%.0f", v)
	case "milliseconds":
		return fmt.Sprintf("%.4g ms", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// byMetric renders what differs by metric as a chain of conditions on the
// metric label, grouping metrics that render alike; one rendering needs none.
func byMetric(metrics []check.Metric, render func(check.Metric) string) string {
	var outs []string
	names := map[string][]string{}
	for _, m := range metrics {
		out := render(m)
		if !slices.Contains(outs, out) {
			outs = append(outs, out)
		}
		if !slices.Contains(names[out], m.Name) {
			names[out] = append(names[out], m.Name)
		}
	}
	if len(outs) == 1 {
		return outs[0]
	}
	var b strings.Builder
	for i, out := range outs {
		if i == len(outs)-1 {
			b.WriteString("{{ else }}" + out + "{{ end }}")
			break
		}
		word := "if"
		if i > 0 {
			word = "else if"
		}
		fmt.Fprintf(&b, "{{ %s match %s $labels.metric }}%s", word, strconv.Quote(anchored(names[out])), out)
	}
	return b.String()
}

// anchored is a regular expression matching exactly the given names.
func anchored(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = regexp.QuoteMeta(n)
	}
	return "^(" + strings.Join(q, "|") + ")$"
}

func directionWord(d check.Direction) string {
	if d == check.Below {
		return "below"
	}
	return "above"
}

// subjectTemplate says what a check alert is about, by its feature label,
// for the scopes the alert covers.
func subjectTemplate(metrics []check.Metric, capital bool) string {
	var scopes []check.Scope
	for _, m := range metrics {
		if !slices.Contains(scopes, m.Scope) {
			scopes = append(scopes, m.Scope)
		}
	}
	slices.Sort(scopes)
	if len(scopes) == 1 {
		return subjectOf(scopes[0], "{{ $labels.model }}", "{{ $labels.feature }}", capital)
	}
	var b strings.Builder
	for i, s := range scopes {
		if i == len(scopes)-1 {
			b.WriteString("{{ else }}" + subjectOf(s, "{{ $labels.model }}", "{{ $labels.feature }}", capital) + "{{ end }}")
			break
		}
		word := "if"
		if i > 0 {
			word = "else if"
		}
		feature := ""
		if s == check.OfPrediction {
			feature = check.PredictionFeature
		}
		fmt.Fprintf(&b, "{{ %s eq $labels.feature %q }}%s", word, feature, subjectOf(s, "{{ $labels.model }}", "{{ $labels.feature }}", capital))
	}
	return b.String()
}

func subjectOf(s check.Scope, model, feature string, capital bool) string {
	var out string
	switch s {
	case check.OfModel:
		out = "model " + model
	case check.OfPrediction:
		out = "the predictions of model " + model
	case check.OfVersion:
		// The feature label reads "version:<label>".
		out = feature + " of model " + model
	default:
		out = "feature " + feature + " of model " + model
	}
	if capital {
		out = strings.ToUpper(out[:1]) + out[1:]
	}
	return out
}

// humanizePercentage is Prometheus' template function of that name.
func humanizePercentage(v float64) string { return fmt.Sprintf("%.4g%%", v*100) }

// humanizeDuration is Prometheus' template function of that name.
func humanizeDuration(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprintf("%.4g", v)
	}
	if v == 0 {
		return fmt.Sprintf("%.4gs", v)
	}
	if math.Abs(v) >= 1 {
		sign := ""
		if v < 0 {
			sign, v = "-", -v
		}
		d := int64(v)
		seconds, minutes, hours, days := d%60, (d/60)%60, (d/3600)%24, d/86400
		switch {
		case days != 0:
			return fmt.Sprintf("%s%dd %dh %dm %ds", sign, days, hours, minutes, seconds)
		case hours != 0:
			return fmt.Sprintf("%s%dh %dm %ds", sign, hours, minutes, seconds)
		case minutes != 0:
			return fmt.Sprintf("%s%dm %ds", sign, minutes, seconds)
		}
		return fmt.Sprintf("%s%.4gs", sign, v)
	}
	prefix := ""
	for _, p := range []string{"m", "u", "n", "p", "f", "a", "z", "y"} {
		if math.Abs(v) >= 1 {
			break
		}
		prefix = p
		v *= 1000
	}
	return fmt.Sprintf("%.4g%ss", v, prefix)
}

// rendering is what the evaluator knows of one alert instance to render its
// parts as text.
type rendering struct {
	labels    map[string]string
	value     float64
	threshold float64
	metric    *check.Metric // the check's catalogue entry; nil for cause alerts
	causes    []check.Cause // the model's last flagged window's top causes
	expected  float64
	forText   string
}

// text renders parts as Prometheus would render their template.
func (a *Alert) text(ps []Part, r *rendering) string {
	var b strings.Builder
	unit := "value"
	if r.metric != nil {
		unit = r.metric.Unit
	}
	for _, p := range ps {
		switch p.kind {
		case partText:
			b.WriteString(p.text)
		case partLabel:
			b.WriteString(r.labels[p.text])
		case partSubject:
			b.WriteString(subjectOf(scopeOf(r.labels["feature"]), r.labels["model"], r.labels["feature"], p.text == "cap"))
		case partValue:
			u := unit
			if p.text != "" {
				u = p.text
			}
			b.WriteString(format(r.value, u))
		case partThreshold:
			b.WriteString(format(r.threshold, unit))
		case partDirection:
			if r.metric != nil {
				b.WriteString(directionWord(r.metric.Breach))
			}
		case partHelp:
			if r.metric != nil {
				b.WriteString(r.metric.Help)
			}
		case partFor:
			b.WriteString(r.forText)
		case partExpected:
			b.WriteString(format(r.expected, "value"))
		case partCauses:
			if len(r.causes) == 0 {
				b.WriteString("none published")
			}
			for i, c := range r.causes {
				if i > 0 {
					b.WriteString("; ")
				}
				fmt.Fprintf(&b, "%s %s vs %s", c.Metric, format(c.Actual, "value"), format(c.Expected, "value"))
			}
		}
	}
	return b.String()
}
