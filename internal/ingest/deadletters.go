package ingest

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// Headers a dead letter carries; key and value are the rejected message's own
// (cut to DeadLetterOptions.MaxValueBytes, with HeaderTruncated and
// HeaderOriginalSize saying so).
const (
	HeaderReason          = "sentinel-reason"
	HeaderDetail          = "sentinel-detail"
	HeaderSourceTopic     = "sentinel-source-topic"
	HeaderSourcePartition = "sentinel-source-partition"
	HeaderSourceOffset    = "sentinel-source-offset"
	// HeaderTruncated is "true" on a dead letter whose value (or key) is the
	// first MaxValueBytes of the rejected one's.
	HeaderTruncated = "sentinel-truncated"
	// HeaderOriginalSize is the rejected value's size in bytes, on truncated
	// dead letters.
	HeaderOriginalSize = "sentinel-original-size"
)

// otherReason is the metric label for reasons outside DeadLetterOptions.Reasons.
const otherReason = "other"

// maxDetailBytes caps the detail header: a detail quoting a huge value must not
// push the dead letter over the broker's message size limit.
const maxDetailBytes = 1024

// Defaults of DeadLetterOptions.
const (
	defaultMaxValueBytes = 64 << 10
	defaultQueueMessages = 100_000
	defaultQueueBytes    = 64 << 20
	defaultBatchMessages = 10_000
)

// DeadLetterOptions configure KafkaDeadLetters.
type DeadLetterOptions struct {
	KafkaConn

	// Topic receives the rejected messages. It must exist: a dead-letter topic
	// created on the fly with broker defaults would have the wrong retention.
	Topic string

	// Reasons is the closed set of reason words the pipeline uses (e.g.
	// "invalid_json", "unknown_model"). Each gets its own series of
	// sentinel_dead_letters_total; any other reason is still written to its header
	// but counted under "other". Reasons must be fixed words chosen in code,
	// never derived from a payload (a model name, a field value): that would make
	// the metric's cardinality unbounded.
	Reasons []string

	// MaxValueBytes bounds the rejected value (and key) a dead letter carries:
	// a message rejected for its size is not sent whole again, where it would
	// be refused too. Zero means 64 KiB.
	MaxValueBytes int
	// QueueMessages and QueueBytes bound the dead letters enqueued and not yet
	// durable; Enqueue blocks while either is reached. Zero means 100,000 and
	// 64 MiB.
	QueueMessages, QueueBytes int
	// BatchMessages bounds the dead letters written in one round. Zero means
	// 10,000.
	BatchMessages int

	// BatchTimeout is how long a round waits to fill its produce requests. Zero
	// means 5ms.
	BatchTimeout time.Duration
	// WriteTimeout bounds one produce request. Zero means 10s.
	WriteTimeout time.Duration

	// OnDurable, when set, is called (from the writer's goroutine, without
	// locks held) after each round of dead letters becomes durable, e.g. to
	// let the pipeline commit offsets it was holding back (see Pending). It
	// must not block.
	OnDurable func()

	// Logger receives kafka-go's errors at warn level, and failed rounds. Nil
	// discards them.
	Logger *slog.Logger
	// Registerer receives the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
}

// Validate reports every problem with the options at once.
func (o DeadLetterOptions) Validate() error {
	errs := o.KafkaConn.validate()
	if o.Topic == "" {
		errs = append(errs, errors.New("dead-letter topic is empty"))
	}
	if len(o.Reasons) == 0 {
		errs = append(errs, errors.New("no reasons"))
	}
	for i, r := range o.Reasons {
		if !isReasonWord(r) {
			errs = append(errs, fmt.Errorf("reasons[%d] %q is not a lower_snake_case word", i, r))
		}
	}
	for name, n := range map[string]int{"max value bytes": o.MaxValueBytes, "queue messages": o.QueueMessages,
		"queue bytes": o.QueueBytes, "batch messages": o.BatchMessages} {
		if n < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%d)", name, n))
		}
	}
	if o.BatchTimeout < 0 {
		errs = append(errs, fmt.Errorf("batch timeout is negative (%s)", o.BatchTimeout))
	}
	if o.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("write timeout is negative (%s)", o.WriteTimeout))
	}
	return errors.Join(errs...)
}

