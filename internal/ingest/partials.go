package ingest

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// PartialsOptions configure the writer of the partials topic, through which
// the profile stage hands window shares and partition reports to the check
// stage.
type PartialsOptions struct {
	KafkaConn
	// Topic is the partials topic; Partitions its partition count, which
	// decides each model's partition.
	Topic      string
	Partitions int
	// CheckGroup is the check stage's group, whose committed offsets Tail
	// reads from.
	CheckGroup string
	// QueueMessages and QueueBytes bound the records enqueued and not yet
	// durable; Share and Broadcast block while either is reached. Zero means
	// 10,000 and 256 MiB.
	QueueMessages, QueueBytes int
	// BatchTimeout is how long a round waits to fill its produce requests;
	// zero means 5ms. WriteTimeout bounds one produce request; zero means 10s.
	BatchTimeout, WriteTimeout time.Duration
	// Logger receives kafka-go's errors at warn level, and failed rounds.
	Logger *slog.Logger
	// Registerer, when set, takes the writer's metrics until Close.
	Registerer prometheus.Registerer
}

// Validate reports every problem with the options at once.
func (o PartialsOptions) Validate() error {
	errs := o.KafkaConn.validate()
	if o.Topic == "" {
		errs = append(errs, errors.New("partials topic is empty"))
	}
	if o.CheckGroup == "" {
		errs = append(errs, errors.New("the check stage's group is empty"))
	}
	if o.Partitions < 1 {
		errs = append(errs, fmt.Errorf("the partials topic has %d partitions, want at least one", o.Partitions))
	}
	if o.QueueMessages < 0 || o.QueueBytes < 0 || o.BatchTimeout < 0 || o.WriteTimeout < 0 {
		errs = append(errs, errors.New("queue bounds and timeouts must not be negative"))
	}
	return errors.Join(errs...)
}

// PartitionOf is the partition of a topic of n partitions that records
// keyed by key go to: FNV-1a of the key, so that the profile stage, which
// writes a model's shares, and the check stage, which must know which models
// the partitions it was assigned hold, agree without asking each other.
func PartitionOf(key string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// PartialsWriter writes records to the partials topic with acks=all, in the
// order they were enqueued, one round in flight at a time, and calls each
// record's done once it is durable, in that order: the profile stage commits
// a source partition's offsets behind a share only then. A round that fails
// is written again after a backoff, so a record may be written twice, never
// lost; the check stage reads a share again as the same share.
type PartialsWriter struct {
	writer     *kafka.Writer
	transport  *kafka.Transport
	conn       KafkaConn
	tlsConfig  *tls.Config
	mech       sasl.Mechanism
	topic      string
	partitions int
	checkGroup string
	log        *slog.Logger

	queueMsgs, queueBytes int

	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	queue   []partialRecord
	bytes   int
	changed chan struct{}
	lastErr error
	closed  bool

	closeOnce sync.Once
	closeErr  error

	written, failures prometheus.Counter
	reg               *registration
}

// partialRecord is a record waiting to be durable; done, when set, is called
// once it is (on the last record of a broadcast).
type partialRecord struct {
	msg       kafka.Message
	partition int
	done      func()
}

// partitionHeader carries a record's partition to the writer's balancer:
// kafka-go's writer chooses partitions itself, by balancer, never from the
// message.
const partitionHeader = "sentinel-partition"

// NewPartialsWriter validates opts and starts the goroutine that writes;
// Close stops it.
func NewPartialsWriter(opts PartialsOptions) (*PartialsWriter, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("partials options: %w", err)
	}
	tlsConfig, mech, err := opts.security()
	if err != nil {
		return nil, fmt.Errorf("partials: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "ingest", "partials_topic", opts.Topic)
	transport := opts.transport(tlsConfig, mech, []string{opts.Topic})
	ctx, cancel := context.WithCancel(context.Background())
	w := &PartialsWriter{
		writer: &kafka.Writer{
			Addr:         kafka.TCP(opts.Brokers...),
			Topic:        opts.Topic,
			Balancer:     headerBalancer{},
			RequiredAcks: kafka.RequireAll,
			// Shares are a window's profiles, tens of kilobytes each:
			// compressed, a round of them stays under the broker's limits.
			Compression:  kafka.Snappy,
			BatchBytes:   roundBytes,
			BatchSize:    roundRecords,
			BatchTimeout: cmp.Or(opts.BatchTimeout, 5*time.Millisecond),
			WriteTimeout: opts.WriteTimeout,
			Transport:    transport,
			ErrorLogger:  slogLogger(log, slog.LevelWarn),
		},
		transport:  transport,
		conn:       opts.KafkaConn,
		tlsConfig:  tlsConfig,
		mech:       mech,
		topic:      opts.Topic,
		partitions: opts.Partitions,
		checkGroup: opts.CheckGroup,
		log:        log,
		queueMsgs:  cmp.Or(opts.QueueMessages, 10_000),
		queueBytes: cmp.Or(opts.QueueBytes, 256<<20),
		wake:       make(chan struct{}, 1),
		cancel:     cancel,
		done:       make(chan struct{}),
		changed:    make(chan struct{}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "sentinel_partials_records_total",
			Help: "Records of the partials topic made durable: window shares, partition reports and releases."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "sentinel_partials_write_failures_total",
			Help: "Rounds of partials records that failed to write, each retried: the source offsets behind them wait."}),
	}
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sentinel_partials_queued_records",
		Help: "Partials records enqueued and not yet durable; at the queue's bound the profile stage stops reading."},
		func() float64 {
			w.mu.Lock()
			defer w.mu.Unlock()
			return float64(len(w.queue))
		})
	if w.reg, err = register(opts.Registerer, w.written, w.failures, queued); err != nil {
		cancel()
		return nil, fmt.Errorf("partials: register metrics: %w", err)
	}
	go w.run(ctx)
	return w, nil
}

