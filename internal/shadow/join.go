package shadow

import (
	"bytes"
	"fmt"
	"time"

	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
)

// Pair is one request scored by both versions.
type Pair struct {
	Reference, Candidate labels.Value
}

// Unpaired counts what left a model's join without its pair since the last
// Settle.
type Unpaired struct {
	// ReferenceOnly and CandidateOnly are requests one version scored and the
	// other did not within max_delay.
	ReferenceOnly, CandidateOnly uint64
	// Evicted are predictions pushed out by max_pending before their pair
	// could come: unknown whether it would have.
	Evicted uint64
}

// Join pairs the predictions of each shadowed model's two versions by
// request id. It is the label join (labels.Joiner), one per model, with the
// reference's predictions on the prediction side and the candidate's on the
// label side: the same bounded memory, duplicate handling and event-time
// horizon. It is not safe for concurrent use.
type Join struct {
	models map[string]*pairing
}

type pairing struct {
	name                 []byte
	reference, candidate []byte
	joiner               *labels.Joiner
	// settled are the join's counters already handed out by Settle.
	settled labels.JoinStats
}

// NewJoin returns the join of the models whose contract names a shadow pair,
// or nil when none does.
func NewJoin(models []*model.Model) (*Join, error) {
	j := &Join{models: make(map[string]*pairing)}
	for _, m := range models {
		s := m.Contract.Shadow
		if s == nil {
			continue
		}
		joiner, err := labels.NewJoiner(labels.JoinerConfig{MaxDelay: s.MaxDelay, MaxPending: s.MaxPending}, []string{m.Name()})
		if err != nil {
			return nil, fmt.Errorf("shadow join of model %s: %w", m.Name(), err)
		}
		j.models[m.Name()] = &pairing{name: []byte(m.Name()), reference: []byte(s.Reference), candidate: []byte(s.Candidate), joiner: joiner}
	}
	if len(j.models) == 0 {
		return nil, nil
	}
	return j, nil
}

// Shadowed reports whether the model has a shadow pair.
func (j *Join) Shadowed(model string) bool { return j.models[model] != nil }

// Offer adds a prediction of the model's version for a request. When the
// other version's prediction of the request is waiting, the two are paired
// and returned. Predictions of other versions are ignored.
func (j *Join) Offer(model string, version, requestID []byte, v labels.Value, eventTime time.Time) (Pair, bool) {
	p := j.models[model]
	if p == nil {
		return Pair{}, false
	}
	var lp labels.Pair
	var ok bool
	switch {
	case bytes.Equal(version, p.reference):
		lp, ok = p.joiner.AddPrediction(p.name, requestID, v, eventTime, labels.Position{})
	case bytes.Equal(version, p.candidate):
		lp, ok = p.joiner.AddLabel(p.name, requestID, v, eventTime, labels.Position{})
	}
	return Pair{Reference: lp.Prediction, Candidate: lp.Label}, ok
}

// Expire gives up the requests of every model older than the watermark less
// its max_delay: the other version's prediction can no longer pair. The
// watermark is an event time the stream has reached: predictions older than
// it less max_delay are given up on arrival from then on.
func (j *Join) Expire(watermark time.Time) {
	for _, p := range j.models {
		p.joiner.Expire(watermark)
	}
}

// Settle returns what left the model's join unpaired since its last Settle.
func (j *Join) Settle(model string) Unpaired {
	p := j.models[model]
	if p == nil {
		return Unpaired{}
	}
	s, _ := p.joiner.Stats(model)
	was := p.settled
	p.settled = s
	return Unpaired{
		ReferenceOnly: s.PredictionsExpired - was.PredictionsExpired,
		CandidateOnly: s.LabelsExpired - was.LabelsExpired,
		Evicted:       s.PredictionsEvicted + s.LabelsEvicted - was.PredictionsEvicted - was.LabelsEvicted,
	}
}

// Pending returns the predictions of each version waiting for their pair.
func (j *Join) Pending(model string) (reference, candidate int) {
	p := j.models[model]
	if p == nil {
		return 0, 0
	}
	s, _ := p.joiner.Stats(model)
	return s.PendingPredictions, s.PendingLabels
}
