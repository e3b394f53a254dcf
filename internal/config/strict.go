package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decodeStrict decodes data into out, a pointer to a struct, after checking the
// YAML against out's type: every key must exist where it stands, every value must
// fit its key. yaml.v3 checks this too, but says it in Go (`field max_nul_rate
// not found in type config.Feature`); these problems say it in YAML, with the
// line, the keys allowed there and the likely intended key. what names the file's
// kind in messages ("contract", "configuration"). The returned index maps each
// key's path to its line, for the validation that follows.
func decodeStrict(data []byte, out any, what string) (lineIndex, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, problem(0, "", "%s is empty", what)
		}
		return nil, syntaxProblem(err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return nil, problem(more.Line, "", "a second YAML document (after ---): a %s file holds one", what)
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxProblem(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, problem(0, "", "%s is empty", what)
		}
		root = root.Content[0]
	}
	if isNull(root) {
		return nil, problem(root.Line, "", "%s is empty", what)
	}
	// Aliases may repeat a part of the document a few times, not without end.
	w := walker{lines: lineIndex{}, root: reflect.TypeOf(out).Elem(), maxVisits: 4*countNodes(root) + 10_000}
	w.walk(root, w.root, "")
	if len(w.problems) > 0 {
		return nil, &Problems{List: w.problems}
	}
	if err := root.Decode(out); err != nil {
		// The walk above is meant to find whatever yaml.v3 refuses; should it miss
		// a case, the message still must not speak Go.
		return nil, syntaxProblem(err)
	}
	return w.lines, nil
}

func problem(line int, field, format string, args ...any) *Problems {
	return &Problems{List: []Problem{{Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}}}
}

var (
	yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)
	// yaml.v3's type errors end in " into <Go type>".
	goType = regexp.MustCompile(` into [][*A-Za-z0-9_.]+$`)
)

// syntaxProblem turns a yaml.v3 error into problems, one per line it reports.
func syntaxProblem(err error) *Problems {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	var p Problems
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(l, "yaml: "))
		if l == "" {
			continue
		}
		pr := Problem{Msg: l}
		if m := yamlLine.FindStringSubmatch(l); m != nil {
			pr.Line, _ = strconv.Atoi(m[1])
			pr.Msg = m[2]
		}
		pr.Msg = goType.ReplaceAllString(pr.Msg, "")
		p.List = append(p.List, pr)
	}
	return &p
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

// walker checks a node tree against a Go type, collecting problems and the line
// of every path.
type walker struct {
	root     reflect.Type
	problems []Problem
	lines    lineIndex
	// visits bounds the nodes walked: aliases and merge keys can make a small
	// document name an exponential number of nodes (a "billion laughs").
	visits, maxVisits int
}

const maxProblems = 50

// countNodes counts the nodes written in the document, not following aliases.
func countNodes(n *yaml.Node) int {
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

func (w *walker) bad(n *yaml.Node, path, format string, args ...any) {
	switch {
	case len(w.problems) < maxProblems:
		w.problems = append(w.problems, Problem{Line: n.Line, Field: path, Msg: fmt.Sprintf(format, args...)})
	case len(w.problems) == maxProblems:
		w.problems = append(w.problems, Problem{Msg: fmt.Sprintf("more than %d problems; the rest are not listed", maxProblems)})
	}
}

// tooMany reports whether the walk has visited too many nodes, saying so once.
func (w *walker) tooMany(n *yaml.Node) bool {
	w.visits++
	if w.visits == w.maxVisits {
		w.bad(n, "", "aliases expand to too many values; write the file without them")
	}
	return w.visits >= w.maxVisits
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if w.tooMany(n) {
		return
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if isNull(n) {
		return // the key's default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		w.duration(n, path)
	case t == timeType:
		if n.Kind != yaml.ScalarNode || n.Decode(new(time.Time)) != nil {
			w.bad(n, path, "%s is not a timestamp (like 2026-11-01 or 2026-11-01T00:00:00Z)", show(n))
		}
	case t.Kind() == reflect.Struct:
		w.mapping(n, t, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.bad(n, path, "%s is not a list (write [a, b], or one \"- item\" per line)", show(n))
			return
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if name := scalarKey(item, "name"); name != "" {
				p += " (" + name + ")"
			}
			w.lines[p] = item.Line
			w.walk(item, t.Elem(), p)
		}
	default:
		w.scalar(n, t, path)
	}
}

// mapping checks the keys of a struct's node.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		w.bad(n, path, "%s is not a set of keys (want key: value lines, the keys being %s)", show(n), strings.Join(keysOf(t), ", "))
		return
	}
	fields := fieldsOf(t)
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		p := join(path, key)
		if k.Kind != yaml.ScalarNode {
			w.bad(k, path, "a key must be a plain name, got %s", show(k))
			continue
		}
		if first, dup := seen[key]; dup {
			w.bad(k, p, "key given twice (first at line %d)", first)
			continue
		}
		seen[key] = k.Line
		if key == "<<" {
			// A YAML merge key: its mapping (or list of them) adds keys here.
			w.merge(v, t, path)
			continue
		}
		f, ok := fields[key]
		if !ok {
			w.bad(k, p, "%s", unknownKey(key, t, path, w.root))
			continue
		}
		w.lines[p] = k.Line
		w.walk(v, f.Type, p)
	}
}

