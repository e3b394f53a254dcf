package config

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestConfigurationDoc holds docs/configuration.md to the configuration types:
// every key of sentinel.yaml and of a contract is documented, the document names
// no key that does not exist, and each default it gives for sentinel.yaml is the
// code's. A key added without its documentation fails here.
func TestConfigurationDoc(t *testing.T) {
	const doc = "../../docs/configuration.md"
	sections, err := documentedKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		section string
		typ     reflect.Type
	}{
		{"sentinel.yaml", reflect.TypeFor[Daemon]()},
		{"Contracts", reflect.TypeFor[Contract]()},
	} {
		documented := sections[tc.section]
		if len(documented) == 0 {
			t.Errorf("%s: no section %q with a table of keys", doc, tc.section)
			continue
		}
		leaves, all := schemaKeys(tc.typ)
		for _, k := range leaves {
			if _, ok := documented[k]; !ok {
				t.Errorf("%s: key %s of %s is not documented", doc, k, tc.section)
			}
		}
		for k := range documented {
			if !slices.Contains(all, k) {
				t.Errorf("%s: documents key %s, which %s does not have", doc, k, tc.section)
			}
		}
	}
	defaults := reflect.ValueOf(DefaultDaemon()).Elem()
	for key, cell := range sections["sentinel.yaml"] {
		v, ok := valueAt(defaults, key)
		if !ok {
			continue
		}
		if msg := checkDefault(cell, v); msg != "" {
			t.Errorf("%s: %s: %s", doc, key, msg)
		}
	}
}

var (
	keyRow  = regexp.MustCompile("^\\| `([^`]+)` \\| [^|]* \\| ([^|]*) \\|")
	literal = regexp.MustCompile("^`([^`]*)`$")
)

// documentedKeys returns, per level-2 section of the document, the keys of its
// tables with their default cells.
func documentedKeys(path string) (map[string]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = strings.TrimSpace(h)
			continue
		}
		if m := keyRow.FindStringSubmatch(line); m != nil {
			if out[section] == nil {
				out[section] = map[string]string{}
			}
			out[section][m[1]] = strings.TrimSpace(m[2])
		}
	}
	return out, sc.Err()
}

// schemaKeys lists the YAML paths under t: the leaves (values) and all paths,
// mappings included. A list of mappings is written name[].
func schemaKeys(t reflect.Type) (leaves, all []string) {
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t.Kind() == reflect.Struct && t != timeType:
			for _, f := range yamlFields(t) {
				p := join(path, f.Name)
				all = append(all, p)
				walk(f.Type, p)
			}
		case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
			path += "[]"
			all = append(all, path)
			walk(t.Elem(), path)
		default:
			leaves = append(leaves, path)
		}
	}
	walk(t, "")
	return leaves, all
}

// valueAt returns the value at a YAML path of v; false past a pointer or list.
func valueAt(v reflect.Value, path string) (reflect.Value, bool) {
	for _, name := range strings.Split(path, ".") {
		if v.Kind() != reflect.Struct {
			return v, false
		}
		found := false
		for i, f := range yamlFields(v.Type()) {
			if f.Name == name {
				v, found = v.Field(fieldIndex(v.Type(), i)), true
				break
			}
		}
		if !found {
			return v, false
		}
	}
	return v, true
}

// fieldIndex maps the i-th YAML field of t (no inline fields in sentinel.yaml)
// to its struct field.
func fieldIndex(t reflect.Type, i int) int {
	n := -1
	for j := range t.NumField() {
		f := t.Field(j)
		if !f.IsExported() || f.Tag.Get("yaml") == "-" {
			continue
		}
		if n++; n == i {
			return j
		}
	}
	return -1
}

// checkDefault compares a documented default with the code's: a dash for a zero
// value, else a literal equal to it; prose is not checked.
func checkDefault(cell string, v reflect.Value) string {
	if cell == "–" {
		if !v.IsZero() {
			return "documented without default, but the code's is " + render(v)
		}
		return ""
	}
	m := literal.FindStringSubmatch(cell)
	if m == nil {
		if !v.IsZero() {
			return "the default " + render(v) + " is not documented as a `literal`"
		}
		return ""
	}
	var ok bool
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]():
		d, err := time.ParseDuration(m[1])
		ok = err == nil && d == time.Duration(v.Int())
	case v.Kind() == reflect.Bool:
		ok = m[1] == strconv.FormatBool(v.Bool())
	case v.Kind() == reflect.Int:
		n, err := strconv.Atoi(m[1])
		ok = err == nil && int64(n) == v.Int()
	case v.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(m[1], 64)
		ok = err == nil && x == v.Float()
	case v.Kind() == reflect.String:
		ok = m[1] == v.String()
	}
	if !ok {
		return "documented default " + cell + ", the code's is " + render(v)
	}
	return ""
}

func render(v reflect.Value) string {
	if v.Type() == reflect.TypeFor[time.Duration]() {
		return time.Duration(v.Int()).String()
	}
	return fmt.Sprint(v.Interface())
}
