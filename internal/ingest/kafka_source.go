package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// KafkaSource is a Source reading one consumer group's share of several topics with
// kafka-go. Offsets move only through Commit: nothing is committed automatically,
// so a crash redelivers everything after the last Commit (at-least-once).
//
// Key and Value of a fetched Message are freshly allocated by kafka-go for every
// message and never reused, so they stay valid after the next Fetch.
//
// Fetch and Commit may be called from different goroutines. Fetch errors other
// than the context's and io.EOF (after Close) are usually transient (a group join
// that failed, a broker restarting): kafka-go keeps retrying in the background and
// the next Fetch may succeed.
type KafkaSource struct {
	reader  *kafka.Reader
	conn    KafkaConn
	groupID string
	topics  []string
	log     *slog.Logger

	// tlsConfig and mech are loaded once in New and reused by Ready.
	tlsConfig *tls.Config
	mech      sasl.Mechanism

	perTopic map[string]topicCounters
	commits  prometheus.Counter
	metrics  *registration

	// mu guards the fields below: Fetch writes lag, a scrape or Ready reads them.
	mu sync.Mutex
	// lag is, per partition, the high-water mark minus the next offset as of the
	// last message fetched from it in the current generation.
	lag map[TopicPartition]int64
	// generations counts the group generations kafka-go joined. kafka-go's Stats
	// resets its counters on every read, so every read goes through pollStats.
	generations int64
	// lagGeneration is the generation count at the last scrape.
	lagGeneration int64

	// assigned is the number of partitions of the current generation, -1
	// before the first join.
	assigned atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

// subscribedFormat is how kafka-go's Reader logs the partitions it was assigned
// after each group join, with the map of partition to offset as the only
// argument. It says so nowhere else: the Reader exposes neither the assignment
// nor its member id. TestKafkaSourceReady fails if an upgrade changes the text.
const subscribedFormat = "subscribed to topics and partitions: %+v"

// trackAssignment reads the assignment off the Reader's log before passing the
// line on.
func (s *KafkaSource) trackAssignment(next kafka.Logger) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		if format == subscribedFormat && len(args) == 1 {
			if v := reflect.ValueOf(args[0]); v.Kind() == reflect.Map {
				s.assigned.Store(int64(v.Len()))
			}
		}
		next.Printf(format, args...)
	})
}

type topicCounters struct {
	messages prometheus.Counter
	bytes    prometheus.Counter
}

// NewKafkaSource validates opts and starts a group reader; kafka-go joins the group
// in the background, so New does not wait for the brokers (see Ready).
func NewKafkaSource(opts KafkaOptions) (*KafkaSource, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("kafka source options: %w", err)
	}
	tlsConfig, mech, err := opts.security()
	if err != nil {
		return nil, fmt.Errorf("kafka source: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "ingest", "group", opts.GroupID)

	s := &KafkaSource{
		conn:      opts.KafkaConn,
		groupID:   opts.GroupID,
		topics:    append([]string(nil), opts.Topics...),
		log:       log,
		tlsConfig: tlsConfig,
		mech:      mech,
		perTopic:  make(map[string]topicCounters, len(opts.Topics)),
		lag:       make(map[TopicPartition]int64),
	}
	s.assigned.Store(-1)

	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sentinel_ingest_messages_total",
		Help: "Messages fetched from Kafka, by topic.",
	}, []string{"topic"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sentinel_ingest_bytes_total",
		Help: "Key and value bytes fetched from Kafka, by topic.",
	}, []string{"topic"})
	for _, t := range s.topics {
		s.perTopic[t] = topicCounters{messages: messages.WithLabelValues(t), bytes: bytes.WithLabelValues(t)}
	}
	s.commits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sentinel_ingest_commits_total",
		Help: "Successful offset commits (each may cover several partitions).",
	})
	s.metrics, err = register(opts.Registerer, messages, bytes, s.commits, newSourceCollector(s))
	if err != nil {
		return nil, fmt.Errorf("kafka source: register metrics: %w", err)
	}

	s.reader = kafka.NewReader(kafka.ReaderConfig{
		Brokers:           opts.Brokers,
		GroupID:           opts.GroupID,
		GroupTopics:       s.topics,
		Dialer:            opts.dialer(tlsConfig, mech),
		MinBytes:          opts.MinBytes,
		MaxBytes:          opts.MaxBytes,
		MaxWait:           opts.maxWait(),
		SessionTimeout:    opts.sessionTimeout(),
		HeartbeatInterval: opts.heartbeatInterval(),
		RebalanceTimeout:  opts.RebalanceTimeout,
		StartOffset:       opts.startOffset(),
		// Partitions added to a topic are picked up by a rebalance rather than
		// waiting for the next restart.
		WatchPartitionChanges: true,
		// Events from aborted transactions never happened.
		IsolationLevel: kafka.ReadCommitted,
		Logger:         s.trackAssignment(slogLogger(log, slog.LevelDebug)),
		ErrorLogger:    slogLogger(log, slog.LevelWarn),
	})
	log.Info("kafka source started", "brokers", opts.Brokers, "topics", s.topics)
	return s, nil
}

