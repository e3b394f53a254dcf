package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/segmentio/kafka-go"
)

// Reader reads partition number k of every topic from the generation's
// offsets.
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
	for _, kr := range r.readers {
		r.wg.Add(1)
		go r.fetch(kr)
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

// PartitionReader reads one partition number of every topic of a group, the
// topics' messages interleaved as they arrive, each topic in order.
type PartitionReader struct {
	readers []*kafka.Reader
	ch      chan Fetched
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	metrics *groupMetrics
}

func (r *PartitionReader) fetch(kr *kafka.Reader) {
	defer r.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-r.stop
		cancel()
	}()
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
			case r.ch <- Fetched{Err: fmt.Errorf("reading %s/%d: %w", kr.Config().Topic, kr.Config().Partition, err)}:
			case <-r.stop:
			}
			return
		}
		r.metrics.messages.WithLabelValues(m.Topic).Inc()
		r.metrics.bytes.WithLabelValues(m.Topic).Add(float64(len(m.Key) + len(m.Value)))
		msg := Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time}
		select {
		case r.ch <- Fetched{Msg: msg}:
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
