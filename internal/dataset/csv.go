package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/sentinel-ml/sentinel/internal/event"
)

// CSV reads RFC 4180 CSV with a header row. It does its own splitting rather than
// use encoding/csv so that cells are views into one reused buffer: the record loop
// allocates nothing.
type CSV struct {
	r      *bufio.Reader
	header []string
	names  [][]byte
	line   int
	buf    []byte // the raw record
	unq    []byte // unquoted cells
	fields []event.Field
}

// NewCSV reads the header row of r. It returns io.EOF for an empty input.
func NewCSV(r io.Reader) (*CSV, error) {
	c := &CSV{r: bufio.NewReaderSize(r, 1<<16)}
	var rec Record
	if err := c.next(&rec, nil); err != nil {
		var rowErr *RowError
		if errors.As(err, &rowErr) {
			return nil, fmt.Errorf("reading header: %w", err)
		}
		return nil, err
	}
	seen := make(map[string]bool, len(rec.Fields))
	for i, f := range rec.Fields {
		cell := f.Value.Str
		if i == 0 {
			cell = bytes.TrimPrefix(cell, []byte("\ufeff"))
		}
		name := string(bytes.TrimSpace(cell))
		if name == "" {
			return nil, fmt.Errorf("header column %d has no name", i+1)
		}
		if seen[name] {
			return nil, fmt.Errorf("header names column %q twice", name)
		}
		seen[name] = true
		c.header = append(c.header, name)
		c.names = append(c.names, []byte(name))
	}
	return c, nil
}

// Columns returns the header.
func (c *CSV) Columns() []string { return c.header }

// Next reads the next row.
func (c *CSV) Next(rec *Record) error { return c.next(rec, c.names) }

func (c *CSV) next(rec *Record, names [][]byte) error {
	start := c.line + 1
	line, err := c.readRecord()
	if err != nil {
		if rowErr := (*RowError)(nil); errors.As(err, &rowErr) {
			rowErr.Line = start
		}
		return err
	}
	c.fields = c.fields[:0]
	// Unquoted cells are never longer than the record, so unq never reallocates
	// while cells point into it.
	if cap(c.unq) < len(line) {
		c.unq = make([]byte, 0, len(line))
	}
	c.unq = c.unq[:0]
	extra := 0
	for col := 0; ; col++ {
		var cell []byte
		cell, line, err = c.cell(line)
		if err != nil {
			return &RowError{Line: start, Reason: "malformed_csv", Err: err}
		}
		if names == nil || col < len(names) {
			f := event.Field{Value: event.Value{Kind: event.KindString, Str: cell}}
			if names != nil {
				f.Name = names[col]
			}
			if len(cell) == 0 {
				f.Value.Kind = event.KindNull
			}
			c.fields = append(c.fields, f)
		} else {
			extra++
		}
		if line == nil {
			break
		}
	}
	*rec = Record{Line: start, Fields: c.fields, Text: true, Extra: extra}
	return nil
}

// cell splits the first cell off line; rest is nil after the last cell.
func (c *CSV) cell(line []byte) (cell, rest []byte, err error) {
	if len(line) == 0 || line[0] != '"' {
		i := bytes.IndexByte(line, ',')
		if i < 0 {
			return line, nil, nil
		}
		return line[:i], line[i+1:], nil
	}
	begin := len(c.unq)
	for i := 1; i < len(line); i++ {
		if line[i] != '"' {
			c.unq = append(c.unq, line[i])
			continue
		}
		if i+1 < len(line) && line[i+1] == '"' {
			c.unq = append(c.unq, '"')
			i++
			continue
		}
		cell = c.unq[begin:len(c.unq):len(c.unq)]
		switch {
		case i+1 == len(line):
			return cell, nil, nil
		case line[i+1] == ',':
			return cell, line[i+2:], nil
		default:
			return nil, nil, fmt.Errorf("unexpected %q after closing quote", line[i+1])
		}
	}
	return nil, nil, errors.New("unterminated quoted cell")
}

// readRecord returns the next record's bytes without the line ending, joining lines
// while a quoted cell is open.
func (c *CSV) readRecord() ([]byte, error) {
	c.buf = c.buf[:0]
	quotes := 0
	for {
		chunk, err := c.r.ReadSlice('\n')
		if err == nil {
			c.line++
		}
		quotes += bytes.Count(chunk, []byte{'"'})
		switch {
		case err == nil && quotes%2 == 0 && len(c.buf) == 0:
			// The common case: a whole record in the reader's buffer, no copy.
			return trimEOL(chunk), nil
		case err == nil || errors.Is(err, bufio.ErrBufferFull):
			c.buf = append(c.buf, chunk...)
			if len(c.buf) > MaxRecordBytes {
				if err == nil {
					return nil, errTooLong()
				}
				return nil, c.skipRecord()
			}
			if err == nil && quotes%2 == 0 {
				return trimEOL(c.buf), nil
			}
		case errors.Is(err, io.EOF):
			c.buf = append(c.buf, chunk...)
			if len(c.buf) == 0 {
				return nil, io.EOF
			}
			c.line++
			return trimEOL(c.buf), nil
		default:
			return nil, fmt.Errorf("reading CSV: %w", err)
		}
	}
}

// skipRecord discards the rest of an oversized line.
func (c *CSV) skipRecord() error {
	for {
		_, err := c.r.ReadSlice('\n')
		if err == nil || errors.Is(err, io.EOF) {
			c.line++
			return errTooLong()
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("reading CSV: %w", err)
		}
	}
}

func errTooLong() error {
	return &RowError{Reason: "too_long", Err: fmt.Errorf("record longer than %d bytes", MaxRecordBytes)}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}