// headerBalancer sends a record to the partition its header names.
type headerBalancer struct{}

func (headerBalancer) Balance(msg kafka.Message, partitions ...int) int {
	for _, h := range msg.Headers {
		if h.Key == partitionHeader {
			if p, err := strconv.Atoi(string(h.Value)); err == nil && p >= 0 && p < len(partitions) {
				return partitions[p]
			}
		}
	}
	return partitions[0]
}

// Share enqueues value, keyed by key, for the partition PartitionOf gives;
// done is called once it is durable. It blocks only while the queue is full.
func (w *PartialsWriter) Share(ctx context.Context, key string, value []byte, done func()) error {
	p := PartitionOf(key, w.partitions)
	return w.enqueue(ctx, []partialRecord{{msg: w.message([]byte(key), value, p), partition: p, done: done}})
}

// Broadcast enqueues value for every partition; done is called once all of
// them are durable.
func (w *PartialsWriter) Broadcast(ctx context.Context, value []byte, done func()) error {
	recs := make([]partialRecord, w.partitions)
	for p := range recs {
		recs[p].msg, recs[p].partition = w.message(nil, value, p), p
	}
	recs[len(recs)-1].done = done
	return w.enqueue(ctx, recs)
}

func (w *PartialsWriter) message(key, value []byte, partition int) kafka.Message {
	return kafka.Message{Key: key, Value: value,
		Headers: []kafka.Header{{Key: partitionHeader, Value: []byte(strconv.Itoa(partition))}}}
}

func (w *PartialsWriter) enqueue(ctx context.Context, recs []partialRecord) error {
	size := 0
	for _, r := range recs {
		size += len(r.msg.Key) + len(r.msg.Value)
	}
	w.mu.Lock()
	for !w.closed && len(w.queue) > 0 && (len(w.queue)+len(recs) > w.queueMsgs || w.bytes+size > w.queueBytes) {
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("partials to %q: queue full: %w", w.topic, ctx.Err())
		}
		w.mu.Lock()
	}
	if w.closed {
		w.mu.Unlock()
		return fmt.Errorf("partials to %q: %w", w.topic, io.ErrClosedPipe)
	}
	w.queue = append(w.queue, recs...)
	w.bytes += size
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// run writes the queue in rounds until ctx is done.
func (w *PartialsWriter) run(ctx context.Context) {
	defer close(w.done)
	var (
		msgs    []kafka.Message
		backoff time.Duration
	)
	for {
		w.mu.Lock()
		n := round(w.queue, roundRecords, roundBytes)
		msgs = msgs[:0]
		for _, r := range w.queue[:n] {
			msgs = append(msgs, r.msg)
		}
		w.mu.Unlock()
		if n == 0 {
			select {
			case <-w.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		err := w.writer.WriteMessages(ctx, msgs...)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			w.log.Warn("partials not written; retrying", "records", n, "retry_in", backoff, "err", err)
			w.failures.Inc()
			w.mu.Lock()
			w.lastErr = err
			w.mu.Unlock()
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		w.completed(n)
	}
}

// roundRecords and roundBytes bound what one round gives a partition, so
// that kafka-go writes it as one batch, which lands whole or not at all. Two
// batches of one partition could land out of order when the first fails
// and the second does not, a report ahead of a share it follows, and the
// check stage would close the share's window without it.
const (
	roundRecords = 1000
	roundBytes   = 1 << 20
)

// round is how many of the oldest records the next round writes: each
// partition's fit one batch of maxRecords and maxBytes, and the round stops
// at the first record that would start a second (a record bigger than a
// batch goes alone, for the broker to judge).
func round(queue []partialRecord, maxRecords, maxBytes int) int {
	count, size := make(map[int]int), make(map[int]int)
	for i, r := range queue {
		n := recordBytes(r.msg)
		if p := r.partition; count[p] > 0 && (count[p] >= maxRecords || size[p]+n > maxBytes) {
			return i
		}
		count[r.partition]++
		size[r.partition] += n
	}
	return len(queue)
}

// recordBytes is at least what kafka-go counts of a message against a
// batch's bytes: its key, value and headers and a record's framing.
func recordBytes(m kafka.Message) int {
	n := len(m.Key) + len(m.Value) + 64
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value) + 8
	}
	return n
}

