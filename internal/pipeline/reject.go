package pipeline

import (
	"context"
	"fmt"

	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/ingest"
)

// Reasons a message is rejected, beyond the decoder's own. They label a metric
// and a dead-letter header, so they are a fixed set, never taken from payloads.
const (
	ReasonOversized        = "oversized"
	ReasonMissingModel     = "missing_model"
	ReasonUnknownModel     = "unknown_model"
	ReasonMissingTimestamp = "missing_timestamp"
	ReasonAbsurdTimestamp  = "absurd_timestamp"
)

// Reasons lists every reason word a message can be rejected with: the
// dead-letter producer counts each under its own series.
func Reasons() []string {
	out := []string{ReasonOversized, ReasonMissingModel, ReasonUnknownModel, ReasonMissingTimestamp, ReasonAbsurdTimestamp}
	for _, r := range event.Reasons() {
		out = append(out, string(r))
	}
	return out
}

// unknownModel is the model label of messages whose model is not monitored, so
// that payloads cannot create label values.
const unknownModel = "unknown"

type rejectedKey struct {
	model, reason string
	window        int64
	partition     int32
}

// reject dead-letters a message and counts it, by model, reason and window of
// arrival, for the store.
func (p *Pipeline) reject(ctx context.Context, msg ingest.Message, model, reason, detail string) error {
	p.stats.Rejected++
	p.metrics.rejected.WithLabelValues(model, reason).Inc()
	if p.opts.DeadLetters != nil {
		if err := p.opts.DeadLetters.Send(ctx, msg, reason, detail); err != nil {
			return fmt.Errorf("dead-lettering a message rejected as %s: %w", reason, err)
		}
	}
	k := rejectedKey{model: model, reason: reason, window: p.now().Truncate(p.opts.Window).UnixNano(), partition: int32(msg.Partition)}
	p.rejected[k]++
	return nil
}
