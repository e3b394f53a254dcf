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
	set := flag.String("set", "", "fraud-train, fraud-ok, fraud-incident, fraud-windows or wide")
	rows := flag.Int("rows", 10000, "rows to write")
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
	case "fraud-windows":
		err = windows(w, *rows)
	case "wide":
		err = wide(w, *rows)
	default:
		fmt.Fprintln(os.Stderr, "gendata: -set must be fraud-train, fraud-ok, fraud-incident, fraud-windows or wide")
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

// fraud writes a card-payments table. The incident is what an upstream change
// looks like: amounts in another currency unit (scaled up), a country mix shifted
// by a new market, a new device type, and ages lost for a slice of traffic.
func fraud(w *bufio.Writer, rows int, seed uint64, incident bool) error {
	r := rand.New(rand.NewPCG(seed, 42))
	countries := []string{"DE", "FR", "US", "GB", "ES", "IT"}
	cw := []float64{0.30, 0.20, 0.20, 0.15, 0.10, 0.05}
	devices := []string{"mobile", "desktop", "tablet"}
	dw := []float64{0.6, 0.3, 0.1}
	if incident {
		countries = append(countries, "BR")
		cw = []float64{0.22, 0.15, 0.28, 0.12, 0.08, 0.05, 0.10}
	}
	fmt.Fprintln(w, "amount,age,country,device,is_new,merchant_risk")
	for i := 0; i < rows; i++ {
		amount := math.Exp(3.5 + 1.1*r.NormFloat64())
		age := strconv.Itoa(18 + int(math.Abs(r.NormFloat64()*14+22)))
		device := pick(r, devices, dw)
		isNew := r.Float64() < 0.12
		risk := 0.3 + 0.1*r.NormFloat64()
		if incident {
			amount *= 2.2
			if r.Float64() < 0.15 {
				age = ""
			}
			if r.Float64() < 0.04 {
				device = "smart_tv"
			}
			if r.Float64() < 0.005 {
				amount = -amount // refunds leaking into the stream
			}
			isNew = r.Float64() < 0.2
		} else if r.Float64() < 0.01 {
			age = ""
		}
		fmt.Fprintf(w, "%.2f,%s,%s,%s,%t,%.4f\n", amount, age, pick(r, countries, cw), device, isNew, risk)
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
