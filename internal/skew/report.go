package skew

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

// WriteText writes the report as a table for a person reading a CI log.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "model %s: %d rows, %d of %d features drifted, %d with violations\n",
		r.Model, r.Rows, len(r.Drifted), len(r.Features), len(r.Violated))
	if len(r.RowErrors) > 0 {
		fmt.Fprintf(&b, "unreadable rows: %s\n", r.rowErrors())
	}
	if s := r.skipped(); s != "" {
		b.WriteString(s + "\n")
	}
	if r.RowsWithExtraCells > 0 {
		fmt.Fprintf(&b, "rows with more cells than the header: %d\n", r.RowsWithExtraCells)
	}
	if len(r.UnexpectedFeatures) > 0 {
		fmt.Fprintf(&b, "fields not in the contract: %s\n", counts(r.UnexpectedFeatures))
	}
	if len(r.NotInBaseline) > 0 {
		fmt.Fprintf(&b, "features not in the baseline (not compared): %s\n", strings.Join(r.NotInBaseline, ", "))
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tTYPE\tCOUNT\tNULL\tNAN/INF\tMETHOD\tVALUE\tTHRESHOLD\tRESULT\tVIOLATIONS")
	for _, f := range r.Features {
		result := "ok"
		switch {
		case f.Drift:
			result = "DRIFT"
		case f.Skipped != nil:
			result = "skipped"
		case f.DriftValue == nil:
			result = "n/a"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%.4g\t%s\t%s\n", f.Name, f.Type, f.Count,
			percent(f.NullRate), percent(f.NaNRate+f.InfRate), f.DriftMethod, num(f.DriftValue), f.Threshold,
			result, orDash(counts(f.Violations)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\n")
	for _, f := range r.Features {
		var parts []string
		add := func(name string, v *float64) {
			if v != nil {
				parts = append(parts, name+" "+num(v))
			}
		}
		add("psi", f.PSI)
		add("js", f.JSDivergence)
		add("ks", f.KSStatistic)
		add("ks_p", f.KSPValue)
		add("wasserstein", f.Wasserstein)
		add("wasserstein/sd", f.WassersteinNormed)
		if f.LInfinity != nil {
			parts = append(parts, fmt.Sprintf("l_inf %s at %q", num(f.LInfinity), *f.LInfinityValue))
		}
		add("chi2", f.Chi2Statistic)
		add("chi2_p", f.Chi2PValue)
		if f.NewCategories != nil && len(*f.NewCategories) > 0 {
			parts = append(parts, "new categories: "+strings.Join(*f.NewCategories, ", "))
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "  %s: %s\n", f.Name, strings.Join(parts, ", "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// rowErrors lists the unreadable rows by reason with their first lines:
// "malformed_csv=3 (lines 12, 40, 41)".
func (r *Report) rowErrors() string {
	keys := make([]string, 0, len(r.RowErrors))
	for k := range r.RowErrors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, r.RowErrors[k])
		lines := r.RowErrorLines[k]
		if len(lines) == 0 {
			continue
		}
		nums := make([]string, len(lines))
		for j, l := range lines {
			nums[j] = strconv.Itoa(l)
		}
		word := "line"
		switch {
		case uint64(len(lines)) < r.RowErrors[k]:
			word = "first at lines"
		case len(lines) > 1:
			word = "lines"
		}
		parts[i] += fmt.Sprintf(" (%s %s)", word, strings.Join(nums, ", "))
	}
	return strings.Join(parts, " ")
}

// skipped says which features' distribution checks were skipped, in one line:
// for the whole sample when it is too small, else feature by feature.
func (r *Report) skipped() string {
	var parts []string
	// Fewer rows than min_samples: every feature is skipped for the same reason.
	whole := len(r.Features) > 0 && r.Rows < uint64(r.MinSamples)
	for _, f := range r.Features {
		s := f.Skipped
		if s == nil {
			whole = false
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%d values in the %s)", f.Name, s.Values, s.Side))
	}
	switch {
	case whole:
		return fmt.Sprintf("%d rows: below min_samples %d, distribution checks skipped", r.Rows, r.MinSamples)
	case len(parts) > 0:
		return fmt.Sprintf("below min_samples %d, distribution checks skipped: %s", r.MinSamples, strings.Join(parts, ", "))
	}
	return ""
}

func num(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.4g", *v)
}

func percent(x float64) string { return fmt.Sprintf("%.2f%%", 100*x) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func counts(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