// KafkaDeadLetters writes rejected messages to a dead-letter topic with
// acks=all. Enqueue hands a dead letter over without waiting for the network:
// a goroutine of KafkaDeadLetters writes what is queued in rounds, one round in
// flight at a time, so dead letters become durable in the order they were
// enqueued. Pending says, per source partition, the lowest offset whose dead
// letter is not durable yet: the pipeline must not commit that partition at or
// past it. A round that fails is written again, after a backoff, until it is
// durable or KafkaDeadLetters is closed; a retried round may leave duplicate
// dead letters, never a missing one.
type KafkaDeadLetters struct {
	writer    *kafka.Writer
	transport *kafka.Transport
	conn      KafkaConn
	topic     string
	log       *slog.Logger
	onDurable func()

	maxValue, maxBatch    int
	queueMsgs, queueBytes int

	tlsConfig *tls.Config
	mech      sasl.Mechanism

	counters map[string]prometheus.Counter
	metrics  *registration

	// wake tells the writer that something was enqueued (or that it should stop).
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	// queue holds the dead letters not yet durable, from head, in the order
	// they were enqueued; seq numbers them from 1 over the life of d.
	queue []deadLetter
	head  int
	bytes int
	seq   uint64
	// durable is the seq of the last dead letter known durable; every earlier
	// one is too.
	durable uint64
	// changed is closed, and replaced, whenever durable advances or d closes:
	// the wait of Enqueue (for room), Send and Flush.
	changed chan struct{}
	// pending holds, per source partition, the offsets of its queued dead
	// letters in order.
	pending map[sourcePartition]*offsets
	lastErr error
	closed  bool

	closeOnce sync.Once
	closeErr  error
}

type sourcePartition struct {
	topic     string
	partition int
}

// deadLetter is a queued dead letter: the message as it will be written, and
// what it was rejected from.
type deadLetter struct {
	msg     kafka.Message
	source  sourcePartition
	offset  int64
	counter prometheus.Counter
	size    int
}

// NewKafkaDeadLetters validates opts, prepares a writer and starts the
// goroutine that writes; it connects on the first round (see Ready to check the
// topic first). Close stops it.
func NewKafkaDeadLetters(opts DeadLetterOptions) (*KafkaDeadLetters, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("dead-letter options: %w", err)
	}
	tlsConfig, mech, err := opts.security()
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "ingest", "dead_letter_topic", opts.Topic)

	counter := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sentinel_dead_letters_total",
		Help: "Messages written to the dead-letter topic, by reason.",
	}, []string{"reason"})
	counters := make(map[string]prometheus.Counter, len(opts.Reasons)+1)
	for _, r := range append([]string{otherReason}, opts.Reasons...) {
		counters[r] = counter.WithLabelValues(r)
	}
	metrics, err := register(opts.Registerer, counter)
	if err != nil {
		return nil, fmt.Errorf("dead letters: register metrics: %w", err)
	}

	batchTimeout := cmp.Or(opts.BatchTimeout, 5*time.Millisecond)
	maxBatch := cmp.Or(opts.BatchMessages, defaultBatchMessages)
	maxValue := cmp.Or(opts.MaxValueBytes, defaultMaxValueBytes)
	transport := opts.transport(tlsConfig, mech, []string{opts.Topic})
	ctx, cancel := context.WithCancel(context.Background())
	d := &KafkaDeadLetters{
		writer: &kafka.Writer{
			Addr:         kafka.TCP(opts.Brokers...),
			Topic:        opts.Topic,
			Balancer:     &kafka.Hash{},
			RequiredAcks: kafka.RequireAll,
			// A round is split by partition, and each partition's share by
			// the broker's default request limit, not by kafka-go's 100.
			BatchSize:    maxBatch,
			BatchBytes:   1 << 20,
			BatchTimeout: batchTimeout,
			WriteTimeout: opts.WriteTimeout,
			Transport:    transport,
			ErrorLogger:  slogLogger(log, slog.LevelWarn),
		},
		transport:  transport,
		conn:       opts.KafkaConn,
		topic:      opts.Topic,
		log:        log,
		onDurable:  opts.OnDurable,
		maxValue:   maxValue,
		maxBatch:   maxBatch,
		queueMsgs:  cmp.Or(opts.QueueMessages, defaultQueueMessages),
		queueBytes: cmp.Or(opts.QueueBytes, defaultQueueBytes),
		tlsConfig:  tlsConfig,
		mech:       mech,
		counters:   counters,
		metrics:    metrics,
		wake:       make(chan struct{}, 1),
		cancel:     cancel,
		done:       make(chan struct{}),
		changed:    make(chan struct{}),
		pending:    make(map[sourcePartition]*offsets),
	}
	go d.run(ctx)
	return d, nil
}

// Enqueue queues msg, with its reason and detail as headers, for the
// dead-letter topic and returns without waiting for the network; it blocks
// only while the queue is full, until there is room or ctx is done. The dead
// letter is durable once Pending no longer reports its offset (or Flush
// returns). Detail is cut to 1 KiB, and a value or key longer than
// MaxValueBytes to that many bytes. Enqueue copies what it keeps of msg.
func (d *KafkaDeadLetters) Enqueue(ctx context.Context, msg Message, reason, detail string) error {
	_, err := d.enqueue(ctx, msg, reason, detail)
	return err
}

