package ingest

import (
	"context"
	"errors"
	"io"
	"time"
)

// Merged reads several sources as one, in the order of a time each message
// carries: a recording of several topics, each in its own file, played back as
// their messages happened. Each source must be in time order itself.
type Merged struct {
	sources []Source
	timeOf  func([]byte) time.Time
	// pending holds each source's next message, and whether it has one.
	pending []pendingMessage
}

type pendingMessage struct {
	msg  Message
	at   time.Time
	err  error
	full bool
	done bool
}

// Merge returns a source of the messages of sources, earliest timeOf(Value)
// first. A message whose source returned it with an error (an over-long line)
// is passed on with that error, in its turn.
func Merge(timeOf func([]byte) time.Time, sources ...Source) *Merged {
	return &Merged{sources: sources, timeOf: timeOf, pending: make([]pendingMessage, len(sources))}
}

// Fetch returns the earliest pending message; io.EOF once every source is
// exhausted.
func (m *Merged) Fetch(ctx context.Context) (Message, error) {
	for i := range m.sources {
		p := &m.pending[i]
		// Only the source whose message went out last is read: the others'
		// pending values stay valid, since their sources are not read.
		if p.full || p.done {
			continue
		}
		msg, err := m.sources[i].Fetch(ctx)
		if errors.Is(err, io.EOF) {
			p.done = true
			continue
		}
		var tooLong *LineTooLongError
		if err != nil && !errors.As(err, &tooLong) {
			return Message{}, err
		}
		*p = pendingMessage{msg: msg, at: m.timeOf(msg.Value), err: err, full: true}
	}
	best := -1
	for i := range m.pending {
		if p := &m.pending[i]; p.full && (best < 0 || p.at.Before(m.pending[best].at)) {
			best = i
		}
	}
	if best < 0 {
		return Message{}, io.EOF
	}
	p := &m.pending[best]
	p.full = false
	return p.msg, p.err
}

// Commit does nothing: a recording restarts from the top.
func (m *Merged) Commit(context.Context, ...Message) error { return nil }

// Close closes every source.
func (m *Merged) Close() error {
	var errs []error
	for _, s := range m.sources {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
