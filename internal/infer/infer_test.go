package infer

import (
	"context"
	"strings"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
)

func TestContract(t *testing.T) {
	csv := "amount,country,flag,code,empty,mixed\n" +
		"1.5,DE,true,7,,1\n" +
		"NaN,FR,FALSE,8,,x\n" +
		"-3,,true,9,,2\n"
	r, err := dataset.NewCSV(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Contract(context.Background(), "m", r, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name     string
		typ      config.FeatureType
		nullable bool
		min, max float64
		cats     string
	}{
		{"amount", config.Numeric, false, -3, 1.5, ""},
		{"country", config.Categorical, true, 0, 0, "DE,FR"},
		{"flag", config.Boolean, false, 0, 0, ""},
		{"code", config.Numeric, false, 7, 9, ""},
		{"empty", config.Categorical, true, 0, 0, ""},
		{"mixed", config.Categorical, false, 0, 0, ""}, // three distinct values, above the bound of 2
	}
	if len(c.Features) != len(want) {
		t.Fatalf("features %+v", c.Features)
	}
	for i, w := range want {
		f := c.Features[i]
		if f.Name != w.name || f.Type != w.typ || f.Nullable != w.nullable || strings.Join(f.Categories, ",") != w.cats {
			t.Errorf("feature %d = %+v, want %+v", i, f, w)
		}
		if w.typ == config.Numeric && (f.Min == nil || *f.Min != w.min || *f.Max != w.max) {
			t.Errorf("%s: range %v..%v, want %v..%v", w.name, f.Min, f.Max, w.min, w.max)
		}
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("inferred contract does not validate: %v", err)
	}
}

func TestContractJSONTypes(t *testing.T) {
	r := dataset.NewJSONL(strings.NewReader(`{"a": 1, "b": "1", "c": true}` + "\n" + `{"a": 2.5, "b": "2", "c": false}` + "\n"))
	c, err := Contract(context.Background(), "m", r, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := []config.FeatureType{c.Features[0].Type, c.Features[1].Type, c.Features[2].Type}
	want := []config.FeatureType{config.Numeric, config.Categorical, config.Boolean}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("types %v, want %v: JSON strings stay categorical even when they look numeric", got, want)
			break
		}
	}
}

func TestContractErrors(t *testing.T) {
	r, err := dataset.NewCSV(strings.NewReader("a\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Contract(context.Background(), "m", r, 10); err == nil || !strings.Contains(err.Error(), "no rows") {
		t.Errorf("header only: %v", err)
	}
	r, err = dataset.NewCSV(strings.NewReader("a\n\"x\"y\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Contract(context.Background(), "m", r, 10); err == nil || !strings.Contains(err.Error(), "unreadable") {
		t.Errorf("bad row: %v", err)
	}
}
