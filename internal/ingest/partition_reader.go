package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Reader reads partition number k of every topic from the generation's
// offsets. With several topics and KafkaOptions.EventTime, their messages
// come in event time order, as a recording of the partition holds them.
func (gen *Generation) Reader(k int) *PartitionReader {
	g := gen.g
	r := &PartitionReader{ch: make(chan Fetched, fetchAhead), stop: make(chan struct{}), metrics: g.metrics}
	for _, topic := range g.opts.Topics {
		offset, ok := gen.start[topic][k]
		if !ok {
			offset = g.opts.startOffset()
		}
		kr := kafka.NewReader(kafka.ReaderConfig{
			Brokers:        g.opts.Brokers,
			Topic:          topic,
			Partition:      k,
			Dialer:         g.opts.dialer(g.tlsConfig, g.mech),
			MinBytes:       g.opts.MinBytes,
			MaxBytes:       g.opts.MaxBytes,
			MaxWait:        g.opts.maxWait(),
			IsolationLevel: kafka.ReadCommitted,
			Logger:         slogLogger(g.log, slog.LevelDebug),
			ErrorLogger:    slogLogger(g.log, slog.LevelWarn),
		})
		if err := kr.SetOffset(offset); err != nil {
			// A reader not yet started accepts any offset; this cannot fail.
			g.log.Error("setting a reader's offset", "topic", topic, "partition", k, "err", err)
		}
		r.readers = append(r.readers, kr)
	}
	ordered := len(r.readers) > 1 && g.opts.EventTime != nil
	if ordered {
		r.wake = make(chan struct{}, 1)
	}
	for _, kr := range r.readers {
		var f *feed
		if ordered {
			f = &feed{ch: make(chan Fetched, fetchAhead)}
			r.feeds = append(r.feeds, f)
		}
		r.wg.Add(1)
		go r.fetch(kr, f)
	}
	if ordered {
		r.wg.Add(1)
		go r.merge(g.opts.EventTime(), max(5*time.Second, 2*g.opts.maxWait()))
	}
	return r
}

// fetchAhead bounds the messages fetched but not yet processed per partition:
// a handful of batches' worth, which also bounds what an outage downstream
// leaves in memory.
const fetchAhead = 512

// Fetched is a message read, or what stopped the reading of its topic.
type Fetched struct {
	Msg Message
	Err error
}

// PartitionReader reads one partition number of every topic of a group, each
// topic in order, the topics' messages interleaved as they arrive or, with
// an event time, by it.
type PartitionReader struct {
	readers []*kafka.Reader
	ch      chan Fetched
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	metrics *groupMetrics
	// feeds are the topics' messages before the merge by event time, and
	// wake tells the merge that one of them moved.
	feeds []*feed
	wake  chan struct{}
}

// feed is one topic's messages on their way to the merge.
type feed struct {
	ch chan Fetched
	// atEnd says the topic's last message read was the last of its
	// partition: an empty feed then has nothing to wait for.
	atEnd atomic.Bool
}

func (r *PartitionReader) fetch(kr *kafka.Reader, f *feed) {
	defer r.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-r.stop
		cancel()
	}()
	out := r.ch
	if f != nil {
		out = f.ch
		// Whether there is anything to wait for before the first message.
		if lag, err := kr.ReadLag(ctx); err == nil && lag <= 0 {
			f.atEnd.Store(true)
			r.poke()
		}
	}
	for {
		m, err := kr.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// kafka-go's partition reader retries the network itself; an error
			// here is what it gave up on (an offset out of range, a closed
			// reader). The consumer of the reader decides.
			select {
			case out <- Fetched{Err: fmt.Errorf("reading %s/%d: %w", kr.Config().Topic, kr.Config().Partition, err)}:
				r.poke()
			case <-r.stop:
			}
			return
		}
		r.metrics.messages.WithLabelValues(m.Topic).Inc()
		r.metrics.bytes.WithLabelValues(m.Topic).Add(float64(len(m.Key) + len(m.Value)))
		msg := Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time}
		select {
		case out <- Fetched{Msg: msg}:
		case <-r.stop:
			return
		}
		if f != nil {
			// After the send: while the message is on its way, the merge
			// knows there is more to come.
			f.atEnd.Store(m.Offset+1 >= m.HighWaterMark)
			r.poke()
		}
	}
}

