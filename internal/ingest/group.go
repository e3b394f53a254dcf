package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// Group is this process's membership of a consumer group reading several
// co-partitioned topics: the events topic first, then the labels and offline
// features topics, whose partition k carries the same requests as the events'.
// Kafka assigns partition numbers to members; Group reads each assigned number
// of every topic together, so that a worker sees all of one request.
//
// Offsets move only through Generation.Commit. A broker outage is waited out:
// joining is retried with capped backoff, and Ready says why it is not ready.
type Group struct {
	opts      KafkaOptions
	tlsConfig *tls.Config
	mech      sasl.Mechanism
	log       *slog.Logger
	metrics   *groupMetrics

	mu          sync.Mutex
	generation  int32
	assigned    []int // partition numbers of the current generation
	joined      bool
	lastErr     error
	generations int64
}

type groupMetrics struct {
	messages, bytes *prometheus.CounterVec
	commits         prometheus.Counter
	joinErrors      prometheus.Counter
	reg             *registration
}

// NewGroup validates opts; Run does the work. The first of opts.Topics is the
// events topic.
func NewGroup(opts KafkaOptions) (*Group, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("kafka group options: %w", err)
	}
	tlsConfig, mech, err := opts.security()
	if err != nil {
		return nil, fmt.Errorf("kafka group: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Group{opts: opts, tlsConfig: tlsConfig, mech: mech, log: log.With("component", "ingest", "group", opts.GroupID)}
	m := &groupMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_ingest_messages_total",
			Help: "Messages fetched from Kafka, by topic."}, []string{"topic"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_ingest_bytes_total",
			Help: "Key and value bytes fetched from Kafka, by topic."}, []string{"topic"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "sentinel_ingest_commits_total",
			Help: "Successful offset commits (each may cover several partitions)."}),
		joinErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "sentinel_ingest_join_errors_total",
			Help: "Failed attempts to join the consumer group or read its partitions (a broker outage, a bad topic), each retried."}),
	}
	for _, t := range opts.Topics {
		m.messages.WithLabelValues(t)
		m.bytes.WithLabelValues(t)
	}
	if m.reg, err = register(opts.Registerer, m.messages, m.bytes, m.commits, m.joinErrors, newGroupCollector(g)); err != nil {
		return nil, fmt.Errorf("kafka group: register metrics: %w", err)
	}
	g.metrics = m
	return g, nil
}

// Close unregisters the group's metrics; Run must have returned.
func (g *Group) Close() { g.metrics.reg.unregister() }

// Generation is one assignment of partitions to this member, valid until the
// group rebalances.
type Generation struct {
	// ID is the group generation.
	ID int32
	// Partitions are the partition numbers assigned to this member.
	Partitions []int
	g          *Group
	kgen       *kafka.Generation
	// start is, per topic and partition, the offset to read from.
	start map[string]map[int]int64
	// commitMu serialises commits on the coordinator connection.
	commitMu sync.Mutex
	// marked is, per topic-partition, the offset the next commit commits.
	markMu sync.Mutex
	marked map[TopicPartition]int64
}

// Run joins the group and calls handle for each generation, in turn, until ctx
// ends; handle must return when its context ends (the generation is over), and
// commit before it returns what it wants kept. Failures to join (brokers
// unreachable, a topic missing) are logged, counted and retried with capped
// backoff, never returned: the process waits an outage out. Run returns
// ctx.Err() when ctx ends.
func (g *Group) Run(ctx context.Context, handle func(ctx context.Context, gen *Generation)) error {
	backoff := time.Second
	for ctx.Err() == nil {
		err := g.member(ctx, handle)
		if ctx.Err() != nil {
			break
		}
		g.metrics.joinErrors.Inc()
		g.setError(err)
		g.log.Warn("kafka group unavailable; retrying", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	return ctx.Err()
}

// member is one membership of the group: it checks the topics, joins and
// serves generations until the group fails.
func (g *Group) member(ctx context.Context, handle func(ctx context.Context, gen *Generation)) error {
	if err := g.checkCoPartitioned(ctx); err != nil {
		return err
	}
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    g.opts.GroupID,
		Brokers:               g.opts.Brokers,
		Dialer:                g.opts.dialer(g.tlsConfig, g.mech),
		Topics:                g.opts.Topics,
		GroupBalancers:        []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
		HeartbeatInterval:     g.opts.heartbeatInterval(),
		SessionTimeout:        g.opts.sessionTimeout(),
		RebalanceTimeout:      g.opts.RebalanceTimeout,
		WatchPartitionChanges: true,
		StartOffset:           g.opts.startOffset(),
		JoinGroupBackoff:      time.Second,
		Logger:                slogLogger(g.log, slog.LevelDebug),
		ErrorLogger:           slogLogger(g.log, slog.LevelWarn),
	})
	if err != nil {
		return fmt.Errorf("joining kafka group %q: %w", g.opts.GroupID, err)
	}
	defer func() {
		if err := cg.Close(); err != nil {
			g.log.Warn("leaving the kafka group", "err", err)
		}
		g.setJoined(0, nil, false)
	}()
	for {
		kgen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("kafka group %q: %w", g.opts.GroupID, err)
		}
		gen := g.generation0(kgen)
		g.setJoined(kgen.ID, gen.Partitions, true)
		g.log.Info("kafka group generation", "generation", kgen.ID, "partitions", gen.Partitions)
		done := make(chan struct{})
		kgen.Start(func(genCtx context.Context) {
			defer close(done)
			handle(genCtx, gen)
		})
		select {
		case <-done:
		case <-ctx.Done():
			// Closing the group ends the generation; kafka-go waits for the
			// handler, which settles (hands over, writes, commits) first.
			_ = cg.Close()
			<-done
			return ctx.Err()
		}
	}
}

