package store

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// goTypes is what the driver's columnar Append takes for each ClickHouse type
// the schema uses.
func goTypes() map[string]reflect.Type {
	return map[string]reflect.Type{
		"String":         reflect.TypeFor[[]string](),
		"DateTime":       reflect.TypeFor[[]time.Time](),
		"UInt8":          reflect.TypeFor[[]uint8](),
		"UInt16":         reflect.TypeFor[[]uint16](),
		"Int32":          reflect.TypeFor[[]int32](),
		"Int64":          reflect.TypeFor[[]int64](),
		"UInt64":         reflect.TypeFor[[]uint64](),
		"Float64":        reflect.TypeFor[[]float64](),
		"Array(String)":  reflect.TypeFor[[][]string](),
		"Array(UInt64)":  reflect.TypeFor[[][]uint64](),
		"Array(Float64)": reflect.TypeFor[[][]float64](),
	}
}

// sampleStartUnixMilli has milliseconds so that tests see them survive.
const sampleStartUnixMilli = 1795255200250

func sampleWindow() (start, end time.Time) {
	start = time.UnixMilli(sampleStartUnixMilli).UTC()
	return start, start.Add(5 * time.Minute)
}

func sampleBatch() Batch {
	start, end := sampleWindow()
	return Batch{
		Profiles: []WindowProfile{{
			Model: "fraud", Feature: "amount", WindowStart: start, WindowEnd: end, Partition: -1,
			Rows: 10, Nulls: 1, NaN: 2, PosInf: 3, NegInf: 0, Finite: 4, Min: -1, Max: 9, Mean: 2.5, StdDev: 1.5,
			Violations: map[string]uint64{"out_of_range": 2, "null": 1, "wrong_type": 5},
			Distinct:   7.5, State: []byte{0, 1, 2, 255},
		}},
		Results: []check.Result{
			{Model: "fraud", WindowStart: start, WindowEnd: end, Kind: "drift", Feature: "amount", Metric: "psi", Value: 0.3, Threshold: 0.2, Breached: true},
			{Model: "fraud", WindowStart: start, WindowEnd: end, Kind: "quality", Metric: "volume", Value: 10, Threshold: math.NaN()},
		},
		Anomalies: []check.Verdict{{
			Model: "fraud", WindowStart: start, WindowEnd: end, Score: 4.2, Anomaly: true, Statistic: "residual",
			Causes: []check.Cause{{Metric: "amount/psi", Actual: 0.3, Expected: 0.01, Contribution: 0.8}, {Metric: "volume", Actual: 10, Expected: 12, Contribution: 0.2}},
		}},
		Rejected:   []RejectedCount{{Model: "unknown", WindowStart: start, Reason: "malformed", Partition: 3, Count: 17}},
		References: []ReferenceSummary{{Model: "fraud", Feature: "amount", PeriodStart: start, State: []byte{9, 0, 8}}},
	}
}

func TestInsertsMatchTheirTables(t *testing.T) {
	ins, err := inserts(sampleBatch(), 42)
	if err != nil {
		t.Fatal(err)
	}
	goTypes := goTypes()
	var names []string
	for _, in := range ins {
		names = append(names, in.table.name)
		if len(in.columns) != len(in.table.columns) {
			t.Errorf("%s: %d column slices for %d columns", in.table.name, len(in.columns), len(in.table.columns))
			continue
		}
		for i, c := range in.table.columns {
			got := reflect.TypeOf(in.columns[i])
			if want := goTypes[c.typ]; got != want {
				t.Errorf("%s.%s (%s): slice of %v, want %v", in.table.name, c.name, c.typ, got, want)
			}
			if n := reflect.ValueOf(in.columns[i]).Len(); n != in.rows {
				t.Errorf("%s.%s: %d values for %d rows", in.table.name, c.name, n, in.rows)
			}
			if c.name == "version" && in.columns[i].([]uint64)[0] != 42 {
				t.Errorf("%s.version = %d, want 42", in.table.name, in.columns[i].([]uint64)[0])
			}
		}
	}
	// window_profiles last: ClosedWindows trusts it to mean "all written".
	if want := "check_results anomalies rejected_counts reference_summaries window_profiles"; strings.Join(names, " ") != want {
		t.Errorf("insert order %v, want %s", names, want)
	}
}

// col returns the values of the named column of in.
func col[T any](t *testing.T, in insert, name string) []T {
	t.Helper()
	for i, c := range in.table.columns {
		if c.name == name {
			return in.columns[i].([]T)
		}
	}
	t.Fatalf("%s has no column %s", in.table.name, name)
	return nil
}

