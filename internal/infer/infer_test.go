package infer

import (
	"context"
	"fmt"
	"strconv"
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
		{"amount", config.Numeric, false, -100, 100, ""}, // -3 and 1.5 an order of magnitude out, as powers of ten
		{"country", config.Categorical, true, 0, 0, "DE,FR"},
		{"flag", config.Boolean, false, 0, 0, ""},
		{"code", config.Numeric, false, 0, 100, ""}, // never negative: 0
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

func TestBound(t *testing.T) {
	for _, tc := range []struct {
		extreme float64
		want    string
	}{
		{0, "0"}, {-5, "0"}, {3448.55, "100000"}, {95, "1000"}, {100, "1000"}, {99.9, "1000"},
		{0.7629, "10"}, {1, "10"}, {1e-7, "1e-06"}, {1e307, "1e+308"}, {1e308, "none"},
	} {
		got := "none"
		if b := bound(tc.extreme); b != nil {
			got = strconv.FormatFloat(*b, 'g', -1, 64)
		}
		if got != tc.want {
			t.Errorf("bound(%v) = %s, want %s", tc.extreme, got, tc.want)
		}
	}
}

func TestUnknownCategoryRate(t *testing.T) {
	var b strings.Builder
	b.WriteString("c\n")
	for i := range 990 {
		fmt.Fprintf(&b, "common%d\n", i%3)
	}
	for i := range 10 {
		fmt.Fprintf(&b, "rare%d\n", i) // ten seen once in 1,000: about 1% of traffic is in categories not seen
	}
	r, err := dataset.NewCSV(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Contract(context.Background(), "m", r, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Features[0].MaxUnknownCategoryRate; got == nil || *got != 0.05 {
		t.Errorf("max_unknown_category_rate %v, want 0.05 (four times 1%%, rounded up to 1-2-5)", show(got))
	}
	r, err = dataset.NewCSV(strings.NewReader("c\na\nb\na\nb\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c, err = Contract(context.Background(), "m", r, 100); err != nil || c.Features[0].MaxUnknownCategoryRate != nil {
		t.Errorf("no category seen once: %v, %v; want the built-in tolerance", err, c.Features[0].MaxUnknownCategoryRate)
	}
	for x, want := range map[float64]float64{0.0012: 0.002, 0.002: 0.002, 0.0021: 0.005, 0.006: 0.01, 0.04: 0.05, 0.3: 0.5, 0.7: 1, 3: 1} {
		if got := roundUp125(x); got != want {
			t.Errorf("roundUp125(%v) = %v, want %v", x, got, want)
		}
	}
}
