package window

import (
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/shadow"
)

// TestMergeVersions: two partitions' shares of a window merge their shadow
// pairs and version mix, whichever of them has either.
func TestMergeVersions(t *testing.T) {
	c, err := config.ParseContract([]byte("model: m\nprediction: {kind: class}\nshadow: {reference: v1, candidate: v2}\n" +
		"features: [{name: x, type: numeric}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := modeltest.FromCSV(t, c, "x\n1\n2\n")
	start := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var shares [3]*Window
	for i := range shares {
		if shares[i], err = New(m, start, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// The first share has neither; the second both; the third a pair that
	// disagrees and a version past none of the bounds.
	shares[1].VersionCounts(m).Add([]byte("v1"), start)
	shares[1].ShadowPairs(m).Add(shadow.Pair{Reference: labels.Value{Class: "a"}, Candidate: labels.Value{Class: "a"}})
	shares[2].VersionCounts(m).Add([]byte("v3"), start)
	shares[2].ShadowPairs(m).Add(shadow.Pair{Reference: labels.Value{Class: "a"}, Candidate: labels.Value{Class: "b"}})
	shares[2].ShadowPairs(m).AddUnpaired(shadow.Unpaired{ReferenceOnly: 2})
	for _, s := range shares[1:] {
		if err := shares[0].Merge(s); err != nil {
			t.Fatal(err)
		}
	}
	w := shares[0]
	if w.Shadow == nil || w.Shadow.Pairs != 2 || w.Shadow.Disagree != 1 || w.Shadow.ReferenceOnly != 2 {
		t.Errorf("merged shadow %+v", w.Shadow)
	}
	got := map[string]uint64{}
	w.Versions.Each(func(label string, n uint64, _ time.Time) { got[label] = n })
	if len(got) != 2 || got["v1"] != 1 || got["v3"] != 1 {
		t.Errorf("merged versions %v", got)
	}
}