func TestColumnValues(t *testing.T) {
	b := sampleBatch()
	start, end := sampleWindow()
	ins, err := inserts(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	results, anomalies, rejected, references, profiles := ins[0], ins[1], ins[2], ins[3], ins[4]

	if got := col[time.Time](t, profiles, "window_start")[0]; !got.Equal(start.Truncate(time.Second)) {
		t.Errorf("window_start = %v, want whole seconds of %v", got, start)
	}
	if got := col[uint16](t, profiles, "window_start_ms")[0]; got != 250 {
		t.Errorf("window_start_ms = %d, want 250", got)
	}
	if got := col[[]string](t, profiles, "violation_kinds")[0]; !reflect.DeepEqual(got, []string{"null", "out_of_range", "wrong_type"}) {
		t.Errorf("violation_kinds = %v, want sorted kinds", got)
	}
	if got := col[[]uint64](t, profiles, "violation_counts")[0]; !reflect.DeepEqual(got, []uint64{1, 2, 5}) {
		t.Errorf("violation_counts = %v, want counts parallel to the kinds", got)
	}
	if got := col[string](t, profiles, "state")[0]; got != string(b.Profiles[0].State) {
		t.Errorf("state = %q, want the profile's bytes", got)
	}
	if got := col[int32](t, profiles, "kafka_partition")[0]; got != -1 {
		t.Errorf("kafka_partition = %d, want -1", got)
	}
	if got := col[uint8](t, results, "breached"); !reflect.DeepEqual(got, []uint8{1, 0}) {
		t.Errorf("breached = %v, want [1 0]", got)
	}
	if got := col[float64](t, results, "threshold")[1]; !math.IsNaN(got) {
		t.Errorf("threshold = %v, want NaN kept", got)
	}
	if got := col[[]string](t, anomalies, "cause_metrics")[0]; !reflect.DeepEqual(got, []string{"amount/psi", "volume"}) {
		t.Errorf("cause_metrics = %v", got)
	}
	if got := col[[]float64](t, anomalies, "cause_expected")[0]; !reflect.DeepEqual(got, []float64{0.01, 12}) {
		t.Errorf("cause_expected = %v", got)
	}
	if got := col[uint64](t, rejected, "message_count")[0]; got != 17 {
		t.Errorf("message_count = %d, want 17", got)
	}
	if got := col[string](t, references, "state")[0]; got != string(b.References[0].State) {
		t.Errorf("reference state = %q, want the summary's bytes", got)
	}
	if got := joinTime(col[time.Time](t, references, "window_start")[0], col[uint16](t, references, "window_start_ms")[0]); !got.Equal(start) {
		t.Errorf("reference period start = %v, want %v with its milliseconds", got, start)
	}
	if got := col[string](t, references, "feature")[0]; got != "amount" {
		t.Errorf("reference feature = %q, want amount", got)
	}
	if got := joinTime(col[time.Time](t, results, "window_end")[0], col[uint16](t, results, "window_end_ms")[0]); !got.Equal(end) {
		t.Errorf("joinTime(split(end)) = %v, want %v", got, end)
	}
}

func TestInsertsSkipEmptyTables(t *testing.T) {
	ins, err := inserts(Batch{Rejected: sampleBatch().Rejected}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].table.name != tableRejected {
		t.Errorf("got %d inserts, want only rejected_counts", len(ins))
	}
}

// A batch of only reference summaries, as drift writes at a shutdown, is a
// batch to write, not an empty one.
func TestReferencesOnlyBatch(t *testing.T) {
	b := Batch{References: sampleBatch().References}
	if b.Empty() {
		t.Fatal("a batch with only reference summaries reports Empty")
	}
	ins, err := inserts(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].table.name != tableReferences || ins[0].rows != 1 {
		t.Errorf("got %d inserts, want one row of reference_summaries", len(ins))
	}
}

func TestInsertsRejectTimesDateTimeCannotHold(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Batch)
		want   string
	}{
		{"zero profile start", func(b *Batch) { b.Profiles[0].WindowStart = time.Time{} }, "window_profiles: window start"},
		{"result end before 1970", func(b *Batch) { b.Results[1].WindowEnd = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }, "check_results: window end"},
		{"anomaly start after 2106", func(b *Batch) { b.Anomalies[0].WindowStart = time.Date(2107, 1, 1, 0, 0, 0, 0, time.UTC) }, "anomalies: window start"},
		{"zero rejected start", func(b *Batch) { b.Rejected[0].WindowStart = time.Time{} }, "rejected_counts: window start"},
		{"zero reference period start", func(b *Batch) { b.References[0].PeriodStart = time.Time{} }, "reference_summaries: period start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := sampleBatch()
			tt.change(&b)
			_, err := inserts(b, 1)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("inserts() error = %v, want one naming %q", err, tt.want)
			}
		})
	}
}