// Fetch returns the next message of any assigned partition, in order within the
// partition. After Close it returns an error wrapping io.EOF.
func (s *KafkaSource) Fetch(ctx context.Context) (Message, error) {
	m, err := s.reader.FetchMessage(ctx)
	if err != nil {
		return Message{}, fmt.Errorf("fetch from kafka group %q: %w", s.groupID, err)
	}
	if c, ok := s.perTopic[m.Topic]; ok {
		c.messages.Inc()
		c.bytes.Add(float64(len(m.Key) + len(m.Value)))
	}
	s.mu.Lock()
	s.lag[TopicPartition{m.Topic, m.Partition}] = m.HighWaterMark - m.Offset - 1
	s.mu.Unlock()
	return Message{
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Key:       m.Key,
		Value:     m.Value,
		Time:      m.Time,
	}, nil
}

// Commit stores, for each message's partition, the offset after it as the group's
// position, and returns once the coordinator has acknowledged it. Passing the last
// durable message per partition is enough; older ones are redundant.
//
// kafka-go commits through the current group generation without checking that the
// partition is still assigned here, so a commit racing a rebalance may land for a
// partition another member now reads. That member then skips or repeats at most
// what the two had in flight; the stores are idempotent for repeats.
func (s *KafkaSource) Commit(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	km := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		km[i] = kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	}
	if err := s.reader.CommitMessages(ctx, km...); err != nil {
		return fmt.Errorf("commit %d offsets for kafka group %q: %w", len(km), s.groupID, err)
	}
	s.commits.Inc()
	return nil
}

// Ready reports whether the source can do its job: a broker answers a metadata
// request in which every topic exists and every partition has a leader, and the
// group's latest generation assigned this member at least one partition. A
// member left without partitions (more replicas than partitions) is not ready:
// it reads nothing. During a rebalance the previous generation's assignment
// stands until the next one is known. Each call opens one short-lived
// connection rather than reusing kafka-go's metadata cache, which would keep
// answering for a while after the brokers went away.
func (s *KafkaSource) Ready(ctx context.Context) error {
	if err := checkTopics(ctx, s.conn, s.tlsConfig, s.mech, s.topics); err != nil {
		return err
	}
	switch n := s.assigned.Load(); {
	case n < 0:
		return fmt.Errorf("kafka group %q: not joined yet", s.groupID)
	case n == 0:
		return fmt.Errorf("kafka group %q: joined, but no partitions are assigned to this member (more members than partitions?)", s.groupID)
	}
	return nil
}

