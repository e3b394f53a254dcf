package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

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
