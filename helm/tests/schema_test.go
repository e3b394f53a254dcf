package sentinelchart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
)

// The keys of sentinel.yaml the chart's config refuses, each for a reason.
var refusedKeys = map[string]string{
	"models":              "the chart builds them from models",
	"clickhouse.dsn":      "a DSN may hold a password: it comes from secrets.clickhouseDSN",
	"clickhouse.dsn_from": "the chart points it at secrets.clickhouseDSN",
	"kafka.sasl.password": "the chart points it at secrets.kafkaPassword",
}

// TestSchemaFollowsDaemonConfig walks sentinel.yaml's Go type and the chart's
// schema for config side by side, so that a key added to the daemon is added
// to the chart (or refused on purpose), and that the schema's types are those
// the daemon decodes.
func TestSchemaFollowsDaemonConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var root schemaNode
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	cfg, ok := root.Properties["config"]
	if !ok {
		t.Fatal("the schema has no config")
	}
	compareSchema(t, "", reflect.TypeFor[config.Daemon](), cfg)
}

type schemaNode struct {
	Type                 any                    `json:"type"`
	Properties           map[string]*schemaNode `json:"properties"`
	AdditionalProperties any                    `json:"additionalProperties"`
	Items                *schemaNode            `json:"items"`
	Pattern              string                 `json:"pattern"`
	Enum                 []any                  `json:"enum"`
}

func compareSchema(t *testing.T, prefix string, typ reflect.Type, node *schemaNode) {
	t.Helper()
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	key := strings.TrimPrefix(prefix, ".")
	switch {
	case typ == reflect.TypeFor[time.Duration]():
		if node.Type != "string" || node.Pattern == "" {
			t.Errorf("%s is a duration: want a string with the duration pattern, got %+v", key, node)
		}
	case typ.Kind() == reflect.Struct:
		if node.Type != "object" || node.AdditionalProperties != false {
			t.Errorf("%s: want an object without additional properties, got type %v, additionalProperties %v", key, node.Type, node.AdditionalProperties)
		}
		fields := map[string]bool{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = true
			child := strings.TrimPrefix(prefix+"."+name, ".")
			sub, inSchema := node.Properties[name]
			_, refused := refusedKeys[child]
			switch {
			case refused && inSchema:
				t.Errorf("%s is in the schema, but the chart refuses it: %s", child, refusedKeys[child])
			case refused:
			case !inSchema:
				t.Errorf("sentinel.yaml's %s is not in the chart's schema: add it to values.schema.json (or to refusedKeys, saying why)", child)
			default:
				compareSchema(t, prefix+"."+name, f.Type, sub)
			}
		}
		for name := range node.Properties {
			child := strings.TrimPrefix(prefix+"."+name, ".")
			if !fields[name] {
				t.Errorf("the schema's config.%s is not in sentinel.yaml: the daemon would refuse it", child)
			}
		}
	case typ.Kind() == reflect.Slice:
		if node.Type != "array" || node.Items == nil {
			t.Errorf("%s: want an array with items, got %+v", key, node)
			return
		}
		compareSchema(t, prefix+"[]", typ.Elem(), node.Items)
	case typ.Kind() == reflect.Map && typ.Key().Kind() == reflect.String:
		var values schemaNode
		b, err := json.Marshal(node.AdditionalProperties)
		if node.Type != "object" || err != nil || json.Unmarshal(b, &values) != nil || values.Type == nil {
			t.Errorf("%s: want an object whose additionalProperties give the values' type, got %+v", key, node)
			return
		}
		compareSchema(t, prefix+"[]", typ.Elem(), &values)
	case typ.Kind() == reflect.String:
		if node.Type != "string" && !allStrings(node.Enum) {
			t.Errorf("%s: want a string, got %+v", key, node)
		}
	case typ.Kind() == reflect.Bool:
		if node.Type != "boolean" {
			t.Errorf("%s: want a boolean, got %v", key, node.Type)
		}
	case typ.Kind() == reflect.Int:
		if node.Type != "integer" {
			t.Errorf("%s: want an integer, got %v", key, node.Type)
		}
	case typ.Kind() == reflect.Float64:
		if node.Type != "number" {
			t.Errorf("%s: want a number, got %v", key, node.Type)
		}
	default:
		t.Errorf("%s: no schema rule for Go type %s", key, typ)
	}
}

func allStrings(enum []any) bool {
	return len(enum) > 0 && !slices.ContainsFunc(enum, func(v any) bool { _, ok := v.(string); return !ok })
}
