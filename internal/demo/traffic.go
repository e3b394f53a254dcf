package demo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The demo's two models: a fraud model scoring card payments with a
// probability, whose ground truth arrives a little later, and a regression
// model estimating delivery times.
const (
	fraudModel = "fraud"
	etaModel   = "eta"
)

// Incident kinds, injected into the traffic on a schedule.
const (
	MeanShift     = "mean_shift"    // fraud.amount's mean moves
	NullBurst     = "null_burst"    // fraud.age goes missing for a slice of traffic
	NewCategory   = "new_category"  // fraud.country floods with a market the contract never saw
	NaNStorm      = "nan_storm"     // eta's predictions turn NaN
	SilentModel   = "silent_model"  // eta stops sending
	UnitChange    = "unit_change"   // fraud.merchant_risk arrives ×100, breaking its correlations
	LabelDecline  = "label_decline" // fraud's labels agree less and less with its predictions
	warmupQuietly = "clean traffic" // the warm-up, for the printed schedule
	dayLength     = 60              // windows in the compressed day of traffic
	labelDelay    = 2 * time.Second // how long after a prediction its label arrives, in demo time
	versionFraud  = "2026-11-01"    // the fraud model's version
	versionETA    = "2026-10-15"    // the eta model's version
	fraudPerSec   = 400.0           // fraud events per second of event time, on average
	etaPerSec     = 150.0           // eta events per second of event time, on average
	riskScale     = 100.0           // the unit change's factor
	nanShare      = 0.4             // share of eta predictions that turn NaN in the storm
	nullShare     = 0.4             // share of fraud ages missing in the null burst
	floodShare    = 0.5             // share of fraud traffic from the new market
	shiftFactor   = 2.5             // how far amounts move in the mean shift
	newMarket     = "BR"            // the market the contract does not list
	countriesCSV  = "DE,FR,US,GB,ES,IT"
)

// Incident is one injected fault: what, in which model and feature, when.
type Incident struct {
	Kind, Model, Feature string
	Start, End           time.Duration // since the demo started, in event time
	What                 string        // for people
}

// Active reports whether the incident is under way at elapsed.
func (in Incident) Active(elapsed time.Duration) bool { return elapsed >= in.Start && elapsed < in.End }

// Schedule lays the incidents out after a clean warm-up, each for a few
// windows, with clean gaps between, so that each is told from the others.
func Schedule(warmup, window time.Duration) []Incident {
	kinds := []struct{ kind, model, feature, what string }{
		{MeanShift, fraudModel, "amount", fmt.Sprintf("amounts ×%.1f", shiftFactor)},
		{NullBurst, fraudModel, "age", fmt.Sprintf("%.0f%% of ages missing", 100*nullShare)},
		{NewCategory, fraudModel, "country", fmt.Sprintf("%.0f%% of payments from %s", 100*floodShare, newMarket)},
		{NaNStorm, etaModel, "prediction", fmt.Sprintf("%.0f%% of predictions NaN", 100*nanShare)},
		{SilentModel, etaModel, "", "no events at all"},
		{UnitChange, fraudModel, "merchant_risk", fmt.Sprintf("merchant risk sent ×%.0f", riskScale)},
		{LabelDecline, fraudModel, "prediction", "labels drift away from the predictions"},
	}
	const length, gap = 4, 4 // windows
	var out []Incident
	at := warmup
	for _, k := range kinds {
		n := time.Duration(length)
		if k.kind == LabelDecline {
			n = 2 * length // a slow decline takes its time
		}
		out = append(out, Incident{Kind: k.kind, Model: k.model, Feature: k.feature, What: k.what,
			Start: at, End: at + n*window})
		at += (n + gap) * window
	}
	return out
}

// traffic draws the demo's events: a daily-like cycle compressed to
// dayLength windows, and the incidents of the schedule when they are active.
type traffic struct {
	r         *rand.Rand
	window    time.Duration
	incidents []Incident
	seq       int
	countries []string
}

func newTraffic(seed uint64, window time.Duration, incidents []Incident) *traffic {
	return &traffic{r: rand.New(rand.NewPCG(seed, 7)), window: window, incidents: incidents,
		countries: strings.Split(countriesCSV, ",")}
}

