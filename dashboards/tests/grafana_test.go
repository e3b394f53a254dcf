package dashboards

import (
	"strings"
)

// The Grafana dashboard model, as much of it as Sentinel's dashboards use.
// Field order is the order Grafana exports, so that a dashboard saved from
// the UI diffs cleanly against the generated file.

// Data source types and the template variables that choose an instance of
// each: no dashboard names a data source by uid.
const (
	prometheusType = "prometheus"
	clickhouseType = "grafana-clickhouse-datasource"
	prometheusVar  = "datasource"
	clickhouseVar  = "clickhouse"
)

type dataSourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

var (
	prometheusRef = dataSourceRef{Type: prometheusType, UID: "${" + prometheusVar + "}"}
	clickhouseRef = dataSourceRef{Type: clickhouseType, UID: "${" + clickhouseVar + "}"}
	// grafanaRef is Grafana's built-in source of its own annotations.
	grafanaRef = dataSourceRef{Type: "grafana", UID: "-- Grafana --"}
)

type dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Description   string      `json:"description"`
	Tags          []string    `json:"tags"`
	Timezone      string      `json:"timezone"`
	Editable      bool        `json:"editable"`
	GraphTooltip  int         `json:"graphTooltip"`
	SchemaVersion int         `json:"schemaVersion"`
	Version       int         `json:"version"`
	Refresh       string      `json:"refresh"`
	Time          timeRange   `json:"time"`
	Links         []link      `json:"links"`
	Annotations   annotations `json:"annotations"`
	Templating    templating  `json:"templating"`
	Panels        []panel     `json:"panels"`
}

type timeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type link struct {
	Type        string   `json:"type"`
	Title       string   `json:"title"`
	Tags        []string `json:"tags"`
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
}

type annotations struct {
	List []annotation `json:"list"`
}

type annotation struct {
	Name       string        `json:"name"`
	BuiltIn    int           `json:"builtIn,omitempty"`
	Datasource dataSourceRef `json:"datasource"`
	Enable     bool          `json:"enable"`
	Hide       bool          `json:"hide"`
	IconColor  string        `json:"iconColor"`
	Type       string        `json:"type,omitempty"`
	Target     any           `json:"target,omitempty"`
}

type templating struct {
	List []variable `json:"list"`
}

type variable struct {
	Name        string         `json:"name"`
	Label       string         `json:"label"`
	Description string         `json:"description"`
	Type        string         `json:"type"`
	Datasource  *dataSourceRef `json:"datasource,omitempty"`
	// Query is the data source type for a datasource variable, the default
	// for a textbox, and the query for a query variable.
	Query      any      `json:"query"`
	Definition string   `json:"definition,omitempty"`
	Current    current  `json:"current"`
	Options    []option `json:"options"`
	Refresh    int      `json:"refresh,omitempty"`
	Sort       int      `json:"sort,omitempty"`
	Multi      bool     `json:"multi"`
	IncludeAll bool     `json:"includeAll"`
	Regex      string   `json:"regex,omitempty"`
	Hide       int      `json:"hide"`
}

type current struct {
	Text  any `json:"text,omitempty"`
	Value any `json:"value,omitempty"`
}

type option struct {
	Selected bool   `json:"selected"`
	Text     string `json:"text"`
	Value    string `json:"value"`
}

type promVariableQuery struct {
	Query string `json:"query"`
	RefID string `json:"refId"`
}

type gridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

type panel struct {
	ID              int              `json:"id"`
	Type            string           `json:"type"`
	Title           string           `json:"title"`
	Description     string           `json:"description"`
	GridPos         gridPos          `json:"gridPos"`
	Collapsed       *bool            `json:"collapsed,omitempty"`
	Panels          *[]panel         `json:"panels,omitempty"`
	Datasource      *dataSourceRef   `json:"datasource,omitempty"`
	Repeat          string           `json:"repeat,omitempty"`
	RepeatDirection string           `json:"repeatDirection,omitempty"`
	MaxPerRow       int              `json:"maxPerRow,omitempty"`
	FieldConfig     *fieldConfig     `json:"fieldConfig,omitempty"`
	Options         map[string]any   `json:"options,omitempty"`
	Targets         []any            `json:"targets,omitempty"`
	Transformations []transformation `json:"transformations,omitempty"`
}

