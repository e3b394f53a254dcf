package pipeline

import "github.com/sentinel-ml/sentinel/internal/event"

// maxClasses bounds the class names the label join interns.
const maxClasses = 1000

// predict offers an event's prediction to the label join.
func (p *Pipeline) predict(ms *modelState, w *openWindow, ev *event.Event) {
	if p.joiner == nil || len(ev.RequestID) == 0 || !ev.Prediction.Present() {
		return
	}
	v, err := p.values.Prediction(ms.m.PredictionKind(), ev.Prediction)
	if err != nil {
		return // counted by the numerical checks, not joinable
	}
	if pair, ok := p.joiner.AddPrediction(ev.Model, ev.RequestID, v, ev.Timestamp); ok {
		w.AddPair(ms.m, pair)
	}
}

// label offers a label event to the join. A joined pair scores in the window of
// the message that completed it: delayed labels measure the model as its ground
// truth arrives.
func (p *Pipeline) label(ms *modelState, w *openWindow, ev *event.Event) {
	if p.joiner == nil || len(ev.RequestID) == 0 {
		return
	}
	v, err := p.values.Label(ms.m.PredictionKind(), ev.Label)
	if err != nil {
		w.BadLabels++
		return
	}
	if pair, ok := p.joiner.AddLabel(ev.Model, ev.RequestID, v, ev.Timestamp); ok {
		w.AddPair(ms.m, pair)
	}
}