func (w *walker) merge(v *yaml.Node, t reflect.Type, path string) {
	if w.tooMany(v) {
		return
	}
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, item := range v.Content {
			w.merge(item, t, path)
		}
		return
	}
	w.mapping(v, t, path)
}

func (w *walker) duration(n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode {
		w.bad(n, path, "%s is not a duration (like 90s, 5m, 1h)", show(n))
		return
	}
	if n.Tag == "!!int" || n.Tag == "!!float" {
		w.bad(n, path, "%s is not a duration: give it a unit (like 90s, 5m, 1h)", show(n))
		return
	}
	if _, err := time.ParseDuration(n.Value); err != nil {
		w.bad(n, path, "%s is not a duration (like 90s, 5m, 1h)", show(n))
	}
}

func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) {
	want := map[reflect.Kind]string{
		reflect.Bool: "true or false", reflect.String: "a single value",
		reflect.Float32: "a number", reflect.Float64: "a number",
	}[t.Kind()]
	isInt := t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64
	if isInt {
		want = "a whole number"
	}
	if want == "" {
		// A kind the configuration types do not use: let the decoder judge.
		return
	}
	if n.Kind != yaml.ScalarNode {
		w.bad(n, path, "want %s, got %s", want, show(n))
		return
	}
	v := reflect.New(t)
	ok := n.Decode(v.Interface()) == nil
	if isInt && ok {
		// yaml.v3 truncates 1.5 to 1 for an integer; a fraction is a mistake.
		var x float64
		ok = n.Decode(&x) == nil && x == math.Trunc(x)
	}
	if t.Kind() == reflect.String && n.Tag == "!!binary" {
		ok = false
	}
	if !ok {
		w.bad(n, path, "%s is not %s", show(n), want)
	}
}

// show renders a node for a message: a scalar quoted as written, else its shape.
func show(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a set of keys"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 60 {
			v = v[:57] + "..."
		}
		return strconv.Quote(v)
	}
	return "this value"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// scalarKey returns the scalar value of key in a mapping node, or "".
func scalarKey(n *yaml.Node, key string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// yamlField is a struct field as YAML knows it.
type yamlField struct {
	Name string
	Type reflect.Type
}

// yamlFields lists t's keys in declaration order, as yaml.v3 names them.
func yamlFields(t reflect.Type) []yamlField {
	var out []yamlField
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			out = append(out, yamlFields(f.Type)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, yamlField{Name: name, Type: f.Type})
	}
	return out
}

func fieldsOf(t reflect.Type) map[string]yamlField {
	m := make(map[string]yamlField)
	for _, f := range yamlFields(t) {
		m[f.Name] = f
	}
	return m
}

func keysOf(t reflect.Type) []string {
	var keys []string
	for _, f := range yamlFields(t) {
		keys = append(keys, f.Name)
	}
	return keys
}

// unknownKey explains a key that t does not have: the closest key it does have,
// when one is a likely typo, or where the key belongs when it is misplaced, and
// the keys t allows.
func unknownKey(key string, t reflect.Type, path string, root reflect.Type) string {
	keys := keysOf(t)
	where := "here"
	if path == "" {
		where = "at the top level"
	}
	msg := "unknown key"
	if places := placesOf(key, root, "", map[reflect.Type]bool{}); len(places) > 0 {
		msg += " " + where + "; it belongs in " + strings.Join(places, " or in ")
	} else if s := closest(key, keys); s != "" {
		msg += "; did you mean " + s + "?"
	}
	return fmt.Sprintf("%s (keys allowed %s: %s)", msg, where, strings.Join(keys, ", "))
}

// placesOf lists the paths of the mappings under t that have key; list items
// are shown as name[n].
func placesOf(key string, t reflect.Type, path string, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice {
			path += "[n]"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == timeType || seen[t] {
		return nil
	}
	seen[t] = true
	defer delete(seen, t)
	var out []string
	for _, f := range yamlFields(t) {
		if f.Name == key {
			where := path
			if where == "" {
				where = "the top level"
			}
			out = append(out, where)
		}
		out = append(out, placesOf(key, f.Type, join(path, f.Name), seen)...)
	}
	return out
}

// closest returns the candidate nearest to key by edit distance, if near enough
// to be a typo: within a third of the key's length, at most 3 edits.
func closest(key string, candidates []string) string {
	best, bestD := "", math.MaxInt
	limit := min(3, max(1, len(key)/3))
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(key), c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD > limit {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions, deletions,
// substitutions and transpositions of neighbours each cost one, as typing slips
// do.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows: the one before the previous is needed for transpositions.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
