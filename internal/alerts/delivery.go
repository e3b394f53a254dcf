package alerts

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/sentinel-ml/sentinel/internal/store"
)

// posted is an instance as Alertmanager gets it. A firing alert is valid
// for four re-send intervals from the wall clock, so that Alertmanager
// resolves it by itself if Sentinel goes away; a resolved one ends at the
// observation that resolved it.
func (e *Evaluator) posted(now time.Time, in *instance, resolved bool) Posted {
	labels := make(map[string]string, len(in.labels)+len(e.opts.ExternalLabels)+1)
	maps.Copy(labels, e.opts.ExternalLabels)
	maps.Copy(labels, in.labels)
	labels["severity"] = string(in.severity)
	end := e.opts.Now().Add(4 * e.opts.ResendInterval)
	if resolved {
		end = now
	}
	return Posted{Labels: labels, StartsAt: in.startsAt, EndsAt: end, GeneratorURL: e.opts.GeneratorURL,
		Annotations: map[string]string{
			"summary":     in.alert.text(in.alert.Summary, &in.r),
			"description": in.alert.text(in.alert.Description, &in.r),
			"runbook_url": e.opts.RunbookURL + "#" + in.alert.Runbook,
		}}
}

func (e *Evaluator) send(now time.Time, in *instance, resolved bool) {
	if len(e.clients) == 0 {
		return
	}
	p := e.posted(now, in, resolved)
	for _, c := range e.clients {
		c.enqueue(in.fp, p)
	}
	in.lastSent = e.opts.Now()
}

func (e *Evaluator) record(now time.Time, in *instance, state string) {
	if e.opts.History == nil {
		return
	}
	rec := store.AlertRecord{Model: in.model, Alert: in.alert.Name, Fingerprint: in.fp, At: now, State: state,
		Severity: string(in.severity), Labels: in.labels, Value: in.r.value, StartsAt: in.startsAt}
	if state == "resolved" || state == "inactive" {
		rec.EndsAt = now
	}
	if state == "firing" || state == "resolved" {
		rec.Summary = in.alert.text(in.alert.Summary, &in.r)
		rec.Description = in.alert.text(in.alert.Description, &in.r)
	}
	if len(e.history) == maxHistory {
		e.history = e.history[1:]
		e.lost.Inc()
	}
	e.history = append(e.history, rec)
}

// Active returns the alerts pending or firing, as Alertmanager would get
// them, for tests and status pages.
func (e *Evaluator) Active(now time.Time) (pending, firing []Posted) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, fp := range slices.Sorted(maps.Keys(e.active)) {
		in := e.active[fp]
		if in.firing {
			firing = append(firing, e.posted(now, in, false))
		} else {
			pending = append(pending, e.posted(now, in, false))
		}
	}
	return pending, firing
}

// Run delivers alerts to Alertmanager, re-sends firing ones and writes the
// history, until ctx ends; then it makes one last attempt at the history,
// bounded by a few seconds. Each runs on its own goroutine, so that neither
// an Alertmanager nor a ClickHouse outage holds up the other.
func (e *Evaluator) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, c := range e.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		resend := time.NewTicker(max(min(e.opts.ResendInterval/4, time.Second), 10*time.Millisecond))
		defer resend.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-resend.C:
				e.resend(e.opts.Now())
			}
		}
	}()
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			last, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return e.writeHistory(last)
		case <-e.flush:
		case <-retry.C:
		}
		if err := e.writeHistory(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("alerts: writing history", "err", err)
		}
	}
}

func (e *Evaluator) resend(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, in := range e.active {
		if in.firing && now.Sub(in.lastSent) >= e.opts.ResendInterval {
			e.send(now, in, false)
		}
	}
}

// writeHistory writes the state changes waiting; the store retries until
// ctx ends. Changes recorded meanwhile wait for the next flush.
func (e *Evaluator) writeHistory(ctx context.Context) error {
	if e.opts.History == nil {
		return nil
	}
	e.mu.Lock()
	batch := e.history
	e.history = nil
	e.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := e.opts.History.WriteAlerts(ctx, batch); err != nil {
		e.mu.Lock()
		e.history = append(batch, e.history...)
		if over := len(e.history) - maxHistory; over > 0 {
			e.history = e.history[over:]
			e.lost.Add(float64(over))
		}
		e.mu.Unlock()
		return fmt.Errorf("alerts: writing %d state changes: %w", len(batch), err)
	}
	return nil
}
