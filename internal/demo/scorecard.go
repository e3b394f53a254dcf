package demo

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// Scorecard is what a demonstration found.
type Scorecard struct {
	Store     string
	Incidents []Scored
	// FalseAlarms are alerts that fired outside every incident.
	FalseAlarms []Fired
}

// Scored is an incident and the alerts that caught it.
type Scored struct {
	Incident
	// Judged is false for an incident the demonstration ended (Ctrl-C)
	// before it did.
	Judged   bool
	Detected bool
	// Delay is from the incident's start to its first alert.
	Delay  time.Duration
	Alerts []string
}

// Fired is an alert that fired during the demonstration.
type Fired struct {
	Name, Model, Feature, Summary string
	At                            time.Duration // since the start
}

// graceWindows is how long after an incident ends an alert still counts as
// its detection or its echo: alerts wait out their `for`, a window closes
// after the lateness, and drift against the reference period sees the
// incident's windows until the reference has moved past them.
const graceWindows = 12

// driftGraceWindows is graceWindows for the alerts that compare a window with
// the previous reference period. Periods are aligned to the clock, not to the
// incident: the period that holds an incident's last window is the reference
// of every window of the period after it, up to two periods past the end.
const driftGraceWindows = graceWindows + referenceWindows

// score matches the alerts that fired with the incidents: an alert catches an
// incident of its model when it fires during it (or within the grace after)
// and names the incident's feature, the model as a whole, its prediction, or
// is the anomaly detector's; any other alert is a false alarm.
func score(incidents []Incident, fired []Fired, window, ran time.Duration, where string) *Scorecard {
	card := &Scorecard{Store: where}
	caught := make([]bool, len(fired))
	for _, in := range incidents {
		s := Scored{Incident: in, Judged: ran >= in.End}
		for i, f := range fired {
			if !matches(in, f, window) {
				continue
			}
			caught[i] = true
			if !s.Detected || f.At-in.Start < s.Delay {
				s.Delay = max(f.At-in.Start, 0)
			}
			s.Detected = true
			if !slices.Contains(s.Alerts, f.Name) {
				s.Alerts = append(s.Alerts, f.Name)
			}
		}
		card.Incidents = append(card.Incidents, s)
	}
	for i, f := range fired {
		if !caught[i] {
			card.FalseAlarms = append(card.FalseAlarms, f)
		}
	}
	return card
}

func matches(in Incident, f Fired, window time.Duration) bool {
	grace := graceWindows
	if f.Name == "SentinelFeatureDrift" || f.Name == "SentinelPredictionDrift" {
		grace = driftGraceWindows
	}
	if f.Model != in.Model || f.At < in.Start || f.At > in.End+time.Duration(grace)*window {
		return false
	}
	switch {
	case strings.HasPrefix(f.Name, "SentinelAnomaly"), f.Name == "SentinelModelQualityDrop", f.Name == "SentinelModelErrorRise":
		return true
	case f.Feature == "" || f.Feature == check.PredictionFeature:
		return in.Feature == "" || in.Feature == check.PredictionFeature || in.Kind == SilentModel
	}
	return f.Feature == in.Feature
}

// Missed lists the kinds of the incidents no alert caught.
func (c *Scorecard) Missed() []string {
	var out []string
	for _, s := range c.Incidents {
		if s.Judged && !s.Detected {
			out = append(out, s.Kind)
		}
	}
	return out
}

func (c *Scorecard) print(w io.Writer) {
	fmt.Fprintf(w, "\nScorecard (results stored in %s):\n", c.Store)
	fmt.Fprintf(w, "  %-14s %-22s %-9s %-7s %s\n", "incident", "where", "detected", "delay", "alerts")
	for _, s := range c.Incidents {
		target := s.Model
		if s.Feature != "" {
			target += "." + s.Feature
		}
		detected, delay := "no", "–"
		switch {
		case s.Detected:
			detected, delay = "yes", s.Delay.Round(100*time.Millisecond).String()
		case !s.Judged:
			detected = "–"
		}
		fmt.Fprintf(w, "  %-14s %-22s %-9s %-7s %s\n", s.Kind, target, detected, delay, strings.Join(s.Alerts, ", "))
	}
	for _, s := range c.Incidents {
		if !s.Judged && !s.Detected {
			fmt.Fprintf(w, "  (–: the demonstration ended before the incident did)\n")
			break
		}
	}
	fmt.Fprintf(w, "  false alarms: %d\n", len(c.FalseAlarms))
	for _, f := range c.FalseAlarms {
		fmt.Fprintf(w, "    %7s  %s (model %s %s): %s\n", clock(f.At), f.Name, f.Model, f.Feature, f.Summary)
	}
}
