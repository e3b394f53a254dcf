package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/sentinel-ml/sentinel/internal/event"
)

// JSONL reads one JSON object per line: a flat object whose members are features,
// or an event envelope whose "features" object holds them. Blank lines are skipped.
type JSONL struct {
	r     *bufio.Reader
	dec   *event.Decoder
	ev    event.Event
	line  int
	buf   []byte
	tally tally
}

// NewJSONL returns a reader of r.
func NewJSONL(r io.Reader) *JSONL {
	return &JSONL{r: bufio.NewReaderSize(r, 1<<16), dec: event.NewDecoder(event.Options{})}
}

// Columns returns nil: JSON records name their own fields.
func (j *JSONL) Columns() []string { return nil }

// Unreadable lists the lines that could not be read so far, by reason.
func (j *JSONL) Unreadable() []Unreadable { return j.tally.unreadable() }

// Next reads the next non-blank line. At the end of the input it returns
// io.EOF, or a *MostlyUnreadableError when more than half of the lines could
// not be read.
func (j *JSONL) Next(rec *Record) error { return j.tally.count(j.next(rec)) }

func (j *JSONL) next(rec *Record) error {
	for {
		line, err := j.readLine()
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := j.dec.Decode(line, &j.ev); err != nil {
			return &RowError{Line: j.line, Reason: string(event.ReasonOf(err)), Err: err}
		}
		*rec = Record{Line: j.line, Fields: j.ev.Features}
		return nil
	}
}

func (j *JSONL) readLine() ([]byte, error) {
	j.buf = j.buf[:0]
	for {
		chunk, err := j.r.ReadSlice('\n')
		switch {
		case err == nil && len(j.buf) == 0:
			j.line++
			return chunk, nil
		case err == nil:
			j.line++
			return append(j.buf, chunk...), nil
		case errors.Is(err, bufio.ErrBufferFull):
			j.buf = append(j.buf, chunk...)
			if len(j.buf) > MaxRecordBytes {
				return nil, j.skipLine()
			}
		case errors.Is(err, io.EOF):
			if len(chunk) == 0 && len(j.buf) == 0 {
				return nil, io.EOF
			}
			j.line++
			return append(j.buf, chunk...), nil
		default:
			return nil, fmt.Errorf("reading JSON lines: %w", err)
		}
	}
}

func (j *JSONL) skipLine() error {
	j.line++
	start := j.line
	for {
		_, err := j.r.ReadSlice('\n')
		switch {
		case err == nil || errors.Is(err, io.EOF):
			return &RowError{Line: start, Reason: "too_long", Err: fmt.Errorf("line longer than %d bytes", MaxRecordBytes)}
		case !errors.Is(err, bufio.ErrBufferFull):
			return fmt.Errorf("reading JSON lines: %w", err)
		}
	}
}
