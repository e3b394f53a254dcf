package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/ingest"
)

// ProcessAt is Process at a wall-clock time the caller read (Options.Now): a
// consumer handling a run of messages already fetched reads the clock once for
// the run, which is the time they are seen at to well within a second.
func (p *Pipeline) ProcessAt(ctx context.Context, msg ingest.Message, now time.Time) error {
	p.stats.Messages++
	tp := msg.TopicPartition()
	p.offsets.see(tp, msg.Offset)
	ms, now, err := p.admit(ctx, msg, now)
	if ms == nil || err != nil {
		return err
	}
	ev := &p.ev
	name := ms.m.Name()
	start := ev.Timestamp.Truncate(p.opts.Window)
	end := start.Add(p.opts.Window)
	if !end.After(ms.closedUpTo) {
		if !end.After(ms.written) {
			// Written before a restart: this event was counted then.
			p.skip(name)
		} else {
			p.stats.Late++
			p.metrics.late.WithLabelValues(name).Inc()
		}
		return nil
	}
	w := ms.open[start.UnixNano()]
	if w == nil {
		if w, err = newOpenWindow(ms.m, start, p.opts.Window); err != nil {
			return fmt.Errorf("opening window: %w", err)
		}
		ms.addOpen(w)
	}
	if last, ok := w.counted[tp]; ok && msg.Offset <= last {
		// Counted in the window's stored profiles before the restart.
		p.skip(name)
		return nil
	}
	w.hold(tp, msg.Offset)
	if p.route(ms, w, msg.Topic) {
		return nil
	}
	ms.advance(tp, ev.Timestamp, now)
	// The watermark is never later than the latest event less the lateness:
	// until that passes the first open window's end, nothing can close, and
	// the walk over the partitions is spared.
	if len(ms.open) == 0 || ms.latest.Add(-p.opts.Lateness).Before(ms.firstEnd) {
		return nil
	}
	return p.closeUpTo(ctx, ms, p.watermark(ms, now))
}

// admit decodes and validates a message and returns its model, or nil when
// the message was rejected (and dead-lettered), and the time it is seen at.
func (p *Pipeline) admit(ctx context.Context, msg ingest.Message, now time.Time) (*modelState, time.Time, error) {
	if len(msg.Value) > p.opts.MaxMessageBytes {
		return nil, now, p.reject(ctx, msg, unknownModel, ReasonOversized, fmt.Sprintf("message of %d bytes exceeds the limit of %d", len(msg.Value), p.opts.MaxMessageBytes))
	}
	if err := p.dec.Decode(msg.Value, &p.ev); err != nil {
		return nil, now, p.reject(ctx, msg, unknownModel, string(event.ReasonOf(err)), err.Error())
	}
	ev := &p.ev
	if len(ev.Model) == 0 {
		return nil, now, p.reject(ctx, msg, unknownModel, ReasonMissingModel, "event has no model")
	}
	ms, ok := p.models[string(ev.Model)]
	if !ok {
		return nil, now, p.reject(ctx, msg, unknownModel, ReasonUnknownModel, fmt.Sprintf("model %q is not monitored", truncate(ev.Model)))
	}
	name := ms.m.Name()
	if !ev.HasTimestamp {
		return nil, now, p.reject(ctx, msg, name, ReasonMissingTimestamp, "event has no timestamp")
	}
	if p.opts.EventTime {
		var err error
		if now, err = p.advanceEventClock(ctx, ev.Timestamp); err != nil {
			return nil, now, err
		}
	}
	if (p.opts.MaxFutureSkew > 0 && ev.Timestamp.After(now.Add(p.opts.MaxFutureSkew))) ||
		(p.opts.MaxAge > 0 && ev.Timestamp.Before(now.Add(-p.opts.MaxAge))) {
		return nil, now, p.reject(ctx, msg, name, ReasonAbsurdTimestamp, fmt.Sprintf("event time %s is too far from now (%s)", ev.Timestamp.Format(time.RFC3339), now.Format(time.RFC3339)))
	}
	ms.lastEvent = now
	ms.lastEventSec.Set(float64(now.UnixNano()) / 1e9)
	return ms, now, nil
}

// route adds the decoded message to its window: an offline value or a label
// to its join, an event to the profiles and the joins. It reports whether the
// message was not an event: offline values and labels describe other moments
// than their arrival, so only events move (or hold back) the watermark.
func (p *Pipeline) route(ms *modelState, w *openWindow, topic string) (notEvent bool) {
	ev := &p.ev
	switch {
	case ms.keyed != nil && topic == p.opts.FeaturesTopic:
		p.stats.Offline++
		if len(ev.RequestID) > 0 {
			if match, ok := ms.keyed.AddOffline(ev.RequestID, ev.Features, ev.Timestamp); ok {
				w.AddMatch(match)
			}
		}
		return true
	case ev.Label.Present():
		p.stats.Labels++
		p.label(ms, w, ev)
		return true
	}
	w.Add(ms.m, ev)
	p.stats.Events++
	ms.eventsTotal.Inc()
	p.predict(ms, w, ev)
	if ms.keyed != nil && len(ev.RequestID) > 0 {
		if match, ok := ms.keyed.AddServing(ev.RequestID, ev.Features, ev.Timestamp); ok {
			w.AddMatch(match)
		}
	}
	return false
}

// skip counts a message read again after a restart, already counted before it.
func (p *Pipeline) skip(model string) {
	p.stats.Skipped++
	p.metrics.skipped.WithLabelValues(model).Inc()
}

// truncate bounds a payload-derived string in a message for people.
func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}

// advanceEventClock moves the recording's clock to eventTime, if later, and
// runs the clock's checks when it passes the next tick: before the event is
// admitted, so that they see the silence before it.
func (p *Pipeline) advanceEventClock(ctx context.Context, eventTime time.Time) (time.Time, error) {
	if eventTime.After(p.eventNow) {
		p.eventNow = eventTime
	}
	now := p.eventNow
	if every := p.opts.ReplayTick; every > 0 && !now.Before(p.nextTick) {
		if !p.nextTick.IsZero() {
			if err := p.Tick(ctx); err != nil {
				return now, err
			}
		}
		p.nextTick = now.Truncate(every).Add(every)
	}
	return now, nil
}
