package main

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// shape is the traffic of the throughput benchmarks (issue #17): models of
// numeric features written with six decimals and categorical ones drawn with
// skewed weights, a request id on every event, a probability prediction, and no
// labels. Its defaults are the common case the issue measured: one model of 12
// numeric and 8 categorical features at 1,500 events a minute.
type shape struct {
	model                string
	models               int
	numeric, categorical int
	perWindow            int
}

// shapeCategories are the values of every categorical feature; the weights fall
// off geometrically, so a few are common and the last rare.
var shapeCategories = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"}

func (sh *shape) numName(i int) string { return fmt.Sprintf("n%02d", i) }
func (sh *shape) catName(i int) string { return fmt.Sprintf("c%02d", i) }

// contract writes the model's contract: ranges wide enough that healthy traffic
// stays inside them, and the categories listed.
func (sh *shape) contract(w *bufio.Writer) error {
	fmt.Fprintf(w, "model: %s\nmodel_version: v1\nprediction:\n  kind: probability\nfeatures:\n", sh.model)
	for i := range sh.numeric {
		fmt.Fprintf(w, "  - {name: %s, type: numeric, nullable: true, min: -1000000, max: 1000000}\n", sh.numName(i))
	}
	for i := range sh.categorical {
		fmt.Fprintf(w, "  - {name: %s, type: categorical, categories: [", sh.catName(i))
		for k, c := range shapeCategories {
			if k > 0 {
				w.WriteString(", ")
			}
			w.WriteString(c)
		}
		w.WriteString("]}\n")
	}
	return nil
}

// shapeGen draws one model's feature values.
type shapeGen struct {
	sh  *shape
	r   *rand.Rand
	buf []byte
}

func (g *shapeGen) number(i int) float64 {
	// Feature i is centred on 10·i with a spread of i+1, so features
	// differ in scale as real ones do.
	return 10*float64(i) + g.r.NormFloat64()*float64(1+i)
}

func (g *shapeGen) category() string {
	k := 0
	for k < len(shapeCategories)-1 && g.r.Float64() < 0.6 {
		k++
	}
	return shapeCategories[k]
}

// train writes a training table of the model's features.
func (sh *shape) train(w *bufio.Writer, rows int) error {
	g := &shapeGen{sh: sh, r: rand.New(rand.NewPCG(17, 1))}
	for i := range sh.numeric {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString(sh.numName(i))
	}
	for i := range sh.categorical {
		if i > 0 || sh.numeric > 0 {
			w.WriteByte(',')
		}
		w.WriteString(sh.catName(i))
	}
	w.WriteByte('\n')
	for range rows {
		for i := range sh.numeric {
			if i > 0 {
				w.WriteByte(',')
			}
			g.buf = strconv.AppendFloat(g.buf[:0], g.number(i), 'f', 6, 64)
			w.Write(g.buf)
		}
		for i := range sh.categorical {
			if i > 0 || sh.numeric > 0 {
				w.WriteByte(',')
			}
			w.WriteString(g.category())
		}
		w.WriteByte('\n')
	}
	return nil
}

// events writes rows event envelopes: the models take turns, each at perWindow
// events a minute of event time, with up to two seconds of disorder.
func (sh *shape) events(w *bufio.Writer, rows int) error {
	g := &shapeGen{sh: sh, r: rand.New(rand.NewPCG(17, 2))}
	start := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	step := time.Minute / time.Duration(sh.perWindow*sh.models)
	var id [16]byte
	for k := range rows {
		model := sh.model
		if sh.models > 1 {
			model = fmt.Sprintf("%s-%03d", sh.model, k%sh.models)
		}
		at := start.Add(time.Duration(k)*step - time.Duration(g.r.IntN(2000))*time.Millisecond)
		for i := range id {
			id[i] = byte(g.r.Uint32())
		}
		fmt.Fprintf(w, `{"model":%q,"model_version":"v1","request_id":"%x-%x-%x-%x-%x","timestamp":%q,"features":{`,
			model, id[0:4], id[4:6], id[6:8], id[8:10], id[10:16], at.Format(time.RFC3339Nano))
		for i := range sh.numeric {
			if i > 0 {
				w.WriteByte(',')
			}
			g.buf = strconv.AppendFloat(g.buf[:0], g.number(i), 'f', 6, 64)
			fmt.Fprintf(w, `"%s":%s`, sh.numName(i), g.buf)
		}
		for i := range sh.categorical {
			if i > 0 || sh.numeric > 0 {
				w.WriteByte(',')
			}
			fmt.Fprintf(w, `"%s":%q`, sh.catName(i), g.category())
		}
		p := 1 / (1 + math.Exp(-g.r.NormFloat64()*1.5+2))
		fmt.Fprintf(w, `},"prediction":%.6f}`+"\n", p)
	}
	return nil
}
