package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/sentinel-ml/sentinel/internal/event"
)

// MaxQuotedLines bounds the lines one quoted cell may span. Legitimate
// multi-line cells (an address, a comment) are a few lines long; a stray quote
// would otherwise swallow the rest of the file into one cell.
const MaxQuotedLines = 100

// CSV reads RFC 4180 CSV with a header row. It does its own splitting rather than
// use encoding/csv so that cells are views into one reused buffer: the record loop
// allocates nothing.
//
// A quote opens a quoted cell only at the start of a cell, as in RFC 4180; one
// inside an unquoted cell is a character like any other. A quoted cell may
// continue on the next lines. When such a record turns out damaged (the quote
// is never closed, something other than a comma follows the closing quote, the
// cell spans more than MaxQuotedLines lines, or the record has not the header's
// number of cells), its first line is reported as malformed_csv and reading
// resumes on the line after it: one stray quote costs one row, not the rest of
// the file.
type CSV struct {
	r      *bufio.Reader
	header []string
	names  [][]byte
	// line is the number of physical lines consumed.
	line int
	buf  []byte // a record joined from several lines
	long []byte // a line longer than the reader's buffer
	// pending holds whole lines given back after a damaged record, read before
	// r; queued is a too-long line's error found while joining, returned once
	// pending is read.
	pending []byte
	queued  *RowError
	unq     []byte // unquoted cells
	fields  []event.Field
	tally   tally
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

// Unreadable lists the rows that could not be read so far, by reason.
func (c *CSV) Unreadable() []Unreadable { return c.tally.unreadable() }

// Next reads the next row. At the end of the input it returns io.EOF, or a
// *MostlyUnreadableError when more than half of the rows could not be read.
func (c *CSV) Next(rec *Record) error {
	err := c.next(rec, c.names)
	return c.tally.count(err)
}

func (c *CSV) next(rec *Record, names [][]byte) error {
	start := c.line + 1
	line, lines, err := c.readRecord()
	if err != nil {
		return err
	}
	c.fields = c.fields[:0]
	// Unquoted cells are never longer than the record, so unq never reallocates
	// while cells point into it.
	if cap(c.unq) < len(line) {
		c.unq = make([]byte, 0, len(line))
	}
	c.unq = c.unq[:0]
	extra, cells := 0, 0
	for col := 0; ; col++ {
		var cell []byte
		cell, line, err = c.cell(line)
		if err != nil {
			return c.damaged(start, lines, err)
		}
		cells++
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
	if lines > 1 && names != nil && cells != len(names) {
		// A quoted cell spanning lines that leaves the row with the wrong number
		// of cells is far likelier a stray quote than a multi-line value.
		return c.damaged(start, lines, fmt.Errorf("a quoted cell spans lines %d to %d and leaves %d cells for %d columns", start, start+lines-1, cells, len(names)))
	}
	*rec = Record{Line: start, Fields: c.fields, Text: true, Extra: extra}
	return nil
}

// damaged reports the first line of a record as malformed and, when the record
// spanned several lines, gives the others back to be read again.
func (c *CSV) damaged(start, lines int, err error) error {
	if lines > 1 {
		first := bytes.IndexByte(c.buf, '\n') + 1
		c.giveBack(c.buf[first:], lines-1)
	}
	return &RowError{Line: start, Reason: "malformed_csv", Err: err}
}

// giveBack returns n whole lines to be read again before the rest of the input.
func (c *CSV) giveBack(b []byte, n int) {
	pending := make([]byte, 0, len(b)+len(c.pending))
	c.pending = append(append(pending, b...), c.pending...)
	c.line -= n
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

// readRecord returns the next record's bytes without the line ending, joining
// lines while a quoted cell is open, and the number of lines it spans.
func (c *CSV) readRecord() ([]byte, int, error) {
	first, err := c.readLine()
	if err != nil {
		return nil, 0, err
	}
	state := scanQuotes(first, false)
	if state != quoteOpen {
		// The common case: a whole record in one line, no copy. A malformed one
		// is reported when it is split into cells.
		return trimEOL(first), 1, nil
	}
	c.buf = append(c.buf[:0], first...)
	start := c.line
	for lines := 1; ; lines++ {
		if lines == MaxQuotedLines {
			return nil, 0, c.damaged(start, lines, fmt.Errorf("quoted cell still open after %d lines", MaxQuotedLines))
		}
		next, err := c.readLine()
		var rowErr *RowError
		switch {
		case errors.Is(err, io.EOF):
			return nil, 0, c.damaged(start, lines, errors.New("unterminated quoted cell"))
		case errors.As(err, &rowErr):
			// A too-long line ends the join; it is reported after the lines
			// given back, in the order of the file.
			c.queued = rowErr
			c.line--
			return nil, 0, c.damaged(start, lines, errors.New("unterminated quoted cell"))
		case err != nil:
			return nil, 0, err
		}
		if len(c.buf)+len(next) > MaxRecordBytes {
			c.buf = append(c.buf, next...)
			return nil, 0, c.damaged(start, lines+1, fmt.Errorf("quoted cell longer than %d bytes", MaxRecordBytes))
		}
		c.buf = append(c.buf, next...)
		switch scanQuotes(next, true) {
		case quoteClosed:
			return trimEOL(c.buf), lines + 1, nil
		case quoteMalformed:
			return nil, 0, c.damaged(start, lines+1, errors.New("a quoted cell spanning lines is malformed"))
		}
	}
}

// readLine returns the next physical line with its '\n' (absent at the end of
// the input), valid until the next call, and counts it.
func (c *CSV) readLine() ([]byte, error) {
	if len(c.pending) > 0 {
		c.line++
		i := bytes.IndexByte(c.pending, '\n')
		if i < 0 {
			// Only the input's last line has no line end.
			i = len(c.pending) - 1
		}
		line := c.pending[:i+1]
		c.pending = c.pending[i+1:]
		return line, nil
	}
	if c.queued != nil {
		err := c.queued
		c.queued = nil
		c.line++
		return nil, err
	}
	chunk, err := c.r.ReadSlice('\n')
	switch {
	case err == nil:
		c.line++
		return chunk, nil
	case errors.Is(err, io.EOF):
		if len(chunk) == 0 {
			return nil, io.EOF
		}
		c.line++
		return chunk, nil
	case !errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("reading CSV: %w", err)
	}
	c.long = append(c.long[:0], chunk...)
	for {
		chunk, err = c.r.ReadSlice('\n')
		if len(c.long)+len(chunk) > MaxRecordBytes {
			c.line++
			return nil, c.skipLine(err)
		}
		c.long = append(c.long, chunk...)
		switch {
		case err == nil || errors.Is(err, io.EOF):
			c.line++
			return c.long, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, fmt.Errorf("reading CSV: %w", err)
		}
	}
}

// skipLine discards the rest of an oversized line; err is the last read's.
func (c *CSV) skipLine(err error) error {
	for errors.Is(err, bufio.ErrBufferFull) {
		_, err = c.r.ReadSlice('\n')
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading CSV: %w", err)
	}
	return &RowError{Line: c.line, Reason: "too_long", Err: fmt.Errorf("record longer than %d bytes", MaxRecordBytes)}
}

type quoteState int

const (
	quoteClosed    quoteState = iota // the record ends with this line
	quoteOpen                        // a quoted cell goes on to the next line
	quoteMalformed                   // a closing quote is followed by something other than a comma
)

// scanQuotes follows RFC 4180 quoting through one line, which starts inside a
// quoted cell when inQuotes: a quote opens a quoted cell only at a cell's
// start; inside one, "" is a quote and a lone quote closes the cell.
func scanQuotes(line []byte, inQuotes bool) quoteState {
	if !inQuotes && bytes.IndexByte(line, '"') < 0 {
		return quoteClosed
	}
	cellStart := !inQuotes
	for i := 0; i < len(line); {
		switch {
		case inQuotes:
			j := bytes.IndexByte(line[i:], '"')
			if j < 0 {
				return quoteOpen
			}
			i += j + 1
			if i < len(line) && line[i] == '"' {
				i++
				continue
			}
			inQuotes = false
			if i < len(line) && line[i] != ',' && line[i] != '\n' && line[i] != '\r' {
				return quoteMalformed
			}
			if i < len(line) && line[i] == ',' {
				i++
				cellStart = true
			}
		case cellStart && line[i] == '"':
			inQuotes, cellStart = true, false
			i++
		default:
			j := bytes.IndexByte(line[i:], ',')
			if j < 0 {
				return quoteClosed
			}
			i += j + 1
			cellStart = true
		}
	}
	if inQuotes {
		return quoteOpen
	}
	return quoteClosed
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}
