package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// Headers a dead letter carries; key and value are the rejected message's own.
const (
	HeaderReason          = "sentinel-reason"
	HeaderDetail          = "sentinel-detail"
	HeaderSourceTopic     = "sentinel-source-topic"
	HeaderSourcePartition = "sentinel-source-partition"
	HeaderSourceOffset    = "sentinel-source-offset"
)

// otherReason is the metric label for reasons outside DeadLetterOptions.Reasons.
const otherReason = "other"

// maxDetailBytes caps the detail header: a detail quoting a huge value must not
// push the dead letter over the broker's message size limit.
const maxDetailBytes = 1024

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

	// BatchTimeout is how long a Send waits for concurrent Sends to share its
	// produce request. Zero means 5ms; it bounds the latency of every Send.
	BatchTimeout time.Duration
	// WriteTimeout bounds one produce request. Zero means 10s.
	WriteTimeout time.Duration

	// Logger receives kafka-go's errors at warn level. Nil discards them.
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
	if o.BatchTimeout < 0 {
		errs = append(errs, fmt.Errorf("batch timeout is negative (%s)", o.BatchTimeout))
	}
	if o.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("write timeout is negative (%s)", o.WriteTimeout))
	}
	return errors.Join(errs...)
}

// KafkaDeadLetters writes rejected messages to a dead-letter topic. Send returns
// only once every in-sync replica has the message (acks=all), so the pipeline may
// commit the rejected message's offset as soon as Send returns nil. Concurrent
// Sends share produce requests.
type KafkaDeadLetters struct {
	writer    *kafka.Writer
	transport *kafka.Transport
	conn      KafkaConn
	topic     string
	log       *slog.Logger

	tlsConfig *tls.Config
	mech      sasl.Mechanism

	counters map[string]prometheus.Counter
	metrics  *registration

	closeOnce sync.Once
	closeErr  error
}

// NewKafkaDeadLetters validates opts and prepares a writer; it connects on the
// first Send (see Ready to check the topic first).
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

	batchTimeout := opts.BatchTimeout
	if batchTimeout == 0 {
		batchTimeout = 5 * time.Millisecond
	}
	transport := opts.transport(tlsConfig, mech, []string{opts.Topic})
	return &KafkaDeadLetters{
		writer: &kafka.Writer{
			Addr:         kafka.TCP(opts.Brokers...),
			Topic:        opts.Topic,
			Balancer:     &kafka.Hash{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: batchTimeout,
			WriteTimeout: opts.WriteTimeout,
			Transport:    transport,
			ErrorLogger:  slogLogger(log, slog.LevelWarn),
		},
		transport: transport,
		conn:      opts.KafkaConn,
		topic:     opts.Topic,
		log:       log,
		tlsConfig: tlsConfig,
		mech:      mech,
		counters:  counters,
		metrics:   metrics,
	}, nil
}

// Send writes msg with its reason and detail as headers and returns once it is
// durable. An error does not prove the message was not written (the broker may
// have stored it before the connection dropped), so a retried Send may leave a
// duplicate dead letter, never a missing one. Detail is cut to 1 KiB.
func (d *KafkaDeadLetters) Send(ctx context.Context, msg Message, reason, detail string) error {
	if len(detail) > maxDetailBytes {
		detail = detail[:maxDetailBytes]
	}
	err := d.writer.WriteMessages(ctx, kafka.Message{
		Key:   msg.Key,
		Value: msg.Value,
		Headers: []kafka.Header{
			{Key: HeaderReason, Value: []byte(reason)},
			{Key: HeaderDetail, Value: []byte(detail)},
			{Key: HeaderSourceTopic, Value: []byte(msg.Topic)},
			{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(msg.Partition), 10)},
			{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, msg.Offset, 10)},
		},
	})
	if err != nil {
		return fmt.Errorf("dead-letter %s/%d@%d (%s) to %q: %w", msg.Topic, msg.Partition, msg.Offset, reason, d.topic, err)
	}
	c, ok := d.counters[reason]
	if !ok {
		c = d.counters[otherReason]
	}
	c.Inc()
	return nil
}

// Ready reports whether a broker answers and the dead-letter topic exists with a
// leader for every partition.
func (d *KafkaDeadLetters) Ready(ctx context.Context) error {
	return checkTopics(ctx, d.conn, d.tlsConfig, d.mech, []string{d.topic})
}

// Close waits for Sends in flight, then closes the connections.
func (d *KafkaDeadLetters) Close() error {
	d.closeOnce.Do(func() {
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
