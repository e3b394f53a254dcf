package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The tests below read the dashboard files as Grafana would, as untyped
// JSON, so that they check what ships rather than what generates it.

// wantUIDs are the dashboards' uids, which links and bookmarks depend on:
// changing one is a breaking change, and this list says so.
var wantUIDs = []string{"sentinel-fleet", "sentinel-model", "sentinel-pipeline"}

type board struct {
	file string
	json map[string]any
	vars []boardVar
	// panels are every panel, rows included, in file order.
	panels  []map[string]any
	queries []query
}

type boardVar struct {
	name, typ string
	multi     bool
	// source is the data source type of a query variable.
	source, query string
}

const (
	promQL = "promql"
	sqlQL  = "sql"
)

// query is one query a dashboard runs: a panel's target, a variable's or an
// annotation's.
type query struct {
	where  string
	lang   string
	text   string
	legend string
	// repeat is the variable the panel repeats over, which its queries then
	// see one value at a time.
	repeat string
	// timeSeries is a ClickHouse query in the time series format: a time
	// column first, then values and the string columns that label them.
	timeSeries bool
}

func loadBoards(t *testing.T) []*board {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardDir, err)
	}
	var out []*board
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b := &board{file: filepath.Base(f)}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		if err := dec.Decode(&b.json); err != nil {
			t.Fatalf("%s: not JSON: %v", f, err)
		}
		if dec.More() {
			t.Fatalf("%s: data after the dashboard", f)
		}
		b.read(t)
		out = append(out, b)
	}
	return out
}

func (b *board) read(t *testing.T) {
	t.Helper()
	for _, v := range list(b.json, "templating", "list") {
		bv := boardVar{name: str(v, "name"), typ: str(v, "type"), multi: v["multi"] == true || v["includeAll"] == true}
		if bv.typ == "query" {
			bv.source = str(obj(v, "datasource"), "type")
			switch q := v["query"].(type) {
			case string:
				bv.query = q
			case map[string]any:
				bv.query = str(q, "query") + str(q, "rawSql")
			}
			lang := promQL
			if bv.source == clickhouseType {
				lang = sqlQL
			}
			b.queries = append(b.queries, query{where: b.file + ": variable " + bv.name, lang: lang, text: bv.query})
		}
		b.vars = append(b.vars, bv)
	}
	for _, a := range list(b.json, "annotations", "list") {
		if target := obj(a, "target"); str(target, "rawSql") != "" {
			b.queries = append(b.queries, query{where: b.file + ": annotation " + str(a, "name"), lang: sqlQL, text: str(target, "rawSql")})
		}
	}
	var walk func(ps []map[string]any)
	walk = func(ps []map[string]any) {
		for _, p := range ps {
			b.panels = append(b.panels, p)
			for _, target := range list(p, "targets") {
				q := query{where: fmt.Sprintf("%s: panel %q %s", b.file, str(p, "title"), str(target, "refId")),
					repeat: str(p, "repeat"), legend: str(target, "legendFormat")}
				switch {
				case str(target, "expr") != "":
					q.lang, q.text = promQL, str(target, "expr")
				case str(target, "rawSql") != "":
					q.lang, q.text = sqlQL, str(target, "rawSql")
					q.timeSeries = num(target, "format") == 0
				default:
					t.Errorf("%s: a target with neither expr nor rawSql", q.where)
					continue
				}
				b.queries = append(b.queries, q)
			}
			walk(list(p, "panels"))
		}
	}
	walk(list(b.json, "panels"))
}

func (b *board) variable(name string) (boardVar, bool) {
	for _, v := range b.vars {
		if v.name == name {
			return v, true
		}
	}
	return boardVar{}, false
}

// JSON accessors that tolerate absence: the checks report what is missing.

