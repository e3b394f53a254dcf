package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnsureTopic creates the topic with the given partitions and retention
// unless it exists, and returns its partition count: an existing topic keeps
// its own shape (a count changed under a running Sentinel would move models
// between partitions of it).
func EnsureTopic(ctx context.Context, conn KafkaConn, name string, partitions int, retention time.Duration) (int, error) {
	if partitions < 1 {
		return 0, fmt.Errorf("creating topic %q: %d partitions", name, partitions)
	}
	tlsConfig, mech, err := conn.security()
	if err != nil {
		return 0, err
	}
	transport := conn.transport(tlsConfig, mech, []string{name})
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(conn.Brokers...), Transport: transport}
	count := func() (int, error) {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{name}})
		if err != nil {
			return 0, fmt.Errorf("kafka metadata from %v: %w", conn.Brokers, err)
		}
		for _, t := range md.Topics {
			if t.Name == name && t.Error == nil && len(t.Partitions) > 0 {
				return len(t.Partitions), nil
			}
		}
		return 0, nil
	}
	if n, err := count(); err != nil || n > 0 {
		return n, err
	}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: name, NumPartitions: partitions,
		// The brokers' default replication, as for any topic they create.
		ReplicationFactor: -1,
		ConfigEntries:     []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(retention.Milliseconds(), 10)}},
	}}})
	if err != nil {
		return 0, fmt.Errorf("creating topic %q: %w", name, err)
	}
	if err := resp.Errors[name]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return 0, fmt.Errorf("creating topic %q: %w", name, err)
	}
	// Creation completes on the brokers after the answer.
	for {
		n, err := count()
		if err != nil || n > 0 {
			return n, err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for topic %q: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
