// Package traffic simulates a model's serving traffic event by event, for
// measuring what Sentinel finds in it: a training table, and the events
// (with delayed labels) a model's topic would carry, in the daemon's
// envelope. Traffic follows a daily curve, so that a window's events vary
// several-fold; twenty features of every shape (skewed, heavy-tailed,
// bounded, discrete, zero-inflated, bimodal; categorical with rare
// categories; boolean; some nullable) feed a probability prediction; and
// incidents strike at the event level on a schedule: a feature's values
// move, go missing or take a new category, predictions turn NaN, traffic
// drops. Everything is drawn from fixed seeds, so a stream is the same every
// time.
package traffic

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// Model is the simulated model's name, and Version its version.
const (
	Model   = "sim"
	Version = "2026-11-01"
)

// Config shapes a stream of serving traffic.
type Config struct {
	Seed     uint64
	Start    time.Time
	Duration time.Duration
	// Window is the unit EventsPerWindow is quoted in: the average events
	// of a window of this size over a day.
	Window          time.Duration
	EventsPerWindow float64
	// Swing is the ratio of the daily curve's peak to its trough; zero is 4.
	Swing float64
	// Wander is the standard deviation of the traffic level's slow random
	// wander around the daily curve (on a log scale, with a time constant
	// of an hour), beyond the Poisson noise of counts; zero is 0.05, and a
	// negative value none.
	Wander float64
	// LabelShare is the share of requests whose label (drawn from the
	// prediction, so that the model is calibrated) arrives LabelDelay later.
	LabelShare float64
	LabelDelay time.Duration
	Incidents  []Incident
}

