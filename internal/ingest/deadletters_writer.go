package ingest

import (
	"context"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// run writes the queue in rounds until ctx is done.
func (d *KafkaDeadLetters) run(ctx context.Context) {
	defer close(d.done)
	var (
		msgs    []kafka.Message
		backoff time.Duration
	)
	for {
		d.mu.Lock()
		n := min(len(d.queue)-d.head, d.maxBatch)
		msgs = msgs[:0]
		for _, dl := range d.queue[d.head : d.head+n] {
			msgs = append(msgs, dl.msg)
		}
		d.mu.Unlock()
		if n == 0 {
			select {
			case <-d.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		err := d.writer.WriteMessages(ctx, msgs...)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			d.log.Warn("dead letters not written; retrying", "messages", n, "retry_in", backoff, "err", err)
			d.mu.Lock()
			d.lastErr = err
			d.mu.Unlock()
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		d.completed(n)
		if d.onDurable != nil {
			d.onDurable()
		}
	}
}

// completed marks the n oldest dead letters durable.
func (d *KafkaDeadLetters) completed(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := d.head; i < d.head+n; i++ {
		dl := &d.queue[i]
		dl.counter.Inc()
		d.pending[dl.source].pop()
		d.bytes -= dl.size
		*dl = deadLetter{}
	}
	d.head += n
	d.durable += uint64(n)
	d.lastErr = nil
	// The queue's memory is reused once it drains, and its live part moved
	// down when the dead part outgrows it, so it stays the size of the backlog.
	switch {
	case d.head == len(d.queue):
		d.queue, d.head = d.queue[:0], 0
	case d.head > len(d.queue)-d.head:
		k := copy(d.queue, d.queue[d.head:])
		clear(d.queue[k:])
		d.queue, d.head = d.queue[:k], 0
	}
	close(d.changed)
	d.changed = make(chan struct{})
}

// offsets is a FIFO of source offsets.
type offsets struct {
	o    []int64
	head int
}

func (q *offsets) push(x int64) { q.o = append(q.o, x) }

func (q *offsets) pop() {
	q.head++
	if q.head == len(q.o) {
		q.o, q.head = q.o[:0], 0
	}
}

// prepare builds the dead letter: one buffer holds the key, the value and the
// header values, so that a reject costs two allocations.
func (d *KafkaDeadLetters) prepare(msg Message, reason, detail string) deadLetter {
	if len(detail) > maxDetailBytes {
		detail = detail[:maxDetailBytes]
	}
	key, value := msg.Key, msg.Value
	truncated := len(key) > d.maxValue || len(value) > d.maxValue
	key, value = key[:min(len(key), d.maxValue)], value[:min(len(value), d.maxValue)]
	buf := make([]byte, 0, len(key)+len(value)+len(reason)+len(detail)+len(msg.Topic)+2*20+len("true")+20)
	// since returns what was appended to buf after its first from bytes.
	since := func(from int) []byte { return buf[from:len(buf):len(buf)] }
	headers := make([]kafka.Header, 0, 7)
	add := func(name string, from int) {
		headers = append(headers, kafka.Header{Key: name, Value: since(from)})
	}
	buf = append(buf, key...)
	k := since(0)
	buf = append(buf, value...)
	v := since(len(k))
	n := len(buf)
	buf = append(buf, reason...)
	add(HeaderReason, n)
	n = len(buf)
	buf = append(buf, detail...)
	add(HeaderDetail, n)
	n = len(buf)
	buf = append(buf, msg.Topic...)
	add(HeaderSourceTopic, n)
	n = len(buf)
	buf = strconv.AppendInt(buf, int64(msg.Partition), 10)
	add(HeaderSourcePartition, n)
	n = len(buf)
	buf = strconv.AppendInt(buf, msg.Offset, 10)
	add(HeaderSourceOffset, n)
	if truncated {
		n = len(buf)
		buf = append(buf, "true"...)
		add(HeaderTruncated, n)
		n = len(buf)
		buf = strconv.AppendInt(buf, int64(len(msg.Value)), 10)
		add(HeaderOriginalSize, n)
	}
	if msg.Key == nil {
		k = nil
	}
	c, ok := d.counters[reason]
	if !ok {
		c = d.counters[otherReason]
	}
	return deadLetter{
		msg:    kafka.Message{Key: k, Value: v, Headers: headers},
		source: sourcePartition{msg.Topic, msg.Partition}, offset: msg.Offset,
		counter: c, size: cap(buf),
	}
}