// poke wakes the merge, if it waits.
func (r *PartitionReader) poke() {
	if r.wake == nil {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// merge passes the feeds' messages on earliest event time first, as Kafka
// Streams synchronises a task's co-partitioned inputs: a label is joined, and
// scores, as it would in the recording of the partition, whichever topic the
// broker serves faster. A feed that is empty with more to read holds the
// others back; one at the end of its partition does not (a labels topic
// behind the events in time, as delayed labels are, is then read as they
// come), and neither does one empty for longer than patience, which a
// partition ending in transaction markers would otherwise hold for ever.
func (r *PartitionReader) merge(timeOf func([]byte) time.Time, patience time.Duration) {
	defer r.wg.Done()
	type head struct {
		f    Fetched
		at   time.Time
		full bool
		// stalled: the feed outwaited patience, and is not waited for
		// again until it delivers.
		stalled bool
	}
	heads := make([]head, len(r.feeds))
	timer := time.NewTimer(patience)
	defer timer.Stop()
	var waiting time.Time
	for {
		best, blocked := -1, false
		for i, f := range r.feeds {
			h := &heads[i]
			if !h.full {
				select {
				case fe := <-f.ch:
					*h = head{f: fe, full: true}
					if fe.Err == nil {
						h.at = timeOf(fe.Msg.Value)
					}
				default:
					blocked = blocked || !h.stalled && !f.atEnd.Load()
					continue
				}
			}
			switch {
			case best < 0, h.f.Err != nil:
				best = i
			case heads[best].f.Err == nil && h.at.Before(heads[best].at):
				best = i
			}
		}
		if best < 0 {
			select {
			case <-r.wake:
			case <-r.stop:
				return
			}
			continue
		}
		if blocked && heads[best].f.Err == nil {
			if waiting.IsZero() {
				waiting = time.Now()
			}
			if left := patience - time.Since(waiting); left > 0 {
				timer.Reset(left)
				select {
				case <-r.wake:
				case <-timer.C:
				case <-r.stop:
					return
				}
				continue
			}
			for i, f := range r.feeds {
				if h := &heads[i]; !h.full && !f.atEnd.Load() {
					h.stalled = true
				}
			}
		}
		waiting = time.Time{}
		select {
		case r.ch <- heads[best].f:
			heads[best] = head{}
		case <-r.stop:
			return
		}
	}
}

// C delivers the messages of every topic of the partition as they are read.
func (r *PartitionReader) C() <-chan Fetched { return r.ch }

// Buffered returns a message already read, without waiting.
func (r *PartitionReader) Buffered() (Fetched, bool) {
	select {
	case f := <-r.ch:
		return f, true
	default:
		return Fetched{}, false
	}
}

// CaughtUp reports whether nothing fetched waits and each topic's reader had
// read to the end of its partition at its last message.
func (r *PartitionReader) CaughtUp() bool {
	if len(r.ch) > 0 {
		return false
	}
	for _, f := range r.feeds {
		if len(f.ch) > 0 {
			return false
		}
	}
	for _, kr := range r.readers {
		if kr.Lag() > 0 {
			return false
		}
	}
	return true
}

// Close stops fetching and closes the readers.
func (r *PartitionReader) Close() error {
	var errs []error
	r.once.Do(func() {
		close(r.stop)
		for _, kr := range r.readers {
			errs = append(errs, kr.Close())
		}
		r.wg.Wait()
	})
	return errors.Join(errs...)
}
