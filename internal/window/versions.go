package window

import (
	"fmt"
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/shadow"
	"github.com/sentinel-ml/sentinel/internal/versions"
)

// ShadowPairs returns the window's shadow pairs, made on first use.
func (w *Window) ShadowPairs(m *model.Model) *shadow.Window {
	if w.Shadow == nil {
		w.Shadow = shadow.NewWindow(m.PredictionKind())
	}
	return w.Shadow
}

// VersionCounts returns the window's version mix, made on first use.
func (w *Window) VersionCounts(m *model.Model) *versions.Counts {
	if w.Versions == nil {
		w.Versions = versions.NewCounts(m.Contract)
	}
	return w.Versions
}

// mergeVersions merges o's shadow pairs, version mix and version profiles
// into w's. Like the
// label pairs, neither is stored with the window's rows: a window updated
// after a restart reports neither again.
func (w *Window) mergeVersions(o *Window) error {
	if o.Versions != nil {
		if w.Versions == nil {
			w.Versions = o.Versions
		} else {
			w.Versions.Merge(o.Versions)
		}
	}
	if o.ByVersion != nil {
		if w.ByVersion == nil {
			w.ByVersion = o.ByVersion
		} else if err := w.ByVersion.merge(o.ByVersion); err != nil {
			return err
		}
	}
	if o.Shadow == nil {
		return nil
	}
	if w.Shadow == nil {
		w.Shadow = o.Shadow
		return nil
	}
	return w.Shadow.Merge(o.Shadow)
}

// ByVersion is one window of a model profiled version by version: the
// prediction, latency and counters of each, its labels' quality, and for a
// canary its features too. The versions the contract names and, first come,
// up to config.MaxOtherVersionsLimit more have profiles of their own; the
// rest share one, under config.VersionOther, so a payload cannot grow a
// window's memory. As with versions.Counts, the contract's smaller
// max_others is applied when the window is checked ([ByVersion.Fold]): a
// share sees versions in the order its partition's events arrive.
type ByVersion struct {
	labels  []string
	windows []*Window
	// limit bounds the labels: the named first, at most limit in all.
	limit    int
	features bool
}

func newByVersion(m *model.Model) *ByVersion {
	named := m.Contract.NamedVersions()
	b := &ByVersion{limit: len(named) + config.MaxOtherVersionsLimit, features: m.Contract.Canary != nil}
	b.labels = append(b.labels, named...)
	b.windows = make([]*Window, len(named))
	return b
}

// AddVersion profiles ev, an event of m already added to w, in its version's
// profile; an event without a version is not.
func (w *Window) AddVersion(m *model.Model, ev *event.Event) {
	if len(ev.ModelVersion) == 0 {
		return
	}
	if w.ByVersion == nil {
		w.ByVersion = newByVersion(m)
	}
	v, err := w.ByVersion.of(m, w, ev.ModelVersion)
	if err != nil {
		return // the profiles' specs made w's own profiles: they cannot fail here
	}
	if w.ByVersion.features {
		v.Features.AddEvent(ev)
	}
	v.addOutput(m, ev)
}

// AddVersionPair scores a prediction of version joined with its label in
// the version's profile of this window.
func (w *Window) AddVersionPair(m *model.Model, version string, pair labels.Pair) {
	if w.ByVersion == nil {
		w.ByVersion = newByVersion(m)
	}
	if v, err := w.ByVersion.of(m, w, []byte(version)); err == nil {
		v.AddPair(m, pair)
	}
}

// of returns the profile of version, made on first use.
func (b *ByVersion) of(m *model.Model, w *Window, version []byte) (*Window, error) {
	i := b.slot(version)
	if b.windows[i] == nil {
		v, err := b.newWindow(m, w.Start, w.End)
		if err != nil {
			return nil, fmt.Errorf("profiling version %s of model %s: %w", b.labels[i], m.Name(), err)
		}
		b.windows[i] = v
	}
	return b.windows[i], nil
}

// slot is the index of version's profile, or of other's when there is no
// room left for a label of its own; a new label's profile is nil.
func (b *ByVersion) slot(version []byte) int {
	// The comparison does not allocate: the compiler converts in place.
	if i := slices.IndexFunc(b.labels, func(l string) bool { return l == string(version) }); i >= 0 {
		return i
	}
	label := config.VersionOther
	if len(b.labels) < b.limit && string(version) != config.VersionOther {
		label = string(version)
	}
	if i := slices.Index(b.labels, label); i >= 0 {
		return i
	}
	b.labels, b.windows = append(b.labels, label), append(b.windows, nil)
	return len(b.labels) - 1
}

// newWindow is a version's profile: without features unless a canary
// compares them, which saves a second profile of every event otherwise.
func (b *ByVersion) newWindow(m *model.Model, start, end time.Time) (*Window, error) {
	var specs []profile.Spec
	if b.features {
		specs = m.Specs()
	}
	return newWindow(m, specs, start, end)
}

// Each calls f for every version profiled, in the order first seen (the
// named first), with its profile.
func (b *ByVersion) Each(f func(label string, v *Window)) {
	for i, l := range b.labels {
		if v := b.windows[i]; v != nil && v.Events > 0 {
			f(l, v)
		}
	}
}

// Get returns the profile of the version labelled label, or nil.
func (b *ByVersion) Get(label string) *Window {
	if i := slices.Index(b.labels, label); i >= 0 {
		return b.windows[i]
	}
	return nil
}

// Fold merges the profiles of the versions keep refuses into other's.
func (b *ByVersion) Fold(keep func(label string) bool) error {
	var other *Window
	if i := slices.Index(b.labels, config.VersionOther); i >= 0 {
		other = b.windows[i]
	}
	labels, windows := b.labels[:0], b.windows[:0]
	var folded []*Window
	for i, l := range b.labels {
		if l == config.VersionOther || keep(l) {
			labels, windows = append(labels, l), append(windows, b.windows[i])
			continue
		}
		if v := b.windows[i]; v != nil {
			folded = append(folded, v)
		}
	}
	clear(b.labels[len(labels):])
	clear(b.windows[len(windows):])
	b.labels, b.windows = labels, windows
	for _, v := range folded {
		if other == nil {
			other = v
			b.labels, b.windows = append(b.labels, config.VersionOther), append(b.windows, v)
			continue
		}
		if err := other.Merge(v); err != nil {
			return fmt.Errorf("folding a version into %s: %w", config.VersionOther, err)
		}
	}
	return nil
}

// merge adds o, the same model's window from another partition; its
// versions that b has no room for are merged into b's other. Like the
// version mix, a profile b lacks is taken over, not copied.
func (b *ByVersion) merge(o *ByVersion) error {
	for j, l := range o.labels {
		ov := o.windows[j]
		if ov == nil {
			continue
		}
		i := b.slot([]byte(l))
		if b.windows[i] == nil {
			b.windows[i] = ov
			continue
		}
		if err := b.windows[i].Merge(ov); err != nil {
			return fmt.Errorf("merging version %s: %w", l, err)
		}
	}
	return nil
}
