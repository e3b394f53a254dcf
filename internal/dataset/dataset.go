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
	// reader moves past it; io.EOF ends the input; anything else is fatal.
	Next(rec *Record) error
	// Columns returns the CSV header, or nil for JSON Lines, whose records name
	// their own fields.
	Columns() []string
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