// Validate reports what is wrong with c.
func (c *Config) Validate() error {
	var errs []error
	if c.Duration <= 0 || c.Window <= 0 {
		errs = append(errs, fmt.Errorf("duration %s and window %s must be positive", c.Duration, c.Window))
	}
	if !(c.EventsPerWindow > 0) {
		errs = append(errs, fmt.Errorf("events per window %v is not positive", c.EventsPerWindow))
	}
	if c.Swing < 0 || (c.Swing > 0 && c.Swing < 1) {
		errs = append(errs, fmt.Errorf("swing %v is below 1", c.Swing))
	}
	if c.LabelShare < 0 || c.LabelShare > 1 || c.LabelDelay < 0 {
		errs = append(errs, fmt.Errorf("label share %v must be in [0, 1], delay %s not negative", c.LabelShare, c.LabelDelay))
	}
	for _, in := range c.Incidents {
		if err := in.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newRand returns the random stream of one purpose of a seed. Streams are
// ChaCha8 keyed by a hash of both: PCG streams seeded (seed, 0xc0) and (seed,
// 0xfe) are one LCG's states a few steps apart, and drawing a window's event
// count from one and its values from the other made the share of a boolean
// feature stray past its 0.01% binomial quantile in 5 windows of 14,400
// where 1.4 were due.
func newRand(seed uint64, purpose string) *rand.Rand {
	h := sha256.Sum256(fmt.Appendf(nil, "%d/%s", seed, purpose))
	return rand.New(rand.NewChaCha8(h))
}

// row is one request's inputs and outputs.
type row struct {
	z          []float64 // latent normal of each numeric feature
	nums       []float64
	cats       []string
	bools      []bool
	null       []bool
	prediction float64
	latency    float64
}

func newRow() *row {
	n := len(features)
	return &row{z: make([]float64, n), nums: make([]float64, n), cats: make([]string, n), bools: make([]bool, n), null: make([]bool, n)}
}

// draw fills r with a request as healthy traffic looks, then lets the active
// incidents change it.
func draw(rng *rand.Rand, r *row, active []*Incident, at time.Time) {
	for i := range features {
		f := &features[i]
		r.null[i] = f.nullable > 0 && rng.Float64() < f.nullable
		switch f.typ {
		case numeric:
			r.z[i] = rng.NormFloat64()
		case categorical:
			r.cats[i] = pick(rng, f.values, f.weights)
		case boolean:
			r.bools[i] = rng.Float64() < f.pTrue
		}
	}
	for _, in := range active {
		in.apply(rng, r, at)
	}
	for i := range features {
		if features[i].typ == numeric {
			r.nums[i] = features[i].value(r.z[i])
		}
	}
	// The model: a logistic score of a few inputs, so that predictions move
	// with them.
	z := -2.2 + 0.5*r.z[iAmount] - 0.3*r.z[iAge] + 0.2*r.z[iSession] + 0.6*b2f(r.bools[iIsNew]) +
		0.3*b2f(r.cats[iDevice] == "mobile") + 0.4*rng.NormFloat64()
	r.prediction = 1 / (1 + math.Exp(-z))
	for _, in := range active {
		if in.Kind == NaNPredictions && rng.Float64() < in.Size {
			r.prediction = math.NaN()
		}
	}
	r.latency = math.Exp(2.5 + 0.4*rng.NormFloat64())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// appendValue writes feature i of r as JSON (csv: as a CSV cell, where null is
// empty).
func appendValue(dst []byte, r *row, i int, csv bool) []byte {
	f := &features[i]
	if r.null[i] {
		if csv {
			return dst
		}
		return append(dst, "null"...)
	}
	switch f.typ {
	case numeric:
		if f.digits < 0 {
			return strconv.AppendInt(dst, int64(r.nums[i]), 10)
		}
		return strconv.AppendFloat(dst, r.nums[i], 'g', f.digits, 64)
	case categorical:
		if csv {
			return append(dst, r.cats[i]...)
		}
		return strconv.AppendQuote(dst, r.cats[i])
	}
	return strconv.AppendBool(dst, r.bools[i])
}

// TrainingCSV writes rows of healthy traffic as a training table with a
// header row, as `sentinel contract infer` and `sentinel baseline` read it.
func TrainingCSV(w io.Writer, rows int, seed uint64) error {
	rng := newRand(seed, "training")
	buf := make([]byte, 0, 512)
	for i, f := range features {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, f.name...)
	}
	buf = append(buf, '\n')
	r := newRow()
	for range rows {
		draw(rng, r, nil, time.Time{})
		for i := range features {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendValue(buf, r, i, true)
		}
		buf = append(buf, '\n')
		if len(buf) > 64<<10 {
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("writing training rows: %w", err)
			}
			buf = buf[:0]
		}
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("writing training rows: %w", err)
	}
	return nil
}

// Stream draws serving traffic line by line: event envelopes and, for a share
// of them, label events when they are due. Lines come in event-time order but
// for less than a second of disorder, as from producers that interleave.
type Stream struct {
	cfg     Config
	counts  *rand.Rand // arrivals: unchanged by incidents other than traffic drops
	values  *rand.Rand
	poisson distuv.Poisson
	// norm scales the daily curve so that it averages EventsPerWindow;
	// level is the log-rate's wander.
	norm, amp, level float64
	at               time.Time // start of the next step
	end              time.Time
	step             time.Duration
	seq              int
	row              *row
	active           []*Incident
	pending          []line // this step's events, then due labels
	labels           []line // labels not yet due, in due order
	stats            Stats
}

// Stats counts what a stream has written.
type Stats struct {
	Events, Labels int
}

type line struct {
	at   time.Time
	text []byte
}

// NewStream starts a stream.
func NewStream(cfg Config) (*Stream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("traffic: %w", err)
	}
	if cfg.Swing == 0 {
		cfg.Swing = 4
	}
	if cfg.Wander == 0 {
		cfg.Wander = 0.05
	}
	s := &Stream{cfg: cfg, counts: newRand(cfg.Seed, "counts"), values: newRand(cfg.Seed, "values"),
		at: cfg.Start, end: cfg.Start.Add(cfg.Duration), row: newRow()}
	s.poisson.Src = s.counts
	// A second, or less when windows are short, so that a step never
	// straddles much of a window.
	s.step = min(time.Second, cfg.Window/60)
	s.amp = math.Log(cfg.Swing) / 2
	const points = 1440
	mean := 0.0
	for i := range points {
		mean += math.Exp(s.amp * math.Cos(2*math.Pi*float64(i)/points))
	}
	s.norm = cfg.EventsPerWindow / (mean / points) / cfg.Window.Seconds()
	return s, nil
}

// peakHour is the hour of the day (UTC) at which traffic peaks.
const peakHour = 15

// rate is events per second at t, before incidents: the daily curve around
// its peak, times the wander.
func (s *Stream) rate(t time.Time) float64 {
	day := float64(t.Sub(t.Truncate(24*time.Hour))) / float64(24*time.Hour)
	return s.norm * math.Exp(s.amp*math.Cos(2*math.Pi*(day-peakHour/24.0))+s.level)
}

// Stats reports what the stream has written so far.
func (s *Stream) Stats() Stats { return s.stats }

