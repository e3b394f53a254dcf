package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/labels"
)

// admit decodes and validates a message and returns its model, or nil when
// the message was rejected (and dead-lettered), and the time it is seen at:
// now, or under an event clock the recording's own time.
func (w *Worker) admit(ctx context.Context, msg ingest.Message, now time.Time) (*workerModel, time.Time, error) {
	if len(msg.Value) > w.opts.MaxMessageBytes {
		return nil, now, w.reject(ctx, msg, now, unknownModel, ReasonOversized, fmt.Sprintf("message of %d bytes exceeds the limit of %d", len(msg.Value), w.opts.MaxMessageBytes))
	}
	if err := w.dec.Decode(msg.Value, &w.ev); err != nil {
		return nil, now, w.reject(ctx, msg, now, unknownModel, string(event.ReasonOf(err)), err.Error())
	}
	ev := &w.ev
	if len(ev.Model) == 0 {
		return nil, now, w.reject(ctx, msg, now, unknownModel, ReasonMissingModel, "event has no model")
	}
	wm, ok := w.models[string(ev.Model)]
	if !ok {
		return nil, now, w.reject(ctx, msg, now, unknownModel, ReasonUnknownModel, fmt.Sprintf("model %q is not monitored", truncate(ev.Model)))
	}
	name := wm.m.Name()
	if !ev.HasTimestamp {
		return nil, now, w.reject(ctx, msg, now, name, ReasonMissingTimestamp, "event has no timestamp")
	}
	if w.eventClock != nil {
		var err error
		if now, err = w.eventClock(ctx, ev.Timestamp); err != nil {
			return nil, now, err
		}
	}
	if (w.opts.MaxFutureSkew > 0 && ev.Timestamp.After(now.Add(w.opts.MaxFutureSkew))) ||
		(w.opts.MaxAge > 0 && ev.Timestamp.Before(now.Add(-w.opts.MaxAge))) {
		return nil, now, w.reject(ctx, msg, now, name, ReasonAbsurdTimestamp, fmt.Sprintf("event time %s is too far from now (%s)", ev.Timestamp.Format(time.RFC3339), now.Format(time.RFC3339)))
	}
	wm.lastEvent = now
	return wm, now, nil
}

// route adds the decoded message to its window's share: an offline value or a
// label to its join, an event to the profiles and the joins. It reports whether
// the message was an event: offline values and labels describe other moments
// than their arrival, so only events move (or hold back) the watermark.
func (w *Worker) route(wm *workerModel, part *partial, topic string) (isEvent bool) {
	ev := &w.ev
	switch {
	case wm.keyed != nil && topic == w.opts.FeaturesTopic:
		w.stats.Offline++
		if len(ev.RequestID) > 0 {
			if match, ok := wm.keyed.AddOffline(ev.RequestID, ev.Features, ev.Timestamp); ok {
				part.AddMatch(match)
			}
		}
		return false
	case ev.Label.Present():
		w.stats.Labels++
		w.label(wm, part, ev)
		return false
	}
	part.Add(wm.m, ev)
	w.stats.Events++
	wm.counted()
	w.predict(wm, part, ev)
	w.observeVersion(wm, part, ev)
	if wm.keyed != nil && len(ev.RequestID) > 0 {
		if match, ok := wm.keyed.AddServing(ev.RequestID, ev.Features, ev.Timestamp); ok {
			part.AddMatch(match)
		}
	}
	return true
}

// maxClasses bounds the class names the label join interns.
const maxClasses = 1000

// predict offers an event's prediction to the label join.
func (w *Worker) predict(wm *workerModel, part *partial, ev *event.Event) {
	if w.joiner == nil || len(ev.RequestID) == 0 || !ev.Prediction.Present() {
		return
	}
	v, err := w.values.Prediction(wm.m.PredictionKind(), ev.Prediction)
	if err != nil {
		return // counted by the numerical checks, not joinable
	}
	v.Tag = wm.versionTag(ev.ModelVersion)
	if pair, ok := w.joiner.AddPrediction(ev.Model, ev.RequestID, v, ev.Timestamp, w.at); ok {
		w.scorePair(wm, part, pair)
	}
}

// label offers a label event to the join; part is nil for a label read again
// (rejoin), whose window counted it already.
func (w *Worker) label(wm *workerModel, part *partial, ev *event.Event) {
	if w.joiner == nil || len(ev.RequestID) == 0 {
		return
	}
	v, err := w.values.Label(wm.m.PredictionKind(), ev.Label)
	if err != nil {
		if part != nil {
			part.BadLabels++
		}
		return
	}
	if pair, ok := w.joiner.AddLabel(ev.Model, ev.RequestID, v, ev.Timestamp, w.at); ok {
		w.scorePair(wm, part, pair)
	}
}

// scorePair scores a joined pair in the window of the later of its two event
// times: delayed labels measure the model as its ground truth arrives. In
// time order that is the window of the message that completed the pair; a
// label read before its prediction (the labels topic served first) scores
// where it would have. A later window than the message's own is the
// caller's to open (scoreElsewhere), as is any window of a message read
// again (part nil).
func (w *Worker) scorePair(wm *workerModel, part *partial, pair labels.Pair) {
	if part != nil && laterOf(pair).Truncate(w.opts.Window).Equal(part.Start) {
		w.addPair(wm, part, pair)
		return
	}
	w.elsewhere, w.hasElsewhere = pair, true
}

// addPair scores pair in part, which then holds the side that waited too:
// until the share is durable, a restart must read that side again to join
// the pair again.
func (w *Worker) addPair(wm *workerModel, part *partial, pair labels.Pair) {
	wm.addPair(part, pair)
	if s := pair.Waited.Stream; s > 0 {
		part.holdWaited(w.streams[s-1], pair.Waited.Offset)
	}
}

func laterOf(p labels.Pair) time.Time {
	if p.LabelTime.After(p.PredictionTime) {
		return p.LabelTime
	}
	return p.PredictionTime
}

// truncate bounds a payload-derived string in a message for people.
func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}