// active reports whether an incident of kind is under way at elapsed.
func (t *traffic) active(kind string, elapsed time.Duration) (Incident, bool) {
	for _, in := range t.incidents {
		if in.Kind == kind && in.Active(elapsed) {
			return in, true
		}
	}
	return Incident{}, false
}

// rate is the events per second of a model at elapsed: the compressed day
// makes volume swing by ±40%.
func (t *traffic) rate(perSec float64, elapsed time.Duration) float64 {
	phase := 2 * math.Pi * float64(elapsed) / float64(dayLength*t.window)
	return perSec * (1 + 0.4*math.Sin(phase))
}

// message is an event or a label, with its key (the request id) and the
// event time it is due at.
type message struct {
	key   string
	value []byte
	at    time.Time
}

// tick returns the messages of the step of dt that ends at elapsed (event
// time at), in time order, and the labels due later, to be sent at their
// time. The step's events are spread over it rather than stamped with its
// end: on a loaded machine a late tick covers more than its tenth of a
// second, and stamping it all at once would move a window's events into the
// next and make its volume swing for no reason in the traffic.
func (t *traffic) tick(at time.Time, elapsed, dt time.Duration) (events, labels []message) {
	n := t.count(t.rate(fraudPerSec, elapsed), dt)
	for i := range n {
		back := spread(i, n, dt)
		e, l := t.fraud(at.Add(-back), elapsed-back)
		events, labels = append(events, e), append(labels, l)
	}
	if _, silent := t.active(SilentModel, elapsed); !silent {
		n := t.count(t.rate(etaPerSec, elapsed), dt)
		for i := range n {
			back := spread(i, n, dt)
			events = append(events, t.eta(at.Add(-back), elapsed-back))
		}
	}
	// The fraud events, and so their labels, come in time order; the eta
	// events go between them.
	slices.SortStableFunc(events, func(a, b message) int { return a.at.Compare(b.at) })
	return events, labels
}

// spread is how long before a step's end the i-th of its n events falls:
// evenly over the step, the first at its start.
func spread(i, n int, dt time.Duration) time.Duration {
	return time.Duration(float64(dt) * float64(n-i) / float64(n))
}

// count is a Poisson-like draw of the events of dt at rate per second.
func (t *traffic) count(rate float64, dt time.Duration) int {
	mean := rate * dt.Seconds()
	n := int(mean + math.Sqrt(mean)*t.r.NormFloat64() + 0.5)
	return max(n, 0)
}

// fraudRow is one payment: the fraud model's inputs.
type fraudRow struct {
	amount  float64
	age     int // 0 when unknown
	country string
	device  string
	isNew   bool
	risk    float64
}

// draw draws a payment as training traffic looks.
func drawPayment(r *rand.Rand, countries []string) fraudRow {
	p := fraudRow{
		amount: math.Exp(3.5 + 1.1*r.NormFloat64()),
		age:    18 + int(math.Abs(r.NormFloat64()*14+22)),
		device: pick(r, []string{"mobile", "desktop", "tablet"}, []float64{0.6, 0.3, 0.1}),
		isNew:  r.Float64() < 0.12,
	}
	p.country = pick(r, countries, []float64{0.30, 0.20, 0.20, 0.15, 0.10, 0.05})
	// Riskier merchants for new customers and big amounts: the correlation a
	// unit change breaks.
	p.risk = clamp(0.25+0.1*math.Log1p(p.amount/100)+0.1*b2f(p.isNew)+0.08*r.NormFloat64(), 0, 1)
	if r.Float64() < 0.01 {
		p.age = 0
	}
	return p
}

// score is the fraud model: calibrated on training traffic, so that labels
// drawn from it are what it predicts.
func (p fraudRow) score() float64 {
	z := -3.2 + 2.5*p.risk + 0.35*math.Log1p(p.amount/50) + 0.8*b2f(p.isNew)
	return 1 / (1 + math.Exp(-z))
}

