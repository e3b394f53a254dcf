package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Effective writes the configuration as Sentinel runs it, defaults filled in,
// as YAML that LoadDaemon reads back to the same values: durations in Go's
// notation ("30s", not nanoseconds), and a password in the DSN masked, so
// that the output can be pasted into a ticket. Secrets given by reference
// (dsn_from, sasl.password) are shown as their references, never resolved.
func (d *Daemon) Effective() ([]byte, error) {
	c := *d
	c.ClickHouse.DSN = MaskDSN(c.ClickHouse.DSN)
	// Paths as the daemon opens them, whatever directory the output is
	// read from.
	c.Models = make([]ModelRef, len(d.Models))
	for i, m := range d.Models {
		c.Models[i] = ModelRef{Contract: absolute(m.Contract), Baseline: absolute(m.Baseline)}
	}
	n, err := node(reflect.ValueOf(c))
	if err != nil {
		return nil, fmt.Errorf("writing the effective configuration: %w", err)
	}
	out, err := yaml.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("writing the effective configuration: %w", err)
	}
	return out, nil
}

func absolute(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// MaskDSN replaces the password of a URL-shaped DSN with "***".
func MaskDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); !ok {
		return dsn
	}
	u.User = url.UserPassword(u.User.Username(), "***")
	return strings.Replace(u.String(), "%2A%2A%2A", "***", 1)
}

// node builds the YAML of v by its yaml tags, so that every key is written,
// its zero value included, as the configuration reference lists it.
func node(v reflect.Value) (*yaml.Node, error) {
	scalar := func(tag, s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s} }
	if v.Type() == durationType {
		return scalar("!!str", time.Duration(v.Int()).String()), nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return scalar("!!null", "null"), nil
		}
		return node(v.Elem())
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			val, err := node(v.Field(i))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			m.Content = append(m.Content, scalar("!!str", name), val)
		}
		return m, nil
	case reflect.Slice, reflect.Array:
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := range v.Len() {
			val, err := node(v.Index(i))
			if err != nil {
				return nil, err
			}
			if val.Kind != yaml.ScalarNode {
				seq.Style = 0
			}
			seq.Content = append(seq.Content, val)
		}
		return seq, nil
	case reflect.Map:
		m := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		strs := make([]string, len(keys))
		for i, k := range keys {
			strs[i] = fmt.Sprint(k.Interface())
		}
		order := make([]int, len(keys))
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool { return strs[order[a]] < strs[order[b]] })
		for _, i := range order {
			val, err := node(v.MapIndex(keys[i]))
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, scalar("!!str", strs[i]), val)
		}
		return m, nil
	case reflect.String:
		return scalar("!!str", v.String()), nil
	case reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool())), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar("!!int", strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return scalar("!!int", strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		return scalar("!!float", strconv.FormatFloat(v.Float(), 'g', -1, 64)), nil
	}
	return nil, fmt.Errorf("no YAML for a %s", v.Type())
}
