package demo

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/sentinel-ml/sentinel/internal/alerts"
)

// watch prints alerts as they fire and resolve, until ctx ends, and returns
// every alert that fired.
func watch(ctx context.Context, out io.Writer, ev *alerts.Evaluator, start time.Time) []Fired {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	firing := map[string]alerts.Posted{}
	var fired []Fired
	for {
		select {
		case <-ctx.Done():
			return fired
		case now := <-tick.C:
			_, active := ev.Active(now)
			seen := map[string]bool{}
			for _, a := range active {
				key := alertKey(a)
				seen[key] = true
				if _, ok := firing[key]; ok {
					continue
				}
				firing[key] = a
				f := Fired{Name: a.Labels["alertname"], Model: a.Labels["model"], Feature: a.Labels["feature"],
					Summary: a.Annotations["summary"], At: now.Sub(start)}
				fired = append(fired, f)
				fmt.Fprintf(out, "%7s  FIRING    %-30s %s\n", clock(f.At), f.Name, f.Summary)
				// An anomaly's summary gives its score; what it blames is in
				// the description.
				if _, causes, ok := strings.Cut(a.Annotations["description"], "Top causes "); ok {
					fmt.Fprintf(out, "%7s            %-30s top causes %s\n", "", "", causes)
				}
			}
			for key, a := range firing {
				if !seen[key] {
					delete(firing, key)
					fmt.Fprintf(out, "%7s  resolved  %-30s %s\n", clock(now.Sub(start)), a.Labels["alertname"], labelsText(a.Labels))
				}
			}
		}
	}
}

func alertKey(a alerts.Posted) string {
	keys := make([]string, 0, len(a.Labels))
	for k, v := range a.Labels {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func labelsText(l map[string]string) string {
	s := "model " + l["model"]
	if f := l["feature"]; f != "" {
		s += ", feature " + f
	}
	return s
}

// clock formats a time since the start as m:ss.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func printSchedule(opts Options, where string, incidents []Incident) {
	w := opts.Out
	fmt.Fprintf(w, "Sentinel demo: two models (fraud: a probability with delayed labels; eta: a regression),\n")
	fmt.Fprintf(w, "windows of %s (a minute at speed %v), a day of traffic every %s.\n", opts.window(), opts.Speed, dayLength*opts.window())
	fmt.Fprintf(w, "Results are stored in %s.\n\nSchedule:\n", where)
	fmt.Fprintf(w, "  %7s–%-7s  %s\n", clock(0), clock(opts.warmup()), warmupQuietly)
	for _, in := range incidents {
		target := in.Model
		if in.Feature != "" {
			target += "." + in.Feature
		}
		fmt.Fprintf(w, "  %7s–%-7s  %-13s %-20s %s\n", clock(in.Start), clock(in.End), in.Kind, target, in.What)
	}
	fmt.Fprintln(w)
}