func (d *KafkaDeadLetters) enqueue(ctx context.Context, msg Message, reason, detail string) (uint64, error) {
	dl := d.prepare(msg, reason, detail)
	d.mu.Lock()
	for !d.closed && d.head < len(d.queue) && (len(d.queue)-d.head >= d.queueMsgs || d.bytes+dl.size > d.queueBytes) {
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, fmt.Errorf("dead-letter %s/%d@%d (%s): queue full: %w", msg.Topic, msg.Partition, msg.Offset, reason, ctx.Err())
		}
		d.mu.Lock()
	}
	if d.closed {
		d.mu.Unlock()
		return 0, fmt.Errorf("dead-letter %s/%d@%d (%s) to %q: %w", msg.Topic, msg.Partition, msg.Offset, reason, d.topic, io.ErrClosedPipe)
	}
	d.seq++
	seq := d.seq
	d.queue = append(d.queue, dl)
	d.bytes += dl.size
	q := d.pending[dl.source]
	if q == nil {
		q = &offsets{}
		d.pending[dl.source] = q
	}
	q.push(dl.offset)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return seq, nil
}

// Send enqueues msg and returns once its dead letter is durable, so the
// pipeline may commit the rejected message's offset as soon as Send returns
// nil. An error does not prove the message was not written (it stays queued,
// and the broker may have stored it before the connection dropped), so a
// retried Send may leave a duplicate dead letter, never a missing one.
func (d *KafkaDeadLetters) Send(ctx context.Context, msg Message, reason, detail string) error {
	seq, err := d.enqueue(ctx, msg, reason, detail)
	if err != nil {
		return err
	}
	if err := d.wait(ctx, seq); err != nil {
		return fmt.Errorf("dead-letter %s/%d@%d (%s) to %q: %w", msg.Topic, msg.Partition, msg.Offset, reason, d.topic, err)
	}
	return nil
}

// Flush returns once every dead letter enqueued before it is durable, or with
// an error when ctx is done first or d is closed.
func (d *KafkaDeadLetters) Flush(ctx context.Context) error {
	d.mu.Lock()
	seq := d.seq
	d.mu.Unlock()
	if err := d.wait(ctx, seq); err != nil {
		return fmt.Errorf("flushing dead letters to %q: %w", d.topic, err)
	}
	return nil
}

// wait blocks until dead letter seq is durable.
func (d *KafkaDeadLetters) wait(ctx context.Context, seq uint64) error {
	for {
		d.mu.Lock()
		durable, closed, last, ch := d.durable, d.closed, d.lastErr, d.changed
		d.mu.Unlock()
		switch {
		case durable >= seq:
			return nil
		case closed:
			return io.ErrClosedPipe
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last write: %w)", ctx.Err(), last)
			}
			return ctx.Err()
		}
	}
}

// Pending returns the lowest offset of the source partition whose dead letter
// is enqueued and not yet durable; ok is false when there is none. Offsets of
// a partition become durable in the order they were enqueued.
func (d *KafkaDeadLetters) Pending(topic string, partition int) (offset int64, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.pending[sourcePartition{topic, partition}]
	if q == nil || q.head == len(q.o) {
		return 0, false
	}
	return q.o[q.head], true
}

// Ready reports whether a broker answers and the dead-letter topic exists with a
// leader for every partition.
func (d *KafkaDeadLetters) Ready(ctx context.Context) error {
	return checkTopics(ctx, d.conn, d.tlsConfig, d.mech, []string{d.topic})
}

// Close stops the writer, abandoning a round in flight, and closes the
// connections. Dead letters not yet durable are dropped: their offsets were
// never reported durable, so the pipeline has not committed past them, and
// they are read and rejected again after a restart. Call Flush first to write
// them.
func (d *KafkaDeadLetters) Close() error {
	d.closeOnce.Do(func() {
		d.cancel()
		<-d.done
		d.mu.Lock()
		d.closed = true
		close(d.changed)
		d.changed = make(chan struct{})
		d.mu.Unlock()
		if err := d.writer.Close(); err != nil {
			d.closeErr = fmt.Errorf("close dead-letter writer for %q: %w", d.topic, err)
		}
		d.transport.CloseIdleConnections()
		d.metrics.unregister()
	})
	return d.closeErr
}

// isReasonWord accepts lower_snake_case words: safe as label values and as header
// values a person greps for.
func isReasonWord(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
