package pipeline

import (
	"time"

	"github.com/sentinel-ml/sentinel/internal/ingest"
)

// partition is what a model's watermark knows of one partition. Partitions
// are read concurrently and one may lag another, so the watermark follows the
// slowest partition still delivering, minus the allowed lateness.
type partition struct {
	maxEvent time.Time // latest event time
	lastWall time.Time // when it last delivered an event of the model
}

// advance records an event of the model at eventTime from tp, seen at now.
func (ms *modelState) advance(tp ingest.TopicPartition, eventTime, now time.Time) {
	part := ms.lastPart
	if part == nil || tp != ms.lastPartTP {
		if part = ms.parts[tp]; part == nil {
			part = &partition{}
			ms.parts[tp] = part
		}
		ms.lastPartTP, ms.lastPart = tp, part
	}
	part.lastWall = now
	if eventTime.After(part.maxEvent) {
		part.maxEvent = eventTime
		if eventTime.After(ms.latest) {
			ms.latest = eventTime
		}
	}
}

// watermark is the event time up to which the model's windows are complete: the
// slowest active partition's latest event time minus the allowed lateness. A
// partition that has delivered nothing for the model for a window and the
// lateness is idle and no longer holds the watermark back. During the startup
// grace nothing is complete yet.
func (p *Pipeline) watermark(ms *modelState, now time.Time) time.Time {
	if now.Sub(p.started) < p.opts.StartupGrace {
		return time.Time{}
	}
	idle := p.opts.Window + p.opts.Lateness
	var w, latest time.Time
	for _, part := range ms.parts {
		if part.maxEvent.After(latest) {
			latest = part.maxEvent
		}
		if now.Sub(part.lastWall) > idle {
			continue
		}
		if w.IsZero() || part.maxEvent.Before(w) {
			w = part.maxEvent
		}
	}
	if w.IsZero() {
		w = latest
	}
	return w.Add(-p.opts.Lateness)
}
