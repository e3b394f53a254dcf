// Package dataset streams records from the files that offline commands read:
// CSV with a header row, or JSON Lines (flat objects or event envelopes). Records
// are reused between calls, so memory does not grow with the number of rows.
package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sentinel-ml/sentinel/internal/event"
)

// MaxRecordBytes bounds one record, so that a file without line breaks cannot make a
// reader buffer it whole.
const MaxRecordBytes = 16 << 20

// Record is one row. Its slices are valid until the next call to Next.
type Record struct {
	// Line is the line number where the record starts, for messages.
	Line int
	// Fields are the record's values by name. For CSV, Fields[i] is header column i
	// and values are untyped text (Text is true); an empty cell is a null.
	Fields []event.Field
	Text   bool
	// Extra counts cells beyond the header (CSV).
	Extra int
}

// RowError is a record that could not be read; the reader stays usable and the
// caller counts the row rather than giving up on the file.
type RowError struct {
	Line   int
	Reason string // short machine-readable reason, e.g. "invalid_json"
	Err    error
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *RowError) Unwrap() error { return e.Err }

// Reader yields records until io.EOF.
type Reader interface {
	// Next reads the next record into rec. A *RowError reports a bad row and the
	// reader moves past it; io.EOF ends the input; anything else is fatal,
	// among them a *MostlyUnreadableError in place of io.EOF.
	Next(rec *Record) error
	// Columns returns the CSV header, or nil for JSON Lines, whose records name
	// their own fields.
	Columns() []string
	// Unreadable lists the rows that could not be read so far, by reason.
	Unreadable() []Unreadable
}

// FirstLines is how many line numbers are kept per kind of unreadable row: enough
// to find the damage, few enough for a report.
const FirstLines = 5

// Unreadable counts the rows that could not be read for one reason.
type Unreadable struct {
	Reason string
	Count  uint64
	// Lines are the first FirstLines of them, ascending.
	Lines []int
}

func (u Unreadable) String() string {
	lines := make([]string, len(u.Lines))
	for i, l := range u.Lines {
		lines[i] = strconv.Itoa(l)
	}
	where := "line"
	switch {
	case u.Count > uint64(len(u.Lines)):
		where = "first at lines"
	case len(u.Lines) > 1:
		where = "lines"
	}
	return fmt.Sprintf("%d %s (%s %s)", u.Count, u.Reason, where, strings.Join(lines, ", "))
}

// MostlyUnreadableError ends an input whose rows mostly could not be read: the
// few that could are no sample of anything, and judging them would turn a broken
// file into a verdict on the data.
type MostlyUnreadableError struct {
	Rows, UnreadableRows uint64
	Kinds                []Unreadable
}

func (e *MostlyUnreadableError) Error() string {
	kinds := make([]string, len(e.Kinds))
	for i, k := range e.Kinds {
		kinds[i] = k.String()
	}
	return fmt.Sprintf("%d of %d rows could not be read (%s): more than half, so the file is refused rather than judged on the rest",
		e.UnreadableRows, e.Rows, strings.Join(kinds, "; "))
}

// tally counts a reader's rows, readable or not, and keeps the first lines of
// each kind of unreadable row.
type tally struct {
	rows, bad uint64
	kinds     []Unreadable
}

// count notes the outcome of one Next and returns what Next returns: err, or at
// the end of a mostly unreadable input, the error that says so.
func (t *tally) count(err error) error {
	if err == nil {
		t.rows++
		return nil
	}
	// Declared past the common case: errors.As makes it escape, one allocation.
	var rowErr *RowError
	switch {
	case errors.As(err, &rowErr):
		t.rows++
		t.bad++
		i := slices.IndexFunc(t.kinds, func(u Unreadable) bool { return u.Reason == rowErr.Reason })
		if i < 0 {
			t.kinds = append(t.kinds, Unreadable{Reason: rowErr.Reason})
			i = len(t.kinds) - 1
		}
		u := &t.kinds[i]
		u.Count++
		if len(u.Lines) < FirstLines {
			u.Lines = append(u.Lines, rowErr.Line)
		}
	case errors.Is(err, io.EOF) && 2*t.bad > t.rows:
		return &MostlyUnreadableError{Rows: t.rows, UnreadableRows: t.bad, Kinds: t.unreadable()}
	}
	return err
}

func (t *tally) unreadable() []Unreadable {
	out := make([]Unreadable, len(t.kinds))
	for i, u := range t.kinds {
		u.Lines = slices.Clone(u.Lines)
		out[i] = u
	}
	slices.SortFunc(out, func(a, b Unreadable) int { return strings.Compare(a.Reason, b.Reason) })
	return out
}

// File is a Reader over an open file.
type File struct {
	Reader
	f *os.File
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Open opens a CSV (.csv) or JSON Lines (.jsonl, .ndjson, .json) file.
func Open(path string) (*File, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".csv", ".jsonl", ".ndjson", ".json":
	default:
		return nil, fmt.Errorf("%s: unknown file type %q (want .csv, .jsonl or .ndjson)", path, ext)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening input: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	var r Reader
	if ext == ".csv" {
		r, err = NewCSV(f)
	} else {
		r = NewJSONL(f)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: file is empty", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{Reader: r, f: f}, nil
}

// ForEach calls record for each record of r and rowError for each unreadable row,
// until the input ends (nil), ctx is done or reading fails.
func ForEach(ctx context.Context, r Reader, record func(*Record), rowError func(*RowError)) error {
	var rec Record
	var rowErr *RowError
	for n := 0; ; n++ {
		// Checking the context every row would cost more than the row.
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		err := r.Next(&rec)
		switch {
		case err == nil:
			record(&rec)
		case errors.As(err, &rowErr):
			rowError(rowErr)
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}
