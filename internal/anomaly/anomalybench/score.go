package anomalybench

// Tolerance is how many rows after an incident's start a flag still counts as
// catching it, and how long after its end flags are still blamed on it.
const Tolerance = 3

// Result is a detector's performance on one or more datasets.
type Result struct {
	Events, Caught int
	// CaughtByKind counts caught incidents of each kind, EventsByKind all of them.
	CaughtByKind, EventsByKind map[Kind]int
	Flagged, FlaggedInIncident int
	CleanRows, FlaggedClean    int
}

// Recall is the share of incidents flagged by their CatchBy row: within
// Tolerance rows of their start, or while they last for the kinds that build
// up.
func (r Result) Recall() float64 { return ratio(r.Caught, r.Events) }

// Precision is the share of flagged rows that fall inside an incident (or within
// Tolerance rows after it).
func (r Result) Precision() float64 { return ratio(r.FlaggedInIncident, r.Flagged) }

// FalseAlarmRate is the share of clean rows flagged.
func (r Result) FalseAlarmRate() float64 { return ratio(r.FlaggedClean, r.CleanRows) }

// F1 is the harmonic mean of event recall and row precision.
func (r Result) F1() float64 {
	p, rc := r.Precision(), r.Recall()
	if p+rc == 0 {
		return 0
	}
	return 2 * p * rc / (p + rc)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Add accumulates other into r, pooling datasets.
func (r *Result) Add(o Result) {
	r.Events += o.Events
	r.Caught += o.Caught
	r.Flagged += o.Flagged
	r.FlaggedInIncident += o.FlaggedInIncident
	r.CleanRows += o.CleanRows
	r.FlaggedClean += o.FlaggedClean
	if r.CaughtByKind == nil {
		r.CaughtByKind, r.EventsByKind = map[Kind]int{}, map[Kind]int{}
	}
	for k, v := range o.CaughtByKind {
		r.CaughtByKind[k] += v
	}
	for k, v := range o.EventsByKind {
		r.EventsByKind[k] += v
	}
}

// Score compares flags, one per row from ds.Train on, with the injected incidents.
func Score(ds *Dataset, flags []bool) Result {
	r := Result{CaughtByKind: map[Kind]int{}, EventsByKind: map[Kind]int{}}
	inIncident := make([]bool, len(flags))
	for _, inc := range ds.Incidents {
		r.Events++
		r.EventsByKind[inc.Kind]++
		catchBy := inc.CatchBy
		if catchBy == 0 {
			catchBy = inc.Start + Tolerance
		}
		for t := inc.Start; t <= catchBy && t-ds.Train < len(flags); t++ {
			if flags[t-ds.Train] {
				r.Caught++
				r.CaughtByKind[inc.Kind]++
				break
			}
		}
		for t := inc.Start; t < inc.End+Tolerance && t-ds.Train < len(flags); t++ {
			inIncident[t-ds.Train] = true
		}
	}
	for i, f := range flags {
		if f {
			r.Flagged++
		}
		switch {
		case inIncident[i] && f:
			r.FlaggedInIncident++
		case !inIncident[i]:
			r.CleanRows++
			if f {
				r.FlaggedClean++
			}
		}
	}
	return r
}
