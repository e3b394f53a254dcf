package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// BenchmarkCSV reads 10,000 rows of ten cells, one in ten with a quoted cell:
// the record loop must allocate nothing.
func BenchmarkCSV(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("c0,c1,c2,c3,c4,c5,c6,c7,c8,c9\n")
	for i := 0; i < 10_000; i++ {
		if i%10 == 0 {
			fmt.Fprintf(&buf, "%d.5,\"DE, north\",true,%d,,x,y,1e3,-2,\"say \"\"hi\"\"\"\n", i, i)
			continue
		}
		fmt.Fprintf(&buf, "%d.5,DE,true,%d,,x,y,1e3,-2,z\n", i, i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var rec Record
	for b.Loop() {
		r, err := NewCSV(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		for {
			if err := r.Next(&rec); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				b.Fatal(err)
			}
		}
	}
}
