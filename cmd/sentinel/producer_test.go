package main

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
)

// fraudEvent appends event i of the example fraud model at ts.
func fraudEvent(buf []byte, i int, ts time.Time) []byte {
	countries := [...]string{"DE", "ES", "FR", "GB", "IT", "US"}
	devices := [...]string{"desktop", "mobile", "tablet"}
	buf = append(buf, `{"model":"fraud","model_version":"2026-11-01","request_id":"r-`...)
	buf = strconv.AppendInt(buf, int64(i), 10)
	buf = append(buf, `","timestamp":"`...)
	buf = ts.UTC().AppendFormat(buf, "2006-01-02T15:04:05.000Z07:00")
	buf = append(buf, `","features":{"amount":`...)
	buf = strconv.AppendFloat(buf, float64(i%5000)/10+0.25, 'f', 2, 64)
	buf = append(buf, `,"age":`...)
	buf = strconv.AppendInt(buf, int64(18+i%60), 10)
	buf = append(buf, `,"country":"`...)
	buf = append(buf, countries[i%len(countries)]...)
	buf = append(buf, `","device":"`...)
	buf = append(buf, devices[i%len(devices)]...)
	buf = append(buf, `","is_new":`...)
	buf = strconv.AppendBool(buf, i%7 == 0)
	buf = append(buf, `,"merchant_risk":`...)
	buf = strconv.AppendFloat(buf, float64(i%1000)/1000, 'f', 3, 64)
	buf = append(buf, `},"prediction":`...)
	buf = strconv.AppendFloat(buf, float64(i%997)/997, 'f', 4, 64)
	buf = append(buf, `,"latency_ms":`...)
	buf = strconv.AppendFloat(buf, 5+float64(i%300)/10, 'f', 1, 64)
	return append(buf, '}')
}

// stream is a producer writing a planned sequence of events to a topic at a
// steady rate, round-robin over its partitions, from its own goroutine, as
// a model's serving traffic does: it keeps going through the daemon's
// crashes and waits a broker outage out (the client buffers and retries).
type stream struct {
	cl         *kgo.Client
	stop       chan struct{}
	done       chan struct{}
	produced   atomic.Int64 // acknowledged
	failed     atomic.Int64
	firstErr   atomic.Pointer[error]
	wg         sync.WaitGroup
	finishedAt atomic.Pointer[time.Time]
}

// streamPlan says what a stream sends.
type streamPlan struct {
	topic      string
	partitions int
	// n messages, message i at start + i/rate.
	n    int
	rate float64
	// message returns message i's value.
	message func(i int, buf []byte) []byte
}

func startStream(t *testing.T, cluster *kafkatest.Cluster, plan streamPlan) *stream {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cluster.Brokers()...),
		kgo.DefaultProduceTopic(plan.topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 250 * time.Millisecond }),
	)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{cl: cl, stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() {
		s.halt()
		cl.Close()
	})
	go func() {
		defer close(s.done)
		start := time.Now()
		var buf []byte
		for i := range plan.n {
			if wait := time.Until(start.Add(time.Duration(float64(i) / plan.rate * float64(time.Second)))); wait > 0 {
				select {
				case <-s.stop:
					return
				case <-time.After(wait):
				}
			}
			buf = plan.message(i, buf[:0])
			r := &kgo.Record{Partition: int32(i % plan.partitions), Value: append([]byte(nil), buf...)}
			s.wg.Add(1)
			cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
				defer s.wg.Done()
				if err != nil {
					s.failed.Add(1)
					s.firstErr.CompareAndSwap(nil, &err)
					return
				}
				s.produced.Add(1)
			})
		}
		s.wg.Wait()
		now := time.Now()
		s.finishedAt.Store(&now)
	}()
	return s
}

// halt stops producing more.
func (s *stream) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// wait waits until every message is acknowledged, and fails the test if
// any was not.
func (s *stream) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		t.Fatalf("the producer has %d acknowledged after %s", s.produced.Load(), timeout)
	}
	if p := s.firstErr.Load(); p != nil {
		t.Fatalf("%d messages were not produced: %v", s.failed.Load(), *p)
	}
}