func (t *traffic) fraud(at time.Time, elapsed time.Duration) (event, label message) {
	r := t.r
	p := drawPayment(r, t.countries)
	if _, ok := t.active(MeanShift, elapsed); ok {
		p.amount *= shiftFactor
	}
	if _, ok := t.active(NullBurst, elapsed); ok && r.Float64() < nullShare {
		p.age = 0
	}
	if _, ok := t.active(NewCategory, elapsed); ok && r.Float64() < floodShare {
		p.country = newMarket
	}
	prob := p.score()
	sentRisk := p.risk
	if _, ok := t.active(UnitChange, elapsed); ok {
		sentRisk *= riskScale
	}
	t.seq++
	id := "f-" + strconv.Itoa(t.seq)
	age := "null"
	if p.age > 0 {
		age = strconv.Itoa(p.age)
	}
	ev := fmt.Sprintf(`{"model":%q,"model_version":%q,"request_id":%q,"timestamp":%q,"features":{"amount":%.2f,"age":%s,"country":%q,"device":%q,"is_new":%t,"merchant_risk":%.4f},"prediction":%.4f,"latency_ms":%.1f}`,
		fraudModel, versionFraud, id, at.Format(time.RFC3339Nano), p.amount, age, p.country, p.device, p.isNew, sentRisk,
		prob, 8+r.ExpFloat64()*6)
	truth := r.Float64() < prob
	if in, ok := t.active(LabelDecline, elapsed); ok {
		// The share of labels that no longer follow the model grows through
		// the incident.
		if r.Float64() < 0.9*float64(elapsed-in.Start)/float64(in.End-in.Start) {
			truth = r.Float64() < 0.5
		}
	}
	due := at.Add(labelDelay)
	lb := fmt.Sprintf(`{"model":%q,"request_id":%q,"timestamp":%q,"label":%d}`, fraudModel, id, due.Format(time.RFC3339Nano), b2i(truth))
	return message{key: id, value: []byte(ev), at: at}, message{key: id, value: []byte(lb), at: due}
}

// etaRow is one delivery: the eta model's inputs.
type etaRow struct {
	distance float64
	items    int
	express  bool
}

func drawDelivery(r *rand.Rand) etaRow {
	return etaRow{distance: 0.5 + r.ExpFloat64()*4, items: 1 + r.IntN(8), express: r.Float64() < 0.2}
}

// minutes is the eta model.
func (d etaRow) minutes() float64 {
	return 12 + 3.1*d.distance + 0.8*float64(d.items) - 6*b2f(d.express)
}

func (t *traffic) eta(at time.Time, elapsed time.Duration) message {
	r := t.r
	d := drawDelivery(r)
	pred := fmt.Sprintf("%.2f", d.minutes()+r.NormFloat64())
	if _, ok := t.active(NaNStorm, elapsed); ok && r.Float64() < nanShare {
		pred = "NaN"
	}
	t.seq++
	id := "e-" + strconv.Itoa(t.seq)
	ev := fmt.Sprintf(`{"model":%q,"model_version":%q,"request_id":%q,"timestamp":%q,"features":{"distance_km":%.3f,"items":%d,"express":%t},"prediction":%s,"latency_ms":%.1f}`,
		etaModel, versionETA, id, at.Format(time.RFC3339Nano), d.distance, d.items, d.express, pred, 4+r.ExpFloat64()*3)
	return message{key: id, value: []byte(ev), at: at}
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

func clamp(x, lo, hi float64) float64 { return math.Min(math.Max(x, lo), hi) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func b2i(b bool) int { return int(b2f(b)) }

// produce sends the traffic to the broker, in steps of a tenth of a second of
// wall clock, with each label sent when its time comes.
func produce(ctx context.Context, brokers []string, t *traffic, start time.Time) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return fmt.Errorf("demo producer: %w", err)
	}
	defer cl.Close()
	const step = 100 * time.Millisecond
	tick := time.NewTicker(step)
	defer tick.Stop()
	var due []message // labels waiting for their time, in time order
	last := start
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tick.C:
			events, labels := t.tick(now, now.Sub(start), now.Sub(last))
			last = now
			due = append(due, labels...)
			var records []*kgo.Record
			for _, e := range events {
				records = append(records, &kgo.Record{Topic: "events", Key: []byte(e.key), Value: e.value})
			}
			n := 0
			for n < len(due) && !due[n].at.After(now) {
				records = append(records, &kgo.Record{Topic: "labels", Key: []byte(due[n].key), Value: due[n].value})
				n++
			}
			due = due[n:]
			if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil && ctx.Err() == nil {
				return fmt.Errorf("demo producer: %w", err)
			}
		}
	}
}
