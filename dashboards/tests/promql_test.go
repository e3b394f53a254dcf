package dashboards

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

// promValues are the values the tests give the dashboards' variables in PromQL.
var promValues = map[string][]string{
	"model": {"fraud", "churn"}, "job": {"sentinel"}, "instance": {"10.0.0.1:9090", "10.0.0.2:9090"},
	"database": {"sentinel"},
}

// series is what a PromQL selector may name: a family's own series, and a
// histogram's or summary's derived ones, with the labels each carries.
func series(families map[string]*family) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	with := func(f *family, extra ...string) map[string]bool {
		ls := map[string]bool{}
		for l := range f.labels {
			ls[l] = true
		}
		for _, l := range append(extra, targetLabels...) {
			ls[l] = true
		}
		return ls
	}
	for name, f := range families {
		switch {
		case f.typed && f.typ == dto.MetricType_HISTOGRAM:
			out[name+"_bucket"] = with(f, "le")
			out[name+"_sum"], out[name+"_count"] = with(f), with(f)
		case f.typed && f.typ == dto.MetricType_SUMMARY:
			out[name] = with(f, "quantile")
			out[name+"_sum"], out[name+"_count"] = with(f), with(f)
		default:
			out[name] = with(f)
		}
	}
	return out
}

// TestPromQL: every PromQL query of the dashboards parses, with Grafana's
// variables substituted, and names only series the daemon exports, with
// their labels; group labels and legends name labels the result carries;
// check kinds and metrics are the catalogue's, and those read from
// sentinel_check_* carry a threshold (the others are not exported).
func TestPromQL(t *testing.T) {
	exported := series(exportedFamilies(t))
	for _, name := range []string{"sentinel_events_total", "sentinel_store_write_duration_seconds_bucket", "sentinel_ingest_lag",
		"sentinel_dead_letters_total", "sentinel_build_info", "go_goroutines", "process_resident_memory_bytes"} {
		if exported[name] == nil {
			t.Fatalf("%s is not among the exported series %v: the registry is not the daemon's", name, keys(exported))
		}
	}
	p := parser.NewParser(parser.Options{})
	n := 0
	for _, b := range loadBoards(t) {
		for _, q := range b.queries {
			if q.lang != promQL {
				continue
			}
			n++
			text := q.text
			if strings.HasPrefix(text, "label_values(") {
				text = checkLabelValues(t, q, text, exported)
				if text == "" {
					continue
				}
			}
			expanded, err := interpolate(b, query{where: q.where, lang: promQL, text: text, repeat: q.repeat}, promValues)
			if err != nil {
				t.Error(err)
				continue
			}
			expr, err := p.ParseExpr(expanded)
			if err != nil {
				t.Errorf("%s: %v\n%s", q.where, err, expanded)
				continue
			}
			out := checkExpr(t, q.where, expr, exported)
			for _, m := range legendLabel.FindAllStringSubmatch(q.legend, -1) {
				if !out.has(m[1]) {
					t.Errorf("%s: legend names {{%s}}, which the result has not: %s", q.where, m[1], out)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no PromQL queries in the dashboards")
	}
}

var (
	legendLabel     = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)
	labelValuesCall = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
)

// checkLabelValues checks a variable's label_values(selector, label) and
// returns the selector to check as PromQL.
func checkLabelValues(t *testing.T, q query, text string, exported map[string]map[string]bool) string {
	t.Helper()
	m := labelValuesCall.FindStringSubmatch(text)
	if m == nil {
		t.Errorf("%s: %q is not label_values(selector, label)", q.where, text)
		return ""
	}
	name := m[1]
	if i := strings.IndexByte(name, '{'); i >= 0 {
		name = name[:i]
	}
	if ls := exported[name]; ls != nil && !ls[m[2]] {
		t.Errorf("%s: %s has no label %q", q.where, name, m[2])
	}
	return m[1]
}

// labelSet is what an expression's result is labelled with; any is true
// when the labels cannot be known (ALERTS carry their rules' labels).
type labelSet struct {
	names map[string]bool
	any   bool
}

func (s labelSet) has(l string) bool { return s.any || s.names[l] }

func (s labelSet) String() string {
	if s.any {
		return "{any}"
	}
	return fmt.Sprint(keys(s.names))
}

func setOf(ls ...string) labelSet {
	s := labelSet{names: map[string]bool{}}
	for _, l := range ls {
		s.names[l] = true
	}
	return s
}

// checkExpr walks an expression, reporting selectors of series or labels the
// daemon does not export, and returns the labels of its result.
func checkExpr(t *testing.T, where string, node parser.Node, exported map[string]map[string]bool) labelSet {
	t.Helper()
	switch e := node.(type) {
	case *parser.VectorSelector:
		return checkSelector(t, where, e, exported)
	case *parser.MatrixSelector:
		return checkExpr(t, where, e.VectorSelector, exported)
	case *parser.ParenExpr:
		return checkExpr(t, where, e.Expr, exported)
	case *parser.StepInvariantExpr:
		return checkExpr(t, where, e.Expr, exported)
	case *parser.UnaryExpr:
		return checkExpr(t, where, e.Expr, exported)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return setOf()
	case *parser.AggregateExpr:
		if e.Param != nil {
			checkExpr(t, where, e.Param, exported)
		}
		inner := checkExpr(t, where, e.Expr, exported)
		if e.Without {
			if inner.any {
				return inner
			}
			out := setOf(keys(inner.names)...)
			for _, l := range e.Grouping {
				delete(out.names, l)
			}
			return out
		}
		for _, l := range e.Grouping {
			if !inner.has(l) {
				t.Errorf("%s: %s by (%s), a label its argument has not: %s", where, e.Op, l, inner)
			}
		}
		return setOf(e.Grouping...)
	case *parser.Call:
		var args []labelSet
		for _, a := range e.Args {
			args = append(args, checkExpr(t, where, a, exported))
		}
		switch e.Func.Name {
		case "time", "vector", "scalar":
			return setOf()
		case "histogram_quantile":
			out := args[1]
			if !out.has("le") {
				t.Errorf("%s: histogram_quantile over buckets without le: %s", where, out)
			}
			if !out.any {
				out = setOf(keys(out.names)...)
				delete(out.names, "le")
			}
			return out
		}
		for _, a := range args {
			if a.any || len(a.names) > 0 {
				return a
			}
		}
		return setOf()
	case *parser.BinaryExpr:
		lhs := checkExpr(t, where, e.LHS, exported)
		rhs := checkExpr(t, where, e.RHS, exported)
		if m := e.VectorMatching; m != nil && m.On {
			for _, l := range m.MatchingLabels {
				if !lhs.has(l) || !rhs.has(l) {
					t.Errorf("%s: on (%s), a label %s or %s has not", where, l, lhs, rhs)
				}
			}
		}
		if e.Op == parser.LOR {
			if lhs.any || rhs.any {
				return labelSet{any: true}
			}
			out := setOf(keys(lhs.names)...)
			for l := range rhs.names {
				out.names[l] = true
			}
			return out
		}
		if e.LHS.Type() == parser.ValueTypeScalar {
			return rhs
		}
		return lhs
	}
	t.Errorf("%s: these tests do not know PromQL's %T (%s)", where, node, node)
	return labelSet{any: true}
}

func checkSelector(t *testing.T, where string, vs *parser.VectorSelector, exported map[string]map[string]bool) labelSet {
	t.Helper()
	if vs.Name == "ALERTS" {
		for _, m := range vs.LabelMatchers {
			if m.Name == "alertname" && m.Type == labels.MatchRegexp && m.Value == "Sentinel.*" {
				return labelSet{any: true}
			}
		}
		t.Errorf("%s: ALERTS without alertname=~\"Sentinel.*\" shows other systems' alerts", where)
		return labelSet{any: true}
	}
	ls, ok := exported[vs.Name]
	if !ok {
		t.Errorf("%s: %q is not a series Sentinel exports", where, vs.Name)
		return labelSet{any: true}
	}
	values := map[string][]string{}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName {
			continue
		}
		if !ls[m.Name] {
			t.Errorf("%s: %s has no label %q (it has %v)", where, vs.Name, m.Name, keys(ls))
		}
		if m.Type == labels.MatchEqual {
			values[m.Name] = []string{m.Value}
		}
	}
	if strings.HasPrefix(vs.Name, "sentinel_check_") {
		checkCatalogue(t, where, values["kind"], values["metric"], true)
	}
	return labelSet{names: ls}
}

// checkCatalogue checks kinds and metric names a query pins against the
// catalogue of checks; published, the metrics must be ones that carry a
// threshold, since only those are exported to Prometheus.
func checkCatalogue(t *testing.T, where string, kinds, metrics []string, published bool) {
	t.Helper()
	catalogue := check.Metrics()
	for _, k := range kinds {
		if !slices.ContainsFunc(catalogue, func(m check.Metric) bool { return string(m.Kind) == k }) {
			t.Errorf("%s: kind %q is not in the catalogue of checks", where, k)
		}
	}
	for _, name := range metrics {
		found := slices.ContainsFunc(catalogue, func(m check.Metric) bool {
			return m.Name == name && (len(kinds) == 0 || slices.Contains(kinds, string(m.Kind))) &&
				(!published || m.Threshold != check.Never)
		})
		if !found {
			what := "a metric of the catalogue of checks"
			if published {
				what += " with a threshold (only those are exported)"
			}
			t.Errorf("%s: metric %q (kind %v) is not %s", where, name, kinds, what)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