// Next returns the next line, without its newline, valid until the next
// call; io.EOF after the last.
func (s *Stream) Next() ([]byte, error) {
	for len(s.pending) == 0 {
		if !s.at.Before(s.end) {
			if len(s.labels) == 0 {
				return nil, io.EOF
			}
			// Labels still due after the end are dropped: a recording ends.
			s.labels = s.labels[:0]
			return nil, io.EOF
		}
		s.fill()
	}
	l := s.pending[0]
	s.pending = s.pending[1:]
	return l.text, nil
}

// fill draws one step of traffic into pending, preceded by the labels due
// by its start.
func (s *Stream) fill() {
	at := s.at
	s.at = at.Add(s.step)
	s.pending = s.pending[:0]
	for len(s.labels) > 0 && !s.labels[0].at.After(at) {
		s.pending = append(s.pending, s.labels[0])
		s.labels = s.labels[1:]
		s.stats.Labels++
	}
	s.active = s.active[:0]
	factor := 1.0
	for i := range s.cfg.Incidents {
		in := &s.cfg.Incidents[i]
		if in.Active(at) {
			s.active = append(s.active, in)
			if in.Kind == TrafficDrop {
				factor *= in.Size
			}
		}
	}
	// Ornstein-Uhlenbeck wander of the log-rate with a time constant of an
	// hour.
	if s.cfg.Wander > 0 {
		decay := math.Exp(-s.step.Seconds() / 3600)
		s.level = s.level*decay + s.cfg.Wander*math.Sqrt(1-decay*decay)*s.counts.NormFloat64()
	}
	s.poisson.Lambda = s.rate(at) * factor * s.step.Seconds()
	n := 0
	if s.poisson.Lambda > 0 {
		n = int(s.poisson.Rand())
	}
	for range n {
		t := at.Add(time.Duration(s.counts.Int64N(int64(s.step))))
		s.pending = append(s.pending, s.event(t))
	}
}

// event draws one request at t, and its label when it has one.
func (s *Stream) event(t time.Time) line {
	draw(s.values, s.row, s.active, t)
	r := s.row
	s.seq++
	s.stats.Events++
	id := strconv.Itoa(s.seq)
	b := make([]byte, 0, 640)
	b = append(b, `{"model":"`+Model+`","model_version":"`+Version+`","request_id":"r-`...)
	b = append(b, id...)
	b = append(b, `","timestamp":"`...)
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, `","features":{`...)
	for i, f := range features {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, f.name)
		b = append(b, ':')
		b = appendValue(b, r, i, false)
	}
	b = append(b, `},"prediction":`...)
	if math.IsNaN(r.prediction) {
		b = append(b, "NaN"...)
	} else {
		b = strconv.AppendFloat(b, r.prediction, 'f', 4, 64)
	}
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendFloat(b, r.latency, 'f', 1, 64)
	b = append(b, '}')
	if s.cfg.LabelShare > 0 && s.values.Float64() < s.cfg.LabelShare {
		label := 0
		if p := r.prediction; !math.IsNaN(p) && s.values.Float64() < p {
			label = 1
		}
		due := t.Add(s.cfg.LabelDelay)
		lb := make([]byte, 0, 96)
		lb = append(lb, `{"model":"`+Model+`","request_id":"r-`...)
		lb = append(lb, id...)
		lb = append(lb, `","timestamp":"`...)
		lb = due.UTC().AppendFormat(lb, "2006-01-02T15:04:05.000Z07:00")
		lb = append(lb, `","label":`...)
		lb = strconv.AppendInt(lb, int64(label), 10)
		lb = append(lb, '}')
		s.labels = append(s.labels, line{at: due, text: lb})
	}
	return line{at: t, text: b}
}

// WriteTo writes the whole stream, a line each, to w.
func (s *Stream) WriteTo(w io.Writer) (int64, error) {
	var n int64
	buf := make([]byte, 0, 64<<10)
	for {
		l, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		buf = append(append(buf, l...), '\n')
		if len(buf) > 60<<10 {
			m, err := w.Write(buf)
			n += int64(m)
			if err != nil {
				return n, fmt.Errorf("writing traffic: %w", err)
			}
			buf = buf[:0]
		}
	}
	m, err := w.Write(buf)
	n += int64(m)
	if err != nil {
		return n, fmt.Errorf("writing traffic: %w", err)
	}
	return n, nil
}
