// Command gendata writes the synthetic data sets of the examples and benchmarks.
// Seeds are fixed, so a regenerated file is byte-identical to the committed one.
//
//	go run ./scripts/gendata -set fraud-train -rows 10000 > examples/fraud/train.csv
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

func main() {
	set := flag.String("set", "", "fraud-train, fraud-ok, fraud-incident, fraud-events, fraud-windows, wide, shape-contract, shape-train or shape-events")
	rows := flag.Int("rows", 10000, "rows to write")
	var sh shape
	flag.StringVar(&sh.model, "model", "shape", "shape-contract: the model's name")
	flag.IntVar(&sh.models, "models", 1, "shape-events: models, named <model>-000 and on when more than one")
	flag.IntVar(&sh.numeric, "numeric", 12, "shape sets: numeric features")
	flag.IntVar(&sh.categorical, "categorical", 8, "shape sets: categorical features")
	flag.IntVar(&sh.perWindow, "per-window", 1500, "shape-events: events per model per minute of event time")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	var err error
	switch *set {
	case "fraud-train":
		err = fraud(w, *rows, 1, false)
	case "fraud-ok":
		err = fraud(w, *rows, 2, false)
	case "fraud-incident":
		err = fraud(w, *rows, 3, true)
	case "fraud-events":
		err = events(w, *rows)
	case "fraud-windows":
		err = windows(w, *rows)
	case "wide":
		err = wide(w, *rows)
	case "shape-contract":
		err = sh.contract(w)
	case "shape-train":
		err = sh.train(w, *rows)
	case "shape-events":
		err = sh.events(w, *rows)
	default:
		fmt.Fprintln(os.Stderr, "gendata: -set must be fraud-train, fraud-ok, fraud-incident, fraud-events, fraud-windows, wide, shape-contract, shape-train or shape-events")
		os.Exit(2)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

func pick(r *rand.Rand, values []string, weights []float64) string {
	u := r.Float64()
	for i, p := range weights {
		if u < p {
			return values[i]
		}
		u -= p
	}
	return values[len(values)-1]
}

// payment is one row of the fraud model's inputs.
type payment struct {
	amount  float64
	age     string // "" when unknown
	country string
	device  string
	isNew   bool
	risk    float64
}

// paymentGen draws payments. The incident is what an upstream change looks
// like: amounts in another currency unit (scaled up), a country mix shifted by a
// new market, a new device type, and ages lost for a slice of traffic.
type paymentGen struct {
	r         *rand.Rand
	countries []string
	cw        []float64
}

func newPaymentGen(seed uint64) *paymentGen {
	return &paymentGen{r: rand.New(rand.NewPCG(seed, 42)),
		countries: []string{"DE", "FR", "US", "GB", "ES", "IT"}, cw: []float64{0.30, 0.20, 0.20, 0.15, 0.10, 0.05}}
}

func (g *paymentGen) next(incident bool) payment {
	r := g.r
	p := payment{
		amount: math.Exp(3.5 + 1.1*r.NormFloat64()),
		age:    strconv.Itoa(18 + int(math.Abs(r.NormFloat64()*14+22))),
		device: pick(r, []string{"mobile", "desktop", "tablet"}, []float64{0.6, 0.3, 0.1}),
		isNew:  r.Float64() < 0.12,
		risk:   0.3 + 0.1*r.NormFloat64(),
	}
	countries, cw := g.countries, g.cw
	if incident {
		countries = append(countries[:len(countries):len(countries)], "BR")
		cw = []float64{0.22, 0.15, 0.28, 0.12, 0.08, 0.05, 0.10}
		p.amount *= 2.2
		if r.Float64() < 0.15 {
			p.age = ""
		}
		if r.Float64() < 0.04 {
			p.device = "smart_tv"
		}
		if r.Float64() < 0.005 {
			p.amount = -p.amount // refunds leaking into the stream
		}
		p.isNew = r.Float64() < 0.2
	} else if r.Float64() < 0.01 {
		p.age = ""
	}
	p.country = pick(r, countries, cw)
	return p
}

// fraud writes a card-payments table.
func fraud(w *bufio.Writer, rows int, seed uint64, incident bool) error {
	g := newPaymentGen(seed)
	fmt.Fprintln(w, "amount,age,country,device,is_new,merchant_risk")
	for i := 0; i < rows; i++ {
		p := g.next(incident)
		fmt.Fprintf(w, "%.2f,%s,%s,%s,%t,%.4f\n", p.amount, p.age, p.country, p.device, p.isNew, p.risk)
	}
	return nil
}

// events writes two hours of the fraud model's traffic as event envelopes, 40
// events a minute, with the incident in the second hour — plus what a live topic
// carries besides: a few malformed lines, an unknown model, NaN predictions — and
// for a third of the requests a label event ten minutes later. In the incident
// the model's scores stop matching the outcomes.
func events(w *bufio.Writer, rows int) error {
	g := newPaymentGen(4)
	r := rand.New(rand.NewPCG(4, 4))
	start := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	span := 2 * time.Hour
	type label struct {
		id    int
		at    time.Time
		value int
	}
	var labels []label
	for i := 0; i < rows; i++ {
		at := start.Add(time.Duration(float64(span) * float64(i) / float64(rows)))
		for len(labels) > 0 && !labels[0].at.After(at) {
			l := labels[0]
			labels = labels[1:]
			fmt.Fprintf(w, `{"model": "fraud", "request_id": "r-%d", "timestamp": %q, "label": %d}`+"\n",
				l.id, l.at.Format("2006-01-02T15:04:05.000Z07:00"), l.value)
		}
		// Up to five seconds of disorder, as several producers interleave.
		at = at.Add(-time.Duration(r.IntN(5000)) * time.Millisecond)
		incident := at.Sub(start) >= span/2
		p := g.next(incident)
		age := p.age
		if age == "" {
			age = "null"
		}
		pred := 1 / (1 + math.Exp(-(p.risk*4 - 3 + 0.002*p.amount)))
		predText := strconv.FormatFloat(pred, 'f', 4, 64)
		switch {
		case incident && r.Float64() < 0.01:
			predText = "NaN"
		case i%997 == 13:
			fmt.Fprintln(w, `{"model": "fraud", "timestamp": "2026-11-20T09:00:00Z", "features": {"amount": 1.0`)
			continue
		case i%1499 == 7:
			fmt.Fprintf(w, `{"model": "churn", "timestamp": %q, "features": {}}`+"\n", at.Format(time.RFC3339Nano))
			continue
		}
		if r.Float64() < 1.0/3 {
			p1 := pred
			if incident {
				p1 = 0.3
			}
			outcome := 0
			if r.Float64() < p1 {
				outcome = 1
			}
			labels = append(labels, label{id: i, at: at.Add(10 * time.Minute), value: outcome})
		}
		fmt.Fprintf(w, `{"model": "fraud", "model_version": "2026-11-01", "request_id": "r-%d", "timestamp": %q, `+
			`"features": {"amount": %.2f, "age": %s, "country": %q, "device": %q, "is_new": %t, "merchant_risk": %.4f}, `+
			`"prediction": %s, "latency_ms": %.1f}`+"\n",
			i, at.Format("2006-01-02T15:04:05.000Z07:00"), p.amount, age, p.country, p.device, p.isNew, p.risk, predText,
			math.Exp(2.5+0.4*r.NormFloat64()))
	}
	return nil
}

// wide writes the benchmark table: ten numeric columns.
func wide(w *bufio.Writer, rows int) error {
	r := rand.New(rand.NewPCG(7, 7))
	for c := 0; c < 10; c++ {
		if c > 0 {
			w.WriteByte(',')
		}
		fmt.Fprintf(w, "f%d", c)
	}
	w.WriteByte('\n')
	buf := make([]byte, 0, 32)
	for i := 0; i < rows; i++ {
		for c := 0; c < 10; c++ {
			if c > 0 {
				w.WriteByte(',')
			}
			x := float64(c) + r.NormFloat64()*float64(c+1)
			buf = strconv.AppendFloat(buf[:0], x, 'f', 4, 64)
			w.Write(buf)
		}
		w.WriteByte('\n')
	}
	return nil
}

// windows writes hourly window metrics of the fraud model — what the daemon stores
// per window — with a daily cycle in traffic and an incident near the end: for six
// hours a client release stops sending age for a slice of users, so age.null_ratio
// jumps while everything else looks normal.
func windows(w *bufio.Writer, rows int) error {
	r := rand.New(rand.NewPCG(11, 11))
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	incident := rows - rows/8
	fmt.Fprintln(w, "timestamp,volume,amount.mean,amount.p99,age.null_ratio,country.psi,device.psi,latency_ms.p99,prediction.mean")
	for i := 0; i < rows; i++ {
		day := math.Sin(2 * math.Pi * float64(i%24) / 24)
		volume := 5000 * (1 + 0.6*day) * (1 + 0.03*r.NormFloat64())
		amountMean := 80 * (1 + 0.1*day + 0.02*r.NormFloat64())
		amountP99 := 900 * (1 + 0.1*day + 0.04*r.NormFloat64())
		ageNull := math.Max(0, 0.01+0.002*r.NormFloat64())
		if i >= incident && i < incident+6 {
			ageNull = 0.14 + 0.01*r.NormFloat64()
		}
		countryPSI := math.Abs(0.004 + 0.002*r.NormFloat64())
		devicePSI := math.Abs(0.003 + 0.0015*r.NormFloat64())
		latency := 40 * (1 + 0.3*day + 0.05*r.NormFloat64())
		pred := 0.05 * (1 + 0.05*day + 0.03*r.NormFloat64())
		fmt.Fprintf(w, "%s,%.0f,%.3f,%.2f,%.5f,%.5f,%.5f,%.2f,%.5f\n", start.Add(time.Duration(i)*time.Hour).Format(time.RFC3339),
			volume, amountMean, amountP99, ageNull, countryPSI, devicePSI, latency, pred)
	}
	return nil
}