// generation0 turns kafka-go's generation into the partition numbers of the
// events topic assigned here, with the offsets to start every topic at.
func (g *Group) generation0(kgen *kafka.Generation) *Generation {
	gen := &Generation{ID: kgen.ID, g: g, kgen: kgen, start: make(map[string]map[int]int64)}
	for topic, parts := range kgen.Assignments {
		gen.start[topic] = make(map[int]int64, len(parts))
		for _, p := range parts {
			gen.start[topic][p.ID] = p.Offset
		}
	}
	for id := range gen.start[g.opts.Topics[0]] {
		gen.Partitions = append(gen.Partitions, id)
	}
	sort.Ints(gen.Partitions)
	return gen
}

// checkCoPartitioned refuses topics whose partition counts differ from the
// events topic's: a request's label and offline values must reach the worker
// that saw its prediction.
func (g *Group) checkCoPartitioned(ctx context.Context) error {
	counts, err := g.PartitionCounts(ctx)
	if err != nil {
		return err
	}
	events := g.opts.Topics[0]
	var errs []error
	for _, t := range g.opts.Topics[1:] {
		if counts[t] != counts[events] {
			errs = append(errs, fmt.Errorf("topic %q has %d partitions and the events topic %q %d: a request's prediction, label "+
				"and offline values meet only when both topics have as many partitions and are keyed by request id alike "+
				"(co-partitioned); give %q %d partitions", t, counts[t], events, counts[events], t, counts[events]))
		}
	}
	return errors.Join(errs...)
}

// PartitionCounts asks a broker how many partitions each topic has.
func (g *Group) PartitionCounts(ctx context.Context) (map[string]int, error) {
	transport := g.opts.transport(g.tlsConfig, g.mech, g.opts.Topics)
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(g.opts.Brokers...), Transport: transport}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: g.opts.Topics})
	if err != nil {
		return nil, fmt.Errorf("kafka metadata from %v: %w", g.opts.Brokers, err)
	}
	out := make(map[string]int, len(md.Topics))
	var errs []error
	for _, t := range md.Topics {
		if t.Error != nil {
			errs = append(errs, fmt.Errorf("topic %q: %w", t.Name, t.Error))
			continue
		}
		out[t.Name] = len(t.Partitions)
	}
	for _, t := range g.opts.Topics {
		if _, ok := out[t]; !ok && len(errs) == 0 {
			errs = append(errs, fmt.Errorf("topic %q: not in metadata", t))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("kafka metadata from %v: %w", g.opts.Brokers, err)
	}
	return out, nil
}

// HighWatermarks returns the offset after the last message of each partition
// number of every topic, for the lag.
func (g *Group) HighWatermarks(ctx context.Context, partitions []int) (map[TopicPartition]int64, error) {
	transport := g.opts.transport(g.tlsConfig, g.mech, g.opts.Topics)
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(g.opts.Brokers...), Transport: transport}
	req := &kafka.ListOffsetsRequest{Topics: make(map[string][]kafka.OffsetRequest)}
	for _, t := range g.opts.Topics {
		for _, p := range partitions {
			req.Topics[t] = append(req.Topics[t], kafka.LastOffsetOf(p))
		}
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %v: %w", g.opts.Topics, err)
	}
	out := make(map[TopicPartition]int64)
	for topic, parts := range resp.Topics {
		for _, p := range parts {
			if p.Error == nil {
				out[TopicPartition{topic, p.Partition}] = p.LastOffset
			}
		}
	}
	return out, nil
}

// StartOffset is where the generation began reading tp: the group's committed
// offset, or kafka-go's negative relative offset for a partition never
// committed.
func (gen *Generation) StartOffset(tp TopicPartition) int64 {
	if o, ok := gen.start[tp.Topic][tp.Partition]; ok {
		return o
	}
	return gen.g.opts.startOffset()
}