type fieldConfig struct {
	Defaults  fieldDefaults `json:"defaults"`
	Overrides []override    `json:"overrides"`
}

type fieldDefaults struct {
	Unit       string         `json:"unit,omitempty"`
	Min        *float64       `json:"min,omitempty"`
	Max        *float64       `json:"max,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Color      map[string]any `json:"color,omitempty"`
	Thresholds *thresholds    `json:"thresholds,omitempty"`
	Custom     map[string]any `json:"custom,omitempty"`
}

type thresholds struct {
	Mode  string `json:"mode"`
	Steps []step `json:"steps"`
}

type step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

type override struct {
	Matcher    matcher    `json:"matcher"`
	Properties []property `json:"properties"`
}

type matcher struct {
	ID      string `json:"id"`
	Options any    `json:"options"`
}

type property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

type transformation struct {
	ID      string         `json:"id"`
	Options map[string]any `json:"options"`
}

// promTarget is a Prometheus query.
type promTarget struct {
	RefID        string        `json:"refId"`
	Datasource   dataSourceRef `json:"datasource"`
	EditorMode   string        `json:"editorMode"`
	Expr         string        `json:"expr"`
	LegendFormat string        `json:"legendFormat,omitempty"`
	Range        bool          `json:"range"`
	Instant      bool          `json:"instant"`
	Format       string        `json:"format,omitempty"`
}

// sqlTarget is a ClickHouse query in the plugin's SQL editor. Format 0 is a
// time series (a string column becomes a label), 1 a table.
type sqlTarget struct {
	RefID      string        `json:"refId"`
	Datasource dataSourceRef `json:"datasource"`
	EditorType string        `json:"editorType"`
	QueryType  string        `json:"queryType"`
	Format     int           `json:"format"`
	RawSQL     string        `json:"rawSql"`
}

// Query constructors.

func prom(expr, legend string) promTarget {
	return promTarget{Datasource: prometheusRef, EditorMode: "code", Expr: expr, LegendFormat: legend, Range: true}
}

// promTable is an instant query shown as a table, one row per series.
func promTable(expr string) promTarget {
	return promTarget{Datasource: prometheusRef, EditorMode: "code", Expr: expr, Instant: true, Format: "table"}
}

// sqlSeries is a ClickHouse query returning time, an optional string column
// that names the series, and values.
func sqlSeries(query string) sqlTarget {
	return sqlTarget{Datasource: clickhouseRef, EditorType: "sql", QueryType: "timeseries", Format: 0, RawSQL: sqlText(query)}
}

func sqlTable(query string) sqlTarget {
	return sqlTarget{Datasource: clickhouseRef, EditorType: "sql", QueryType: "table", Format: 1, RawSQL: sqlText(query)}
}

// sqlText trims the indentation Go source gives a raw string.
func sqlText(q string) string {
	lines := strings.Split(strings.TrimSpace(q), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimLeft(l, "\t")
	}
	return strings.Join(lines, "\n")
}

// Panel constructors. Width and height are in grid units (24 columns); layout
// places the panels.

func newPanel(kind, title, description string, w, h int, targets ...any) panel {
	p := panel{Type: kind, Title: title, Description: description, GridPos: gridPos{W: w, H: h}, Targets: targets}
	for i := range p.Targets {
		switch t := p.Targets[i].(type) {
		case promTarget:
			t.RefID = refID(i)
			p.Targets[i] = t
			p.Datasource = &prometheusRef
		case sqlTarget:
			t.RefID = refID(i)
			p.Targets[i] = t
			p.Datasource = &clickhouseRef
		}
	}
	p.FieldConfig = &fieldConfig{Overrides: []override{}}
	return p
}

func refID(i int) string { return string(rune('A' + i)) }

func timeseries(title, description, unit string, w, h int, targets ...any) panel {
	p := newPanel("timeseries", title, description, w, h, targets...)
	p.FieldConfig.Defaults = fieldDefaults{Unit: unit, Custom: map[string]any{
		"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": false,
	}}
	p.Options = map[string]any{
		"legend":  map[string]any{"showLegend": true, "displayMode": "list", "placement": "bottom", "calcs": []string{}},
		"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
	}
	return p
}

// stat shows the last value; red from redFrom on when redFrom is set.
func stat(title, description, unit string, redFrom *float64, targets ...any) panel {
	p := newPanel("stat", title, description, 4, 4, targets...)
	steps := []step{{Color: "green", Value: nil}}
	if redFrom != nil {
		steps = append(steps, step{Color: "red", Value: redFrom})
	}
	p.FieldConfig.Defaults = fieldDefaults{Unit: unit, Color: map[string]any{"mode": "thresholds"},
		Thresholds: &thresholds{Mode: "absolute", Steps: steps}}
	p.Options = map[string]any{
		"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
		"colorMode":     "value", "graphMode": "area", "justifyMode": "auto", "orientation": "auto", "textMode": "auto",
	}
	return p
}

func table(title, description string, w, h int, targets ...any) panel {
	p := newPanel("table", title, description, w, h, targets...)
	p.Options = map[string]any{"showHeader": true, "cellHeight": "sm"}
	return p
}

func barGauge(title, description, unit string, w, h int, targets ...any) panel {
	p := newPanel("bargauge", title, description, w, h, targets...)
	p.FieldConfig.Defaults = fieldDefaults{Unit: unit, Min: ptr(0.0), Color: map[string]any{"mode": "continuous-GrYlRd"}}
	p.Options = map[string]any{
		"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
		"displayMode":   "gradient", "orientation": "horizontal", "showUnfilled": true, "valueMode": "color",
	}
	return p
}

func ptr[T any](v T) *T { return &v }

// Panel modifiers.

// repeated repeats the panel for each selected value of a variable, three to
// a line.
func (p panel) repeated(variable string) panel {
	p.Repeat, p.RepeatDirection, p.MaxPerRow = variable, "h", 3
	return p
}

// logScale plots values that span decades: p-values, anomaly scores.
func (p panel) logScale() panel {
	p.FieldConfig.Defaults.Custom["scaleDistribution"] = map[string]any{"type": "log", "log": 10}
	return p
}

// bars draws each window as a stacked bar.
func (p panel) bars() panel {
	p.FieldConfig.Defaults.Custom["drawStyle"] = "bars"
	p.FieldConfig.Defaults.Custom["fillOpacity"] = 80
	p.FieldConfig.Defaults.Custom["stacking"] = map[string]any{"mode": "normal", "group": "A"}
	return p
}

// points marks every window: ClickHouse series have one value per window.
func (p panel) points() panel {
	p.FieldConfig.Defaults.Custom["showPoints"] = "always"
	p.FieldConfig.Defaults.Custom["pointSize"] = 4
	return p
}

// thresholdsDashed draws the series whose name ends in "threshold" as red
// dashed lines.
func (p panel) thresholdsDashed() panel {
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, override{
		Matcher: matcher{ID: "byRegexp", Options: "/threshold$/"},
		Properties: []property{
			{ID: "color", Value: map[string]any{"mode": "fixed", "fixedColor": "red"}},
			{ID: "custom.lineStyle", Value: map[string]any{"fill": "dash", "dash": []int{10, 10}}},
			{ID: "custom.fillOpacity", Value: 0},
			{ID: "custom.showPoints", Value: "never"},
		},
	})
	return p
}

// legendTable lists the series with their last and largest values.
func (p panel) legendTable() panel {
	p.Options["legend"] = map[string]any{"showLegend": true, "displayMode": "table", "placement": "bottom",
		"calcs": []string{"lastNotNull", "max"}}
	return p
}

// organized hides and renames table columns.
func (p panel) organized(exclude []string, rename map[string]string) panel {
	if rename == nil {
		rename = map[string]string{}
	}
	ex := map[string]bool{}
	for _, e := range exclude {
		ex[e] = true
	}
	p.Transformations = append(p.Transformations, transformation{ID: "organize",
		Options: map[string]any{"excludeByName": ex, "renameByName": rename}})
	return p
}

// merged joins the instant queries of a table on their labels.
func (p panel) merged() panel {
	p.Transformations = append(p.Transformations, transformation{ID: "merge", Options: map[string]any{}})
	return p
}

// linkToModel makes the model column open the model dashboard.
func (p panel) linkToModel(field string) panel {
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, override{
		Matcher: matcher{ID: "byName", Options: field},
		Properties: []property{{ID: "links", Value: []map[string]any{{
			"title": "Model dashboard",
			"url":   "/d/sentinel-model/sentinel-model?var-model=${__value.raw}&${__url_time_range}",
		}}}},
	})
	return p
}

// Rows and layout.

type row struct {
	title, description string
	panels             []panel
}

const gridColumns = 24

// layout places rows and their panels top to bottom, left to right, and
// numbers them. A repeated panel takes a line of its own: Grafana lays its
// copies over the full width.
func layout(rows []row) []panel {
	var out []panel
	id, y := 1, 0
	for _, r := range rows {
		open := false
		out = append(out, panel{ID: id, Type: "row", Title: r.title, Description: r.description,
			GridPos: gridPos{H: 1, W: gridColumns, X: 0, Y: y}, Collapsed: &open, Panels: &[]panel{}})
		id++
		y++
		x, lineHeight := 0, 0
		for _, p := range r.panels {
			if p.Repeat != "" {
				p.GridPos.W = gridColumns
			}
			if x+p.GridPos.W > gridColumns || (p.Repeat != "" && x > 0) {
				y += lineHeight
				x, lineHeight = 0, 0
			}
			p.ID, p.GridPos.X, p.GridPos.Y = id, x, y
			id++
			x += p.GridPos.W
			lineHeight = max(lineHeight, p.GridPos.H)
			out = append(out, p)
		}
		y += lineHeight
	}
	return out
}

// Template variables.

func dataSourceVariable(name, label, pluginType, description string) variable {
	return variable{Name: name, Label: label, Description: description, Type: "datasource", Query: pluginType,
		Current: current{}, Options: []option{}, Refresh: 1}
}

func textVariable(name, label, value, description string) variable {
	return variable{Name: name, Label: label, Description: description, Type: "textbox", Query: value,
		Current: current{Text: value, Value: value}, Options: []option{{Selected: true, Text: value, Value: value}}}
}

// promVariable lists label values from Prometheus; refreshed when the time
// range changes.
func promVariable(name, label, query, description string, multi bool) variable {
	v := variable{Name: name, Label: label, Description: description, Type: "query", Datasource: &prometheusRef,
		Query: promVariableQuery{Query: query, RefID: "PrometheusVariableQueryEditor-VariableQuery"}, Definition: query,
		Current: current{}, Options: []option{}, Refresh: 2, Sort: 1}
	if multi {
		v.Multi, v.IncludeAll, v.Current = true, true, current{Text: []string{"All"}, Value: []string{"$__all"}}
	}
	return v
}

// sqlVariable lists the values a ClickHouse query returns, all selected.
func sqlVariable(name, label, query, description string) variable {
	q := sqlText(query)
	return variable{Name: name, Label: label, Description: description, Type: "query", Datasource: &clickhouseRef,
		Query: q, Definition: q, Current: current{Text: []string{"All"}, Value: []string{"$__all"}}, Options: []option{},
		Refresh: 2, Sort: 1, Multi: true, IncludeAll: true}
}

// newDashboard fills what every Sentinel dashboard shares.
func newDashboard(uid, title, description string, vars []variable, rows []row, extra ...annotation) dashboard {
	list := append([]annotation{{Name: "Annotations & Alerts", BuiltIn: 1, Datasource: grafanaRef, Enable: true,
		Hide: true, IconColor: "rgba(0, 211, 255, 1)", Type: "dashboard"}}, extra...)
	return dashboard{
		UID: uid, Title: title, Description: description, Tags: []string{"sentinel"}, Timezone: "browser",
		Editable: true, GraphTooltip: 1, SchemaVersion: 39, Version: 1, Refresh: "1m",
		Time: timeRange{From: "now-6h", To: "now"},
		Links: []link{{Type: "dashboards", Title: "Sentinel", Tags: []string{"sentinel"}, AsDropdown: true,
			IncludeVars: true, KeepTime: true}},
		Annotations: annotations{List: list},
		Templating:  templating{List: vars},
		Panels:      layout(rows),
	}
}
