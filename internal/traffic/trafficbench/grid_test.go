package trafficbench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/traffic"
)

// warmup is the clean traffic before a run's first incident: two days, after
// which the detector forecasts each metric's daily cycle (Holt-Winters needs
// two seasons), as it does from then on.
const warmup = 48 * time.Hour

var (
	grid      = flag.Bool("grid", false, "run the measurement grid (make healthy) instead of skipping it")
	gridDays  = flag.Int("grid.days", 3, "days of traffic in each run of the grid")
	gridBig   = flag.Int("grid.bigdays", 0, "days of traffic in the run of 10,000 events a 1-minute window (0: grid.days)")
	gridSeeds = flag.Int("grid.seeds", 10, "seeds of the incident runs")
	gridOnly  = flag.String("grid.only", "", "healthy or incidents: run only that part of the grid")
)

// TestGrid is issue #15's and #16's measurement, run by `make healthy`: healthy
// traffic through replay in 1- and 5-minute windows of 100, 1,000 and 10,000
// events on average (the daily curve takes a window from under half that to
// about twice), over three days each (grid.bigdays for 10,000 a minute); then every kind of incident at the event
// level, on grid.seeds seeds, in 5-minute windows of 100 and 1,000 events
// and 1-minute windows of 1,000, each seed after two days of clean traffic. It
// prints markdown tables; it asserts nothing, the goals being for people to
// read against the figures (TestHealthyReplay and TestIncidentsFound hold
// two and three days of 5-minute windows of 200 events to them in `make
// test`).
func TestGrid(t *testing.T) {
	if !*grid {
		t.Skip("the measurement grid runs with -grid (make healthy)")
	}
	ctx := context.Background()
	days := time.Duration(*gridDays) * 24 * time.Hour
	if *gridOnly != "incidents" {
		var runs []*Outcome
		for _, window := range []time.Duration{time.Minute, 5 * time.Minute} {
			for _, n := range []float64{100, 1000, 10_000} {
				began := time.Now()
				d := days
				if window == time.Minute && n == 10_000 && *gridBig > 0 {
					d = time.Duration(*gridBig) * 24 * time.Hour
				}
				o, err := Run(ctx, t.TempDir(), Setup{Seed: 1, Window: window, EventsPerWindow: n, Duration: d})
				if err != nil {
					t.Fatal(err)
				}
				s := o.Healthy()
				fmt.Fprintf(os.Stderr, "healthy %s × %g, %s: %d events in %s; pairs %.2f%%, flagged %.2f%%, alerts %v\n", window, n, d,
					o.Stats.Events, time.Since(began).Round(time.Second), 100*s.PairShare(), 100*s.FlaggedShare(), s.Alerts)
				runs = append(runs, o)
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "\nHealthy traffic, %d days a run, seed 1:\n\n", *gridDays)
		WriteHealthyTable(&b, runs)
		fmt.Print(b.String())
	}
	if *gridOnly == "healthy" {
		return
	}
	for _, c := range []struct {
		window time.Duration
		n      float64
	}{{5 * time.Minute, 100}, {5 * time.Minute, 1000}, {time.Minute, 1000}} {
		var runs []*Outcome
		for seed := uint64(1); seed <= uint64(*gridSeeds); seed++ {
			incidents, end := traffic.Schedule(seed, Start.Add(warmup), c.window, c.n, traffic.DefaultSizes(), 24)
			o, err := Run(ctx, t.TempDir(), Setup{Seed: seed, Window: c.window, EventsPerWindow: c.n, Duration: end.Sub(Start), Incidents: incidents})
			if err != nil {
				t.Fatal(err)
			}
			runs = append(runs, o)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "\nIncidents in %s windows of %g events, %d seeds, after %s of clean traffic:\n\n", c.window, c.n, *gridSeeds, warmup)
		WriteRecallTable(&b, Recall(runs))
		for _, r := range Recall(runs) {
			for _, m := range r.Missed {
				fmt.Fprintf(&b, "\nmissed: %s", m)
			}
		}
		b.WriteString("\n\nClean windows of the same runs:\n\n")
		WriteHealthyTable(&b, runs)
		fmt.Print(b.String())
	}
}