// Topics are the group's topics, the events topic first.
func (g *Group) Topics() []string { return slices.Clone(g.opts.Topics) }

// Mark records every message up to and including each one's offset, in its
// topic-partition, as processed, for the next CommitMarked. Readers mark and
// read on: a reader that committed itself read nothing while the coordinator
// answered, and the partitions' commits, one request each, queued behind one
// another on the coordinator connection.
func (gen *Generation) Mark(msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	gen.markMu.Lock()
	defer gen.markMu.Unlock()
	if gen.marked == nil {
		gen.marked = make(map[TopicPartition]int64)
	}
	for _, m := range msgs {
		// Kafka's committed offset is the next one to read.
		gen.marked[TopicPartition{m.Topic, m.Partition}] = m.Offset + 1
	}
}

// Marked is how many topic-partitions the next CommitMarked commits.
func (gen *Generation) Marked() int {
	gen.markMu.Lock()
	defer gen.markMu.Unlock()
	return len(gen.marked)
}

// CommitMarked commits, in one request, what was marked since the last
// commit. It fails once the generation is over and the coordinator has moved
// on, and the next generation reads those messages again; while the
// generation lasts, what failed is committed by the next call, unless marked
// again since.
func (gen *Generation) CommitMarked() error {
	gen.commitMu.Lock()
	defer gen.commitMu.Unlock()
	gen.markMu.Lock()
	marked := gen.marked
	gen.marked = nil
	gen.markMu.Unlock()
	if len(marked) == 0 {
		return nil
	}
	offsets := make(map[string]map[int]int64)
	for tp, o := range marked {
		if offsets[tp.Topic] == nil {
			offsets[tp.Topic] = make(map[int]int64)
		}
		offsets[tp.Topic][tp.Partition] = o
	}
	if err := gen.kgen.CommitOffsets(offsets); err != nil {
		gen.markMu.Lock()
		if gen.marked == nil {
			gen.marked = make(map[TopicPartition]int64)
		}
		for tp, o := range marked {
			if _, newer := gen.marked[tp]; !newer {
				gen.marked[tp] = o
			}
		}
		gen.markMu.Unlock()
		return fmt.Errorf("committing %d offsets of kafka group %q generation %d: %w", len(marked), gen.g.opts.GroupID, gen.ID, err)
	}
	gen.g.metrics.commits.Inc()
	return nil
}

// Commit marks msgs and commits everything marked.
func (gen *Generation) Commit(msgs []Message) error {
	gen.Mark(msgs)
	return gen.CommitMarked()
}

// Ready reports whether the group can do its job: a broker answers and this
// member holds partitions of the current generation.
func (g *Group) Ready(ctx context.Context) error {
	if _, err := g.PartitionCounts(ctx); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case !g.joined && g.lastErr != nil:
		return fmt.Errorf("kafka group %q: not joined: %w", g.opts.GroupID, g.lastErr)
	case !g.joined:
		return fmt.Errorf("kafka group %q: not joined yet", g.opts.GroupID)
	case len(g.assigned) == 0:
		return fmt.Errorf("kafka group %q: joined, but no partitions are assigned to this member (more members than partitions?)", g.opts.GroupID)
	}
	return nil
}

// Assigned returns the partition numbers of the current generation.
func (g *Group) Assigned() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.assigned)
}

func (g *Group) setJoined(generation int32, assigned []int, joined bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if joined && generation != g.generation {
		g.generations++
	}
	g.generation, g.assigned, g.joined = generation, assigned, joined
	if joined {
		g.lastErr = nil
	}
}

func (g *Group) setError(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lastErr = err
}

// groupCollector reads the generations joined at scrape time.
type groupCollector struct {
	g         *Group
	rebalance *prometheus.Desc
	assigned  *prometheus.Desc
}

func newGroupCollector(g *Group) *groupCollector {
	return &groupCollector{g: g,
		rebalance: prometheus.NewDesc("sentinel_ingest_rebalances_total", "Consumer group generations this member joined.", nil, nil),
		assigned:  prometheus.NewDesc("sentinel_ingest_partitions_assigned", "Partition numbers assigned to this member in the current generation.", nil, nil),
	}
}

func (c *groupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.rebalance
	ch <- c.assigned
}

func (c *groupCollector) Collect(ch chan<- prometheus.Metric) {
	c.g.mu.Lock()
	generations, assigned := c.g.generations, len(c.g.assigned)
	c.g.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.rebalance, prometheus.CounterValue, float64(generations))
	ch <- prometheus.MustNewConstMetric(c.assigned, prometheus.GaugeValue, float64(assigned))
}