// Close leaves the group (so its partitions move to other members at once rather
// than after the session timeout), waits for a commit in flight, and stops
// kafka-go's goroutines. It does not commit anything that Commit was not given.
func (s *KafkaSource) Close() error {
	s.closeOnce.Do(func() {
		if err := s.reader.Close(); err != nil {
			s.closeErr = fmt.Errorf("close kafka reader for group %q: %w", s.groupID, err)
		}
		s.metrics.unregister()
		s.log.Info("kafka source closed")
	})
	return s.closeErr
}

// pollStats folds kafka-go's resetting counters into ours and returns the number of
// generations joined so far.
func (s *KafkaSource) pollStats() int64 {
	st := s.reader.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.generations += st.Rebalances
	return s.generations
}

// checkTopics asks a broker, over a fresh connection, for the topics' metadata.
func checkTopics(ctx context.Context, conn KafkaConn, tlsConfig *tls.Config, mech sasl.Mechanism, topics []string) error {
	transport := conn.transport(tlsConfig, mech, topics)
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(conn.Brokers...), Transport: transport}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("kafka metadata from %v: %w", conn.Brokers, err)
	}
	found := make(map[string]kafka.Topic, len(md.Topics))
	for _, t := range md.Topics {
		found[t.Name] = t
	}
	var errs []error
	for _, name := range topics {
		t, ok := found[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %q: not in metadata", name))
		case t.Error != nil:
			errs = append(errs, fmt.Errorf("topic %q: %w", name, t.Error))
		case len(t.Partitions) == 0:
			errs = append(errs, fmt.Errorf("topic %q: no partitions", name))
		}
		for _, p := range t.Partitions {
			if p.Error != nil {
				errs = append(errs, fmt.Errorf("topic %q partition %d: %w", name, p.ID, p.Error))
			} else if p.Leader.Host == "" {
				errs = append(errs, fmt.Errorf("topic %q partition %d: no leader", name, p.ID))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafka metadata from %v: %w", conn.Brokers, err)
	}
	return nil
}

// sourceCollector reads lag and generations at scrape time, so Fetch pays for one
// map write instead of a gauge update per message.
type sourceCollector struct {
	s              *KafkaSource
	lag, rebalance *prometheus.Desc
}

func newSourceCollector(s *KafkaSource) *sourceCollector {
	return &sourceCollector{
		s: s,
		lag: prometheus.NewDesc("sentinel_ingest_lag",
			"Messages behind the high-water mark, summed over this member's partitions of the topic, "+
				"as of the last message fetched from each since the last rebalance; partitions that delivered nothing since are missing.",
			[]string{"topic"}, nil),
		rebalance: prometheus.NewDesc("sentinel_ingest_rebalances_total",
			"Consumer group generations this member joined.", nil, nil),
	}
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.rebalance
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	generations := s.pollStats()
	sums := make(map[string]int64, len(s.topics))
	s.mu.Lock()
	if generations != s.lagGeneration && generations > 1 {
		// A rebalance since the last scrape may have moved partitions to other
		// members; their last lag is no longer ours. (The first join leaves
		// nothing stale.)
		clear(s.lag)
	}
	s.lagGeneration = generations
	for tp, lag := range s.lag {
		sums[tp.Topic] += lag
	}
	s.mu.Unlock()
	for _, t := range s.topics {
		if lag, ok := sums[t]; ok {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(lag), t)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.rebalance, prometheus.CounterValue, float64(generations))
}

// registration remembers what was registered so Close can take it back, letting a
// replacement source register the same names.
type registration struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector
}

func register(reg prometheus.Registerer, cs ...prometheus.Collector) (*registration, error) {
	r := &registration{reg: reg}
	if reg == nil {
		return r, nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			r.unregister()
			return nil, err
		}
		r.collectors = append(r.collectors, c)
	}
	return r, nil
}

func (r *registration) unregister() {
	for _, c := range r.collectors {
		r.reg.Unregister(c)
	}
	r.collectors = nil
}
