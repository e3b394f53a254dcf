package trafficbench

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/sentinel-ml/sentinel/internal/traffic"
)

// WriteHealthyTable writes a markdown table of healthy runs, one row each,
// with what was flagged.
func WriteHealthyTable(w io.Writer, runs []*Outcome) {
	fmt.Fprintln(w, "| window | days | events a window (mean; min–max) | windows | (feature, window) pairs with findings | windows scored | flagged by the anomaly detector | alerts fired | found |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---|")
	for _, o := range runs {
		s := o.Healthy()
		found := s.FoundText()
		if found == "" {
			found = "nothing"
		}
		fmt.Fprintf(w, "| %s | %.3g | %g; %.0f–%.0f | %d | %d of %d (%.2f%%) | %d | %d (%.2f%%) | %d | %s |\n",
			o.Setup.Window, o.Setup.Duration.Hours()/24, o.Setup.EventsPerWindow, s.MinEvents, s.MaxEvents, s.Windows, s.PairsFound, s.Pairs,
			100*s.PairShare(), s.Scored, s.Flagged, 100*s.FlaggedShare(), len(s.Alerts), found)
	}
}

// KindRecall is the detections of one kind of incident.
type KindRecall struct {
	Kind        traffic.Kind
	Found, Of   int
	Delays      []int
	MedianDelay float64
	// Alerted counts the incidents during which an alert fired.
	Alerted int
	Missed  []string
	FoundBy map[string]int
}

// Recall sums up the detections of runs by kind.
func Recall(runs []*Outcome) []KindRecall {
	by := map[traffic.Kind]*KindRecall{}
	for _, o := range runs {
		for _, d := range o.Detections() {
			k := by[d.Incident.Kind]
			if k == nil {
				k = &KindRecall{Kind: d.Incident.Kind, FoundBy: map[string]int{}}
				by[d.Incident.Kind] = k
			}
			k.Of++
			if len(d.Alerted) > 0 {
				k.Alerted++
			}
			if !d.Found {
				k.Missed = append(k.Missed, fmt.Sprintf("seed %d: %s", o.Setup.Seed, d.Incident.String()))
				continue
			}
			k.Found++
			k.Delays = append(k.Delays, d.Delay)
			k.FoundBy[byKind(d.By)]++
		}
	}
	var out []KindRecall
	for _, kind := range traffic.Kinds() {
		if k := by[kind]; k != nil {
			k.MedianDelay = median(k.Delays)
			out = append(out, *k)
		}
	}
	return out
}

// byKind shortens what found an incident to its check: "skew amount.psi" is
// "skew psi", "anomaly: amount.mean" is "anomaly".
func byKind(by string) string {
	if strings.HasPrefix(by, "anomaly") {
		return "anomaly"
	}
	kind, rest, _ := strings.Cut(by, " ")
	_, metric, _ := strings.Cut(rest, ".")
	return kind + " " + metric
}

func median(x []int) float64 {
	if len(x) == 0 {
		return -1
	}
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return float64(s[n/2])
	}
	return float64(s[n/2-1]+s[n/2]) / 2
}

// WriteRecallTable writes a markdown table of recall by kind of incident.
func WriteRecallTable(w io.Writer, rs []KindRecall) {
	fmt.Fprintln(w, "| incident | found | recall | median delay (windows) | delays | an alert fired | found first by |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---:|---|")
	for _, r := range rs {
		by := make([]string, 0, len(r.FoundBy))
		for k, n := range r.FoundBy {
			by = append(by, fmt.Sprintf("%s ×%d", k, n))
		}
		slices.Sort(by)
		delay := "–"
		if r.MedianDelay >= 0 {
			delay = fmt.Sprintf("%g", r.MedianDelay)
		}
		fmt.Fprintf(w, "| %s | %d/%d | %.2f | %s | %v | %d/%d | %s |\n", r.Kind, r.Found, r.Of, float64(r.Found)/float64(r.Of),
			delay, r.Delays, r.Alerted, r.Of, strings.Join(by, ", "))
	}
}
