package dashboards

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestDashboardFiles: each file is one importable dashboard under its stable
// uid, with no import-time inputs (Grafana's sidecar does not resolve
// __inputs).
func TestDashboardFiles(t *testing.T) {
	var uids []string
	for _, b := range loadBoards(t) {
		uid := str(b.json, "uid")
		if b.file != uid+".json" {
			t.Errorf("%s holds uid %q: name the file after its uid", b.file, uid)
		}
		uids = append(uids, uid)
		for _, key := range []string{"__inputs", "__requires", "id"} {
			if _, ok := b.json[key]; ok {
				t.Errorf("%s has %q: an imported dashboard must not", b.file, key)
			}
		}
		if str(b.json, "title") == "" || str(b.json, "description") == "" {
			t.Errorf("%s: a dashboard needs a title and a description", b.file)
		}
	}
	slices.Sort(uids)
	if !slices.Equal(uids, wantUIDs) {
		t.Errorf("uids %v, want %v", uids, wantUIDs)
	}
}

// TestPanels: every panel, rows included, has a unique id, a title and a
// description; panels lie in the 24-column grid without overlapping, under a
// row; a repeated panel spans the width its copies will take.
func TestPanels(t *testing.T) {
	for _, b := range loadBoards(t) {
		t.Run(b.file, func(t *testing.T) {
			ids := map[int]string{}
			var placed []map[string]any
			rows := map[string]bool{}
			for i, p := range b.panels {
				title := str(p, "title")
				where := fmt.Sprintf("panel %d %q", i, title)
				if title == "" || str(p, "description") == "" {
					t.Errorf("%s: needs a title and a description", where)
				}
				id := num(p, "id")
				if other, dup := ids[id]; dup || id <= 0 {
					t.Errorf("%s: id %d (also %q)", where, id, other)
				}
				ids[id] = title
				g := obj(p, "gridPos")
				x, y, w, h := num(g, "x"), num(g, "y"), num(g, "w"), num(g, "h")
				if x < 0 || y < 0 || w <= 0 || h <= 0 || x+w > gridColumns {
					t.Errorf("%s: gridPos %v outside the grid", where, g)
				}
				if str(p, "type") == "row" {
					if w != gridColumns || h != 1 || x != 0 {
						t.Errorf("%s: a row spans the width, one unit high: %v", where, g)
					}
					if rows[title] {
						t.Errorf("%s: two rows with one title", where)
					}
					rows[title] = true
				} else if i == 0 {
					t.Errorf("%s: the first panel must be a row: each concern has one", where)
				}
				if r := str(p, "repeat"); r != "" {
					if v, ok := b.variable(r); !ok || !v.multi {
						t.Errorf("%s: repeats over %q, which is no multi-value variable", where, r)
					}
					if w != gridColumns {
						t.Errorf("%s: a repeated panel's copies fill the width; give it w %d, not %d", where, gridColumns, w)
					}
					if !strings.Contains(title, "$"+r) {
						t.Errorf("%s: a repeated panel's title names its value ($%s)", where, r)
					}
				}
				for _, q := range placed {
					if overlap(obj(q, "gridPos"), g) {
						t.Errorf("%s overlaps %q: %v and %v", where, str(q, "title"), g, obj(q, "gridPos"))
					}
				}
				placed = append(placed, p)
			}
			for i := 0; i+1 < len(b.panels); i++ {
				if str(b.panels[i], "type") == "row" && str(b.panels[i+1], "type") == "row" {
					t.Errorf("row %q is empty", str(b.panels[i], "title"))
				}
			}
		})
	}
}

func overlap(a, b map[string]any) bool {
	return num(a, "x") < num(b, "x")+num(b, "w") && num(b, "x") < num(a, "x")+num(a, "w") &&
		num(a, "y") < num(b, "y")+num(b, "h") && num(b, "y") < num(a, "y")+num(a, "h")
}

// TestDataSources: every data source is one of the dashboard's data source
// variables (or Grafana's own annotations), never a uid of one installation;
// a panel's targets use its data source.
func TestDataSources(t *testing.T) {
	wantVar := map[string]string{prometheusType: prometheusVar, clickhouseType: clickhouseVar}
	for _, b := range loadBoards(t) {
		t.Run(b.file, func(t *testing.T) {
			for pluginType, name := range wantVar {
				v, ok := b.variable(name)
				if !ok || v.typ != "datasource" {
					t.Errorf("no datasource variable %q", name)
					continue
				}
				for _, tv := range list(b.json, "templating", "list") {
					if str(tv, "name") == name && str(tv, "query") != pluginType {
						t.Errorf("variable %q chooses %q data sources, want %q", name, str(tv, "query"), pluginType)
					}
				}
			}
			var walk func(path string, node any)
			walk = func(path string, node any) {
				switch n := node.(type) {
				case map[string]any:
					for k, v := range n {
						if k == "datasource" {
							checkDataSource(t, path, v, wantVar)
						}
						walk(path+"."+k, v)
					}
				case []any:
					for i, v := range n {
						walk(fmt.Sprintf("%s[%d]", path, i), v)
					}
				}
			}
			walk(b.file, b.json)
			for _, p := range b.panels {
				ds := obj(p, "datasource")
				for _, target := range list(p, "targets") {
					if td := obj(target, "datasource"); str(td, "uid") != str(ds, "uid") {
						t.Errorf("panel %q: target %s queries %v, the panel %v", str(p, "title"), str(target, "refId"), td, ds)
					}
				}
			}
		})
	}
}

func checkDataSource(t *testing.T, path string, v any, wantVar map[string]string) {
	t.Helper()
	ref, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s: data source %v is not a {type, uid} reference", path, v)
		return
	}
	typ, uid := str(ref, "type"), str(ref, "uid")
	if typ == "grafana" && uid == "-- Grafana --" {
		return
	}
	name, known := wantVar[typ]
	if !known || uid != "${"+name+"}" {
		t.Errorf("%s: data source %s/%s; want a %s source through ${%s}", path, typ, uid, typ, name)
	}
}

// TestVariables: every variable a query or title names exists, and a
// variable that lists values queries through the dashboard's data source
// variables.
func TestVariables(t *testing.T) {
	for _, b := range loadBoards(t) {
		t.Run(b.file, func(t *testing.T) {
			seen := map[string]bool{}
			for _, v := range b.vars {
				if v.name == "" || seen[v.name] {
					t.Errorf("variable %q is unnamed or defined twice", v.name)
				}
				seen[v.name] = true
			}
			texts := map[string]string{}
			for _, q := range b.queries {
				texts[q.where] = q.text
			}
			for _, p := range b.panels {
				texts[fmt.Sprintf("title of %q", str(p, "title"))] = str(p, "title")
			}
			for where, text := range texts {
				for _, r := range variableRefs(text) {
					if _, ok := b.variable(r.name); !ok && !strings.HasPrefix(r.name, "__") {
						t.Errorf("%s: $%s is no variable of the dashboard", where, r.name)
					}
				}
			}
		})
	}
}
