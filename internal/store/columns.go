package store

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// insert is one table's share of a batch, column by column in the table's
// column order, so the driver appends whole slices instead of boxing every
// value of every row.
type insert struct {
	table   table
	rows    int
	columns []any
}

// timeColumn holds one time in the schema's two-column form.
type timeColumn struct {
	secs []time.Time
	ms   []uint16
}

func newTimeColumn(n int) timeColumn {
	return timeColumn{secs: make([]time.Time, 0, n), ms: make([]uint16, 0, n)}
}

// add refuses times a DateTime cannot hold rather than let the server wrap
// them: a zero time.Time would otherwise be stored as some date in 2106.
func (c *timeColumn) add(what string, t time.Time) error {
	s := t.Unix()
	if s < 0 || s > math.MaxUint32 {
		return fmt.Errorf("%s %v is outside the range of a ClickHouse DateTime (1970 to 2106)", what, t)
	}
	c.secs = append(c.secs, time.Unix(s, 0).UTC())
	c.ms = append(c.ms, uint16(t.Nanosecond()/int(time.Millisecond)))
	return nil
}

func joinTime(secs time.Time, ms uint16) time.Time {
	return time.Unix(secs.Unix(), int64(ms)*int64(time.Millisecond)).UTC()
}

func boolToUInt8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func profileColumns(ps []WindowProfile, version uint64) (insert, error) {
	n := len(ps)
	var (
		model, feature        = make([]string, n), make([]string, n)
		start, end            = newTimeColumn(n), newTimeColumn(n)
		partition             = make([]int32, n)
		rows, nulls, nans     = make([]uint64, n), make([]uint64, n), make([]uint64, n)
		posInf, negInf, fin   = make([]uint64, n), make([]uint64, n), make([]uint64, n)
		minV, maxV, mean, std = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		kinds, counts         = make([][]string, n), make([][]uint64, n)
		distinct              = make([]float64, n)
		state                 = make([]string, n)
		versions              = make([]uint64, n)
	)
	for i, p := range ps {
		if err := start.add("window_profiles: window start", p.WindowStart); err != nil {
			return insert{}, err
		}
		if err := end.add("window_profiles: window end", p.WindowEnd); err != nil {
			return insert{}, err
		}
		model[i], feature[i], partition[i] = p.Model, p.Feature, p.Partition
		rows[i], nulls[i], nans[i] = p.Rows, p.Nulls, p.NaN
		posInf[i], negInf[i], fin[i] = p.PosInf, p.NegInf, p.Finite
		minV[i], maxV[i], mean[i], std[i] = p.Min, p.Max, p.Mean, p.StdDev
		// Sorted so that the same profile always writes the same arrays.
		kinds[i] = slices.Sorted(maps.Keys(p.Violations))
		counts[i] = make([]uint64, len(kinds[i]))
		for j, k := range kinds[i] {
			counts[i][j] = p.Violations[k]
		}
		distinct[i], state[i], versions[i] = p.Distinct, string(p.State), version
	}
	return insert{table: profilesTable(), rows: n, columns: []any{
		model, feature, start.secs, start.ms, end.secs, end.ms, partition,
		rows, nulls, nans, posInf, negInf, fin, minV, maxV, mean, std,
		kinds, counts, distinct, state, versions,
	}}, nil
}

func resultColumns(rs []check.Result, version uint64) (insert, error) {
	n := len(rs)
	var (
		model               = make([]string, n)
		start, end          = newTimeColumn(n), newTimeColumn(n)
		kind, feature, name = make([]string, n), make([]string, n), make([]string, n)
		value, threshold    = make([]float64, n), make([]float64, n)
		breached            = make([]uint8, n)
		skipped             = make([]string, n)
		modelVersion        = make([]string, n)
		versions            = make([]uint64, n)
	)
	for i, r := range rs {
		if err := start.add("check_results: window start", r.WindowStart); err != nil {
			return insert{}, err
		}
		if err := end.add("check_results: window end", r.WindowEnd); err != nil {
			return insert{}, err
		}
		model[i], kind[i], feature[i], name[i] = r.Model, string(r.Kind), r.Feature, r.Metric
		value[i], threshold[i], breached[i], versions[i] = r.Value, r.Threshold, boolToUInt8(r.Breached), version
		skipped[i] = r.Skipped
		if v, ok := check.VersionOf(r.Feature); ok {
			modelVersion[i] = v
		}
	}
	return insert{table: resultsTable(), rows: n, columns: []any{
		model, start.secs, start.ms, end.secs, end.ms, kind, feature, name, value, threshold, breached, versions, skipped, modelVersion,
	}}, nil
}

