package pipeline

import (
	"fmt"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/shadow"
)

// workerVersions is what a worker keeps for the version checks: the shadow
// join of its partition (a request's two predictions meet in one worker, as
// a prediction and its label do) and the parser of the predictions it pairs.
type workerVersions struct {
	join   *shadow.Join
	values *labels.ValueParser
}

// newWorkerVersions returns nil when no contract asks for the version checks.
func newWorkerVersions(models []*model.Model) (*workerVersions, error) {
	tracked := false
	for _, m := range models {
		tracked = tracked || m.Contract.TracksVersions()
	}
	if !tracked {
		return nil, nil
	}
	join, err := shadow.NewJoin(models)
	if err != nil {
		return nil, fmt.Errorf("shadow join: %w", err)
	}
	return &workerVersions{join: join, values: labels.NewValueParser(maxClasses)}, nil
}

// observeVersion counts an event in its window's version mix, profiles it
// with its version's events, and offers its
// prediction to the shadow join; a pair scores in the window of the event
// that completed it.
func (w *Worker) observeVersion(wm *workerModel, part *partial, ev *event.Event) {
	wv := w.versions
	if wv == nil || !wm.m.Contract.TracksVersions() {
		return
	}
	part.VersionCounts(wm.m).Add(ev.ModelVersion, ev.Timestamp)
	part.AddVersion(wm.m, ev)
	name := wm.m.Name()
	if wv.join == nil || !wv.join.Shadowed(name) || len(ev.RequestID) == 0 || !ev.Prediction.Present() {
		return
	}
	v, err := wv.values.Prediction(wm.m.PredictionKind(), ev.Prediction)
	if err != nil {
		return // counted by the numerical checks, not comparable
	}
	if pair, ok := wv.join.Offer(name, ev.ModelVersion, ev.RequestID, v, ev.Timestamp); ok {
		part.ShadowPairs(wm.m).Add(pair)
	}
}

// settleShadow gives up the model's requests that can no longer pair by
// horizon, and counts them in the earliest of its shares ending by mark:
// those given up in a handover are counted in the window it closes. A
// request still within max_delay of the horizon is neither paired nor given
// up yet.
func (w *Worker) settleShadow(wm *workerModel, mark, horizon time.Time) {
	wv := w.versions
	if wv == nil || wv.join == nil || !wv.join.Shadowed(wm.m.Name()) {
		return
	}
	if !horizon.IsZero() {
		wv.join.Expire(horizon)
	}
	var first *partial
	for _, part := range wm.open {
		if !part.End.After(mark) && (first == nil || part.Start.Before(first.Start)) {
			first = part
		}
	}
	// Without a share to close, what was given up waits for the next one.
	if first != nil {
		first.ShadowPairs(wm.m).AddUnpaired(wv.join.Settle(wm.m.Name()))
	}
}

// versionTag is the tag of version's predictions in the label join: one
// more than its index among the model's versions seen, the named first; zero
// for a model that does not track versions or an event without one. The tags
// are the worker's, stable across windows, as a label may complete its pair
// windows later; past the bound, versions share the tag of other.
func (wm *workerModel) versionTag(version []byte) uint8 {
	c := wm.m.Contract
	if len(version) == 0 || !c.TracksVersions() {
		return 0
	}
	if wm.versionTags == nil {
		wm.versionTags = append(wm.versionTags, c.NamedVersions()...)
	}
	for i, l := range wm.versionTags {
		// The comparison does not allocate: the compiler converts in place.
		if l == string(version) {
			return uint8(i + 1)
		}
	}
	label := config.VersionOther
	if len(wm.versionTags) < maxVersionTags-1 && len(wm.versionTags) < len(c.NamedVersions())+*c.Versions.MaxOthers {
		label = string(version)
	}
	for i, l := range wm.versionTags {
		if l == label {
			return uint8(i + 1)
		}
	}
	if len(wm.versionTags) >= maxVersionTags {
		return 0
	}
	wm.versionTags = append(wm.versionTags, label)
	return uint8(len(wm.versionTags))
}

// maxVersionTags is how many versions a tag of one byte tells apart.
const maxVersionTags = 255

// addPair scores a joined pair in the share's window, and in its version's
// profile when the prediction was tagged with one.
func (wm *workerModel) addPair(part *partial, pair labels.Pair) {
	part.AddPair(wm.m, pair)
	if t := pair.Prediction.Tag; t > 0 && int(t) <= len(wm.versionTags) {
		part.AddVersionPair(wm.m, wm.versionTags[t-1], pair)
	}
}
