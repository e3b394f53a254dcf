package profile

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
)

// writtenBaseline is a baseline as `sentinel baseline` writes it: numeric
// features with sketches of both signs and zeros, categorical ones, nulls,
// row errors.
func writtenBaseline(tb testing.TB) []byte {
	tb.Helper()
	c := &config.Contract{Model: "m", Features: []config.Feature{
		{Name: "x", Type: config.Numeric}, {Name: "y", Type: config.Numeric, Nullable: true},
		{Name: "c", Type: config.Categorical}, {Name: "b", Type: config.Boolean}}}
	c.ApplyDefaults()
	data := "x,y,c,b\n1.5,,a,true\n-2,0,b,false\n0,3e5,\"é, ü\",true\n-7.25e-3,12,a,1\n1,2,3\n"
	b, err := Build(context.Background(), c, func() (dataset.Reader, io.Closer, error) {
		r, err := dataset.NewCSV(strings.NewReader(data))
		return r, io.NopCloser(nil), err
	}, BuildOptions{Now: func() time.Time { return time.Date(2026, 11, 21, 10, 0, 0, 123, time.UTC) }, Source: "train.csv"})
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if err := b.Write(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecodeBaseline: a baseline as Sentinel writes it takes the fast path,
// to what encoding/json makes of it.
func TestDecodeBaseline(t *testing.T) {
	data := writtenBaseline(t)
	var fast Baseline
	if !decodeBaseline(data, &fast) {
		t.Fatal("a written baseline is declined")
	}
	checkDecodeBaseline(t, data)
}

// checkDecodeBaseline: whatever the fast path accepts, encoding/json accepts
// and decodes to the same baseline.
func checkDecodeBaseline(t *testing.T, data []byte) {
	t.Helper()
	var fast Baseline
	if !decodeBaseline(data, &fast) {
		return
	}
	var want Baseline
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("the fast path accepted what encoding/json refuses (%v):\n%s", err, data)
	}
	if !reflect.DeepEqual(fast, want) {
		t.Fatalf("the fast path decoded\n%+v\nencoding/json\n%+v\nfrom\n%s", fast, want, data)
	}
}

// FuzzDecodeBaseline: any bytes the fast path decodes, encoding/json decodes
// alike.
func FuzzDecodeBaseline(f *testing.F) {
	f.Add(writtenBaseline(f))
	for _, s := range []string{
		`{"format_version": 1}`, `{"format_version": 1, "features": []}`, `{"format_version": 1, "rows": 01}`,
		`{"format_version": 1, "row_errors": {"a": 1, "a": 2}}`, `{"format_version": 1, "Model": "m"}`,
		`{"format_version": 1, "model": "\u00e9"}`, `{"format_version": 1.0}`, `{"format_version": 1} x`,
		`{"format_version": 1, "features": [{"sketch": {"positive": [1, 2], "positive_offset": -3}}]}`,
		`{"format_version": 1, "features": [{"min": null}]}`, `{"format_version": 1, "created_at": "2026-11-21T10:00:00Z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecodeBaseline(t, data) })
}