func anomalyColumns(as []check.Verdict, version uint64) (insert, error) {
	n := len(as)
	var (
		model                           = make([]string, n)
		start, end                      = newTimeColumn(n), newTimeColumn(n)
		score                           = make([]float64, n)
		flagged                         = make([]uint8, n)
		statistic                       = make([]string, n)
		metrics                         = make([][]string, n)
		actual, expected, contributions = make([][]float64, n), make([][]float64, n), make([][]float64, n)
		versions                        = make([]uint64, n)
	)
	for i, a := range as {
		if err := start.add("anomalies: window start", a.WindowStart); err != nil {
			return insert{}, err
		}
		if err := end.add("anomalies: window end", a.WindowEnd); err != nil {
			return insert{}, err
		}
		model[i], score[i], flagged[i], statistic[i] = a.Model, a.Score, boolToUInt8(a.Anomaly), a.Statistic
		metrics[i] = make([]string, len(a.Causes))
		actual[i] = make([]float64, len(a.Causes))
		expected[i] = make([]float64, len(a.Causes))
		contributions[i] = make([]float64, len(a.Causes))
		for j, c := range a.Causes {
			metrics[i][j], actual[i][j], expected[i][j], contributions[i][j] = c.Metric, c.Actual, c.Expected, c.Contribution
		}
		versions[i] = version
	}
	return insert{table: anomaliesTable(), rows: n, columns: []any{
		model, start.secs, start.ms, end.secs, end.ms, score, flagged, statistic,
		metrics, actual, expected, contributions, versions,
	}}, nil
}

func rejectedColumns(rs []RejectedCount, version uint64) (insert, error) {
	n := len(rs)
	var (
		model, reason, topic = make([]string, n), make([]string, n), make([]string, n)
		start                = newTimeColumn(n)
		partition            = make([]int32, n)
		count                = make([]uint64, n)
		through              = make([]int64, n)
		versions             = make([]uint64, n)
	)
	for i, r := range rs {
		if err := start.add("rejected_counts: window start", r.WindowStart); err != nil {
			return insert{}, err
		}
		model[i], reason[i], topic[i], partition[i] = r.Model, r.Reason, r.Topic, r.Partition
		count[i], through[i], versions[i] = r.Count, r.Through, version
	}
	return insert{table: rejectedTable(), rows: n, columns: []any{
		model, reason, topic, start.secs, start.ms, partition, count, through, versions,
	}}, nil
}

func referenceColumns(rs []ReferenceSummary, version uint64) (insert, error) {
	n := len(rs)
	var (
		model, feature = make([]string, n), make([]string, n)
		start          = newTimeColumn(n)
		state          = make([]string, n)
		versions       = make([]uint64, n)
	)
	for i, r := range rs {
		if err := start.add("reference_summaries: period start", r.PeriodStart); err != nil {
			return insert{}, err
		}
		model[i], feature[i], state[i], versions[i] = r.Model, r.Feature, string(r.State), version
	}
	return insert{table: referencesTable(), rows: n, columns: []any{
		model, feature, start.secs, start.ms, state, versions,
	}}, nil
}

// inserts turns a batch into one insert per non-empty table. window_profiles
// comes last because ClosedWindows reads it: a window counts as closed only
// once everything else written with it is durable.
func inserts(b Batch, version uint64) ([]insert, error) {
	var out []insert
	add := func(n int, convert func() (insert, error)) error {
		if n == 0 {
			return nil
		}
		ins, err := convert()
		if err != nil {
			return err
		}
		out = append(out, ins)
		return nil
	}
	// Window profiles go last: ClosedWindows reads them, so a window counts as
	// written only once everything else of its batch is durable.
	if err := add(len(b.Results), func() (insert, error) { return resultColumns(b.Results, version) }); err != nil {
		return nil, err
	}
	if err := add(len(b.Anomalies), func() (insert, error) { return anomalyColumns(b.Anomalies, version) }); err != nil {
		return nil, err
	}
	if err := add(len(b.Rejected), func() (insert, error) { return rejectedColumns(b.Rejected, version) }); err != nil {
		return nil, err
	}
	if err := add(len(b.References), func() (insert, error) { return referenceColumns(b.References, version) }); err != nil {
		return nil, err
	}
	if err := add(len(b.Profiles), func() (insert, error) { return profileColumns(b.Profiles, version) }); err != nil {
		return nil, err
	}
	return out, nil
}
