package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/sentinel-ml/sentinel/internal/ingest"
)

// rejectedLines stands in for the dead-letter topic in a replay: it counts
// each file's rejected lines by reason and keeps the first few line numbers,
// so that a person can open the file where it went wrong.
type rejectedLines struct {
	byFile map[string]map[string]*rejectedReason
}

type rejectedReason struct {
	n      int
	lines  []int64
	detail string
}

// firstLines is how many line numbers are kept per file and reason.
const firstLines = 5

func newRejectedLines() *rejectedLines {
	return &rejectedLines{byFile: make(map[string]map[string]*rejectedReason)}
}

// Enqueue records a rejected line; the file source numbers messages by line.
func (r *rejectedLines) Enqueue(_ context.Context, msg ingest.Message, reason, detail string) error {
	reasons := r.byFile[msg.Topic]
	if reasons == nil {
		reasons = make(map[string]*rejectedReason)
		r.byFile[msg.Topic] = reasons
	}
	rr := reasons[reason]
	if rr == nil {
		rr = &rejectedReason{detail: detail}
		reasons[reason] = rr
	}
	rr.n++
	if len(rr.lines) < firstLines {
		rr.lines = append(rr.lines, msg.Offset)
	}
	return nil
}

func (r *rejectedLines) Pending(string, int) (int64, bool) { return 0, false }
func (r *rejectedLines) Flush(context.Context) error       { return nil }
func (r *rejectedLines) Close() error                      { return nil }

// write says, per file and reason, how many lines were rejected, where the
// first ones are and why the first one was.
func (r *rejectedLines) write(w io.Writer) {
	files := make([]string, 0, len(r.byFile))
	for f := range r.byFile {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		reasons := r.byFile[f]
		names := make([]string, 0, len(reasons))
		for name := range reasons {
			names = append(names, name)
		}
		sort.Slice(names, func(i, j int) bool {
			return reasons[names[i]].n > reasons[names[j]].n || (reasons[names[i]].n == reasons[names[j]].n && names[i] < names[j])
		})
		for _, name := range names {
			rr := reasons[name]
			lines := make([]string, len(rr.lines))
			for i, l := range rr.lines {
				lines[i] = fmt.Sprint(l)
			}
			more := ""
			if rr.n > len(rr.lines) {
				more = ", …"
			}
			noun := "lines"
			if rr.n == 1 {
				noun = "line"
			}
			fmt.Fprintf(w, "%s: %d %s rejected as %s (%s %s%s): %s\n", f, rr.n, noun, name, noun, strings.Join(lines, ", "), more, rr.detail)
		}
	}
}
