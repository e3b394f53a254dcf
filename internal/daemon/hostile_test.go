package daemon

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// closedAddr is an address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestStopWhileStoreUnreachableAtStart: a daemon waiting for ClickHouse at
// start (wrong password, server down) has nothing to drain; a SIGTERM must
// stop it at once rather than after the whole shutdown timeout, which
// Kubernetes' grace period (30 s by default) cuts short with a SIGKILL.
func TestStopWhileStoreUnreachableAtStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	st, err := store.New(store.Options{DSN: "clickhouse://" + closedAddr(t) + "/default?dial_timeout=200ms", Database: "sentinel_stop_test",
		Registerer: reg, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	group, err := ingest.NewGroup(ingest.KafkaOptions{KafkaConn: ingest.KafkaConn{Brokers: []string{closedAddr(t)}},
		GroupID: "sentinel", Topics: []string{"events"}, Registerer: reg, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	d, err := New(Options{
		Pipeline: pipeline.Options{Models: []*model.Model{testModel(t)}, Window: time.Minute, ReferencePeriod: time.Hour,
			MinSamples: 10, MaxMessageBytes: 1 << 20, Now: time.Now, Registerer: reg, Logger: logger(t)},
		Group: group, Store: st, TickEvery: time.Second, CommitEvery: time.Second, Registerer: reg, Logger: logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // preparing the store, retrying
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	d.Stop(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Stop took %s while the store was unreachable at start: it waits for the shutdown timeout", took.Round(100*time.Millisecond))
	}
}