func obj(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func num(m map[string]any, key string) int {
	n, ok := m[key].(json.Number)
	if !ok {
		return -1
	}
	i, err := n.Int64()
	if err != nil {
		return -1
	}
	return int(i)
}

// list follows keys through objects to an array of objects.
func list(m map[string]any, keys ...string) []map[string]any {
	for _, k := range keys[:len(keys)-1] {
		m = obj(m, k)
	}
	arr, _ := m[keys[len(keys)-1]].([]any)
	var out []map[string]any
	for _, e := range arr {
		if o, ok := e.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// Grafana's variable syntax: $name, ${name}, ${name:format}, [[name]].
var variableRef = regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}|\$(\w+)|\[\[(\w+)\]\]`)

type varRef struct {
	name, format string
	start, end   int
}

func variableRefs(text string) []varRef {
	var out []varRef
	for _, m := range variableRef.FindAllStringSubmatchIndex(text, -1) {
		r := varRef{start: m[0], end: m[1]}
		for _, g := range []int{2, 6, 8} {
			if m[g] >= 0 {
				r.name = text[m[g]:m[g+1]]
			}
		}
		if m[4] >= 0 {
			r.format = text[m[4]:m[5]]
		}
		out = append(out, r)
	}
	return out
}

// promBuiltins are the values Grafana gives its own variables in PromQL.
var promBuiltins = map[string]string{"__rate_interval": "1m", "__interval": "30s", "__range": "1h"}

// interpolate substitutes the dashboard's variables the way Grafana and the
// query's data source do, with values from vals, and reports references
// Grafana would not resolve as the query intends: an unknown variable, a
// multi-value variable used as a single value (in SQL outside its repeated
// panel; in PromQL outside a regex matcher).
func interpolate(b *board, q query, vals map[string][]string) (string, error) {
	var out strings.Builder
	last := 0
	for _, r := range variableRefs(q.text) {
		out.WriteString(q.text[last:r.start])
		last = r.end
		if strings.HasPrefix(r.name, "__") {
			if v, ok := promBuiltins[r.name]; ok && q.lang == promQL && r.format == "" {
				out.WriteString(v)
				continue
			}
			if q.lang == sqlQL && r.format == "" {
				out.WriteString(q.text[r.start:r.end]) // a macro of the ClickHouse plugin
				continue
			}
			return "", fmt.Errorf("%s: unknown built-in %s", q.where, q.text[r.start:r.end])
		}
		v, ok := b.variable(r.name)
		if !ok {
			return "", fmt.Errorf("%s: $%s is no variable of the dashboard", q.where, r.name)
		}
		if v.typ == "datasource" {
			return "", fmt.Errorf("%s: $%s names a data source, not a value", q.where, r.name)
		}
		values := vals[r.name]
		if len(values) == 0 {
			return "", fmt.Errorf("%s: no test value for $%s", q.where, r.name)
		}
		single := !v.multi || r.name == q.repeat
		switch {
		case q.lang == sqlQL && r.format == "singlequote":
			quoted := make([]string, len(values))
			for i, s := range values {
				quoted[i] = "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
			}
			out.WriteString(strings.Join(quoted, ","))
		case r.format != "":
			return "", fmt.Errorf("%s: format %q of $%s is not one these tests know", q.where, r.format, r.name)
		case single:
			out.WriteString(values[0])
		case q.lang == promQL && strings.HasSuffix(q.text[:r.start], `=~"`) && strings.HasPrefix(q.text[r.end:], `"`):
			// Grafana escapes each value for the regex, and the regex for the
			// PromQL string it sits in.
			escaped := make([]string, len(values))
			for i, s := range values {
				escaped[i] = strings.ReplaceAll(regexp.QuoteMeta(s), `\`, `\\`)
			}
			out.WriteString("(" + strings.Join(escaped, "|") + ")")
		case q.lang == promQL:
			return "", fmt.Errorf("%s: multi-value $%s outside a regex matcher (=~\"$%s\")", q.where, r.name, r.name)
		default:
			return "", fmt.Errorf("%s: multi-value $%s in SQL must be ${%s:singlequote}", q.where, r.name, r.name)
		}
	}
	out.WriteString(q.text[last:])
	return out.String(), nil
}

// Macros of Grafana's ClickHouse plugin, expanded as its backend does
// (pkg/macros in grafana/clickhouse-datasource). $__timeInterval expands to
// toStartOfInterval, which ClickHouse 18.16 lacks: a dashboard using it fails
// here, as it would against such a server.
var macro = regexp.MustCompile(`\$__(\w+)(?:\(([^()]*)\))?`)

func expandMacros(sql string, from, to time.Time, interval time.Duration) (string, error) {
	var unknown []string
	seconds := max(int(interval.Seconds()), 1)
	sql = macro.ReplaceAllStringFunc(sql, func(m string) string {
		parts := macro.FindStringSubmatch(m)
		name, arg := parts[1], strings.TrimSpace(parts[2])
		switch {
		case name == "timeFilter" && arg != "":
			return fmt.Sprintf("%s >= toDateTime(%d) AND %s <= toDateTime(%d)", arg, from.Unix(), arg, to.Unix())
		case name == "timeInterval" && arg != "":
			return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", arg, seconds)
		case name == "fromTime" && arg == "":
			return fmt.Sprintf("toDateTime(%d)", from.Unix())
		case name == "toTime" && arg == "":
			return fmt.Sprintf("toDateTime(%d)", to.Unix())
		case name == "interval_s" && arg == "":
			return fmt.Sprint(seconds)
		}
		unknown = append(unknown, m)
		return m
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("macros these tests do not expand: %v", unknown)
	}
	return sql, nil
}
