package profile

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/event"
)

func numericSpec(edges []float64) Spec {
	return Spec{Name: "x", Type: config.Numeric, Nullable: true, Edges: edges}
}

// BenchmarkFeatureAddNumber is the per-value cost of a numeric profile: moments,
// sketch, decile bins and distinct count. Goal: ≤ 30 ns and 0 allocations.
func BenchmarkFeatureAddNumber(b *testing.B) {
	f, err := NewFeature(numericSpec([]float64{-1.28, -0.84, -0.52, -0.25, 0, 0.25, 0.52, 0.84, 1.28}))
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 4096)
	for i := range xs {
		xs[i] = r.NormFloat64() * 100
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.AddNumber(xs[i&4095])
	}
}

// BenchmarkFeatureAddCategory is the per-value cost of a categorical profile.
func BenchmarkFeatureAddCategory(b *testing.B) {
	f, err := NewFeature(Spec{Name: "c", Type: config.Categorical, Tracked: []string{"DE", "FR", "US"}})
	if err != nil {
		b.Fatal(err)
	}
	cats := [][]byte{[]byte("DE"), []byte("FR"), []byte("US"), []byte("GB")}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.AddString(cats[i&3])
	}
}

// BenchmarkScanCSV profiles a 10-column numeric CSV held in memory: CSV splitting,
// number parsing and profile updates, without disk I/O.
func BenchmarkScanCSV(b *testing.B) {
	const rows, cols = 20000, 10
	var buf bytes.Buffer
	specs := make([]Spec, cols)
	r := rand.New(rand.NewPCG(3, 4))
	for c := 0; c < cols; c++ {
		if c > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, "f%d", c)
		specs[c] = Spec{Name: fmt.Sprintf("f%d", c), Type: config.Numeric, Edges: []float64{-2, -1, -0.5, 0, 0.5, 1, 2, 3, 4}}
	}
	buf.WriteByte('\n')
	for i := 0; i < rows; i++ {
		for c := 0; c < cols; c++ {
			if c > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.FormatFloat(r.NormFloat64()*float64(c+1), 'f', 4, 64))
		}
		buf.WriteByte('\n')
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		set, err := NewSet(specs)
		if err != nil {
			b.Fatal(err)
		}
		rd, err := dataset.NewCSV(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if err := set.Scan(context.Background(), rd); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mvalues/s")
}

// BenchmarkSetAddEvent is the profiling part of the daemon's cost per event: the
// benchmark event of 12 numeric features (normal, scaled by position, three
// decimals) and 8 categorical ones (8 categories each), added as decoded
// fields. Its working set, 12 sketches and 20 distinct counters, is the
// daemon's, where a single feature's fits in the L1 cache.
func BenchmarkSetAddEvent(b *testing.B) {
	var specs []Spec
	for i := range 12 {
		specs = append(specs, Spec{Name: fmt.Sprintf("n%d", i), Type: config.Numeric, Nullable: true,
			Edges: []float64{-1.28, -0.84, -0.52, -0.25, 0, 0.25, 0.52, 0.84, 1.28}})
	}
	cats := []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"}
	for i := range 8 {
		specs = append(specs, Spec{Name: fmt.Sprintf("c%d", i), Type: config.Categorical, Tracked: cats, Categories: cats})
	}
	set, err := NewSet(specs)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	// One layout, as the decoder gives events whose names repeat.
	events := make([]event.Event, 1024)
	for k := range events {
		events[k].Layout = 1
		for i, s := range specs {
			v := event.Value{Kind: event.KindString, Str: []byte(cats[r.IntN(8)])}
			if i < 12 {
				x, _ := strconv.ParseFloat(strconv.FormatFloat(r.NormFloat64()*float64(i+1), 'f', 3, 64), 64)
				v = event.Value{Kind: event.KindNumber, Num: x}
			}
			events[k].Features = append(events[k].Features, event.Field{Name: []byte(s.Name), Value: v})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		set.AddEvent(&events[i&1023])
	}
}
