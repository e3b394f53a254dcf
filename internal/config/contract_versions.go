package config

import (
	"math"
	"slices"
	"time"
)

// Versions turns on the availability checks of a model's versions: which
// versions send, in what mix, which went silent while the model still sends,
// and which appeared. Each version the contract names has a label of its own
// in the results; so do, first come, at most MaxOthers more; the rest share
// the label VersionOther, so that a payload cannot grow the series.
type Versions struct {
	// Names are the versions expected to serve, besides those of shadow.
	Names []string `yaml:"names,omitempty"`
	// MaxOthers is how many versions not named get a label of their own.
	MaxOthers *int `yaml:"max_others,omitempty"`
	// MaxSilence is how long, in event time, a named version may send nothing
	// while its model sends before the window is in breach.
	MaxSilence time.Duration `yaml:"max_silence,omitempty"`
}

// Shadow names the two versions of a model that score the same requests: the
// live one (Reference) and the one tried beside it (Candidate). Their
// predictions of one request id are paired and compared.
type Shadow struct {
	Reference string `yaml:"reference"`
	Candidate string `yaml:"candidate"`
	// MaxDisagreement is the share of pairs whose decisions differ (classes;
	// probabilities on either side of 0.5, scores of 0) tolerated in a window;
	// unset, disagreement is reported without a threshold.
	MaxDisagreement *float64 `yaml:"max_disagreement,omitempty"`
	// MaxUnpairedRatio is the share of requests only one version scored that
	// is tolerated in a window.
	MaxUnpairedRatio *float64 `yaml:"max_unpaired_ratio,omitempty"`
	// MaxDelay is how far apart in event time the two predictions of a request
	// may be and still pair.
	MaxDelay time.Duration `yaml:"max_delay,omitempty"`
	// MaxPending caps, per version, the predictions waiting for their pair;
	// the oldest is evicted first, and counted.
	MaxPending int `yaml:"max_pending,omitempty"`
}

// Defaults of versions and shadow.
const (
	DefaultMaxOtherVersions = 3
	// MaxOtherVersionsLimit bounds max_others: each is a label of its own.
	MaxOtherVersionsLimit   = 20
	DefaultVersionSilence   = 15 * time.Minute
	DefaultMaxUnpairedRatio = 0.05
	DefaultShadowMaxDelay   = time.Minute
	DefaultShadowMaxPending = 100_000
)

// VersionOther is the label of the versions beyond those with a label of
// their own. It is not a valid version name in a contract.
const VersionOther = "other"

// TracksVersions reports whether the contract asks for the version checks.
func (c *Contract) TracksVersions() bool {
	return c.Versions != nil || c.Shadow != nil || c.Canary != nil
}

// NamedVersions lists the versions with a label of their own by the contract:
// the shadow pair, the canary's, then versions.names, without repeats.
func (c *Contract) NamedVersions() []string {
	var out []string
	add := func(names ...string) {
		for _, n := range names {
			if n != "" && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	if s := c.Shadow; s != nil {
		add(s.Reference, s.Candidate)
	}
	if k := c.Canary; k != nil {
		add(k.Reference, k.Candidate)
	}
	if v := c.Versions; v != nil {
		add(v.Names...)
	}
	return out
}

// applyVersionDefaults fills in what versions, shadow and canary leave out; a
// shadow pair or a canary alone gets the version checks' defaults.
func (c *Contract) applyVersionDefaults() {
	if (c.Shadow != nil || c.Canary != nil) && c.Versions == nil {
		c.Versions = &Versions{}
	}
	c.applyCanaryDefaults()
	if v := c.Versions; v != nil {
		if v.MaxOthers == nil {
			n := DefaultMaxOtherVersions
			v.MaxOthers = &n
		}
		if v.MaxSilence == 0 {
			v.MaxSilence = DefaultVersionSilence
		}
	}
	if s := c.Shadow; s != nil {
		if s.MaxUnpairedRatio == nil {
			r := DefaultMaxUnpairedRatio
			s.MaxUnpairedRatio = &r
		}
		if s.MaxDelay == 0 {
			s.MaxDelay = DefaultShadowMaxDelay
		}
		if s.MaxPending == 0 {
			s.MaxPending = DefaultShadowMaxPending
		}
	}
}

// validateVersions reports the problems of versions and shadow.
func (c *Contract) validateVersions(p *problemList) {
	if v := c.Versions; v != nil {
		seen := make(map[string]bool, len(v.Names))
		for i, n := range v.Names {
			field := "versions.names"
			switch {
			case n == "":
				p.add(field, "entry %d is empty", i)
			case n == VersionOther:
				p.add(field, "%q is the label of the versions without one of their own; name the version otherwise", n)
			case seen[n]:
				p.add(field, "duplicate version %q", n)
			}
			seen[n] = true
		}
		if m := v.MaxOthers; m != nil && (*m < 0 || *m > MaxOtherVersionsLimit) {
			p.add("versions.max_others", "must be in [0, %d], got %d", MaxOtherVersionsLimit, *m)
		}
		if v.MaxSilence < 0 {
			p.add("versions.max_silence", "must not be negative, got %s", v.MaxSilence)
		}
	}
	c.validateCanary(p)
	s := c.Shadow
	if s == nil {
		return
	}
	for _, side := range []struct{ key, name string }{{"reference", s.Reference}, {"candidate", s.Candidate}} {
		switch side.name {
		case "":
			p.add("shadow."+side.key, "is required: the version whose predictions are paired")
		case VersionOther:
			p.add("shadow."+side.key, "%q is the label of the versions without one of their own; name the version otherwise", side.name)
		}
	}
	if s.Reference != "" && s.Reference == s.Candidate {
		p.add("shadow.candidate", "is the reference version %q too: a shadow pairs two versions", s.Candidate)
	}
	if r := s.MaxDisagreement; r != nil && !(*r >= 0 && *r <= 1) {
		p.add("shadow.max_disagreement", "must be a share in [0, 1], got %v", *r)
	}
	validateRate(p, "shadow.max_unpaired_ratio", s.MaxUnpairedRatio)
	if s.MaxDelay < 0 {
		p.add("shadow.max_delay", "must not be negative, got %s", s.MaxDelay)
	}
	// The pairing table indexes its entries with int32, three lists a model.
	if s.MaxPending < 0 || s.MaxPending > math.MaxInt32/3 {
		p.add("shadow.max_pending", "must be in [1, %d], got %d", math.MaxInt32/3, s.MaxPending)
	}
}