// completed marks the n oldest records durable and calls their dones, in
// order, without the lock.
func (w *PartialsWriter) completed(n int) {
	w.mu.Lock()
	written := w.queue[:n:n]
	w.queue = append([]partialRecord(nil), w.queue[n:]...)
	for _, r := range written {
		w.bytes -= len(r.msg.Key) + len(r.msg.Value)
	}
	w.lastErr = nil
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	w.written.Add(float64(n))
	for _, r := range written {
		if r.done != nil {
			r.done()
		}
	}
}

// Flush returns once every record enqueued before it is durable, or with an
// error when ctx is done first or w is closed.
func (w *PartialsWriter) Flush(ctx context.Context) error {
	for {
		w.mu.Lock()
		empty, closed, last, ch := len(w.queue) == 0, w.closed, w.lastErr, w.changed
		w.mu.Unlock()
		switch {
		case empty:
			return nil
		case closed:
			return fmt.Errorf("flushing partials to %q: %w", w.topic, io.ErrClosedPipe)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("flushing partials to %q: %w (last write: %w)", w.topic, ctx.Err(), last)
			}
			return fmt.Errorf("flushing partials to %q: %w", w.topic, ctx.Err())
		}
	}
}

// Ready reports whether a broker answers and the partials topic exists with
// a leader for every partition.
func (w *PartialsWriter) Ready(ctx context.Context) error {
	return checkTopics(ctx, w.conn, w.tlsConfig, w.mech, []string{w.topic})
}

// Close stops the writer, abandoning what is not durable: those records'
// dones are never called, so the offsets behind them are not committed and
// are read again by the next reader. Call Flush first to write them.
func (w *PartialsWriter) Close() error {
	w.closeOnce.Do(func() {
		w.cancel()
		<-w.done
		w.mu.Lock()
		w.closed = true
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
		if err := w.writer.Close(); err != nil {
			w.closeErr = fmt.Errorf("close partials writer for %q: %w", w.topic, err)
		}
		w.transport.CloseIdleConnections()
		w.reg.unregister()
	})
	return w.closeErr
}

// Tail calls each with every record of the partials topic that the check
// stage's group has not committed yet: from the group's committed offset of each
// partition (its first offset when none) up to the partition's end when Tail
// was called. The profile stage reads it at each generation to learn what
// the shares still waiting there hold, so that a message read again after a
// rebalance is not counted twice.
func (w *PartialsWriter) Tail(ctx context.Context, each func(Message) error) error {
	group := w.checkGroup
	client := &kafka.Client{Addr: kafka.TCP(w.conn.Brokers...), Transport: w.transport}
	partitions := make([]int, w.partitions)
	for p := range partitions {
		partitions[p] = p
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{w.topic: partitions}})
	if err != nil {
		return fmt.Errorf("reading group %q's offsets of %q: %w", group, w.topic, err)
	}
	switch {
	case errors.Is(committed.Error, kafka.GroupIdNotFound):
		// No check stage has committed anything yet: the whole topic waits.
		committed.Topics = nil
	case committed.Error != nil:
		return fmt.Errorf("reading group %q's offsets of %q: %w", group, w.topic, committed.Error)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range partitions {
		req.Topics[w.topic] = append(req.Topics[w.topic], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	listed, err := client.ListOffsets(ctx, req)
	if err != nil {
		return fmt.Errorf("listing the offsets of %q: %w", w.topic, err)
	}
	from, to := make(map[int]int64), make(map[int]int64)
	for _, po := range listed.Topics[w.topic] {
		if po.Error != nil {
			return fmt.Errorf("listing the offsets of %q partition %d: %w", w.topic, po.Partition, po.Error)
		}
		from[po.Partition], to[po.Partition] = po.FirstOffset, po.LastOffset
	}
	for _, c := range committed.Topics[w.topic] {
		if c.Error != nil {
			return fmt.Errorf("reading group %q's offset of %q partition %d: %w", group, w.topic, c.Partition, c.Error)
		}
		if c.CommittedOffset > from[c.Partition] {
			from[c.Partition] = c.CommittedOffset
		}
	}
	for _, p := range partitions {
		if from[p] >= to[p] {
			continue
		}
		if err := w.readRange(ctx, p, from[p], to[p], each); err != nil {
			return err
		}
	}
	return nil
}

// readRange reads partition p of the topic from offset from up to, not
// including, to.
func (w *PartialsWriter) readRange(ctx context.Context, p int, from, to int64, each func(Message) error) error {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: w.conn.Brokers, Topic: w.topic, Partition: p, MaxWait: 100 * time.Millisecond,
		Dialer: w.conn.dialer(w.tlsConfig, w.mech)})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return fmt.Errorf("reading %q partition %d from %d: %w", w.topic, p, from, err)
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("reading %q partition %d: %w", w.topic, p, err)
		}
		if err := each(Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time}); err != nil {
			return err
		}
		if m.Offset+1 >= to {
			return nil
		}
	}
}
