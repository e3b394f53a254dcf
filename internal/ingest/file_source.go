package ingest

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrLineTooLong is wrapped by the *LineTooLongError FileSource.Fetch returns.
var ErrLineTooLong = errors.New("line too long")

// LineTooLongError reports a line longer than FileSourceOptions.MaxLineBytes. Fetch
// returns it together with a Message holding the line's first MaxLineBytes bytes, so
// the pipeline can dead-letter the line (it will not parse) and go on with the next.
type LineTooLongError struct {
	File  string
	Line  int64
	Limit int
}

func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("%s:%d: longer than %d bytes", e.File, e.Line, e.Limit)
}

func (e *LineTooLongError) Unwrap() error { return ErrLineTooLong }

// FileSourceOptions configure a FileSource.
type FileSourceOptions struct {
	// Path is a JSON Lines file, one event per line.
	Path string
	// MaxLineBytes bounds a line without its line ending, and so the memory the
	// source holds. Zero means 1 MiB.
	MaxLineBytes int
	// Topic names the topic the file was recorded from; empty is the file's
	// base name.
	Topic string
}

// FileSource replays a JSON Lines file as a Source, streaming it in bounded memory.
// Messages have Topic = FileSourceOptions.Topic (the file's base name by default), Partition 0, Offset = the 1-based line
// number (as editors and sed count, so a dead letter points at its line), no Key and
// a zero Time. Blank lines are skipped but counted; a trailing CR is dropped.
//
// A Message's Value is only valid until the next Fetch: it points into the read
// buffer. Commit does nothing: a replay restarts from the top.
type FileSource struct {
	f     *os.File
	r     *bufio.Reader
	name  string
	topic string
	max   int
	line  int64
	// skipping is set while the rest of an over-long line remains to be discarded.
	skipping bool
}

// NewFileSource opens the file.
func NewFileSource(opts FileSourceOptions) (*FileSource, error) {
	if opts.MaxLineBytes < 0 {
		return nil, fmt.Errorf("file source: max line bytes is negative (%d)", opts.MaxLineBytes)
	}
	limit := opts.MaxLineBytes
	if limit == 0 {
		limit = 1 << 20
	}
	f, err := os.Open(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	return &FileSource{
		f: f,
		// Two bytes more than the limit hold a maximal line and its CR LF.
		r:     bufio.NewReaderSize(f, limit+2),
		name:  filepath.Base(opts.Path),
		topic: cmp.Or(opts.Topic, filepath.Base(opts.Path)),
		max:   limit,
	}, nil
}

// Fetch returns the next non-blank line, an error wrapping io.EOF at the end of the
// file, or a *LineTooLongError with the line's truncated start (see its doc).
func (s *FileSource) Fetch(ctx context.Context) (Message, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Message{}, err
		}
		if s.skipping {
			if err := s.skipRest(); err != nil {
				return Message{}, err
			}
		}
		b, err := s.r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			s.line++
			s.skipping = true
			return s.message(b[:s.max]), &LineTooLongError{File: s.name, Line: s.line, Limit: s.max}
		case errors.Is(err, io.EOF) && len(b) == 0:
			return Message{}, fmt.Errorf("read %s after line %d: %w", s.name, s.line, io.EOF)
		case err != nil && !errors.Is(err, io.EOF):
			return Message{}, fmt.Errorf("read %s line %d: %w", s.name, s.line+1, err)
		}
		// A final line without a newline arrives with io.EOF; the next call reports EOF.
		s.line++
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if len(b) > s.max {
			return s.message(b[:s.max]), &LineTooLongError{File: s.name, Line: s.line, Limit: s.max}
		}
		return s.message(b), nil
	}
}

func (s *FileSource) message(value []byte) Message {
	return Message{Topic: s.topic, Partition: 0, Offset: s.line, Value: value}
}

// skipRest discards the remainder of an over-long line, a buffer at a time.
func (s *FileSource) skipRest() error {
	for {
		_, err := s.r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil || errors.Is(err, io.EOF):
			s.skipping = false
			return nil
		default:
			return fmt.Errorf("read %s line %d: %w", s.name, s.line, err)
		}
	}
}

// Commit does nothing; a replay keeps no position.
func (s *FileSource) Commit(context.Context, ...Message) error { return nil }

// Close closes the file.
func (s *FileSource) Close() error {
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.name, err)
	}
	return nil
}
