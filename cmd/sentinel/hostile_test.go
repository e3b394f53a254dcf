package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/store/storetest"
)

// hostileCase is a kind of message a broken or hostile producer sends, and
// what the daemon must do with it: dead-letter it with reason, or admit it
// (reason "").
type hostileCase struct {
	name     string
	messages func(now time.Time) [][]byte
	reason   string
}

// envelope is an event of the fraud model at ts with the given features
// object.
func envelope(ts time.Time, features string) []byte {
	return []byte(`{"model":"fraud","request_id":"h","timestamp":"` + ts.UTC().Format(time.RFC3339Nano) +
		`","features":` + features + `,"prediction":0.5}`)
}

func one(b []byte) func(time.Time) [][]byte { return func(time.Time) [][]byte { return [][]byte{b} } }

func hostileCases() []hostileCase {
	valid := `{"amount":1.5,"age":30,"country":"DE","device":"mobile","is_new":false,"merchant_risk":0.2}`
	at := func(ts string) func(time.Time) [][]byte {
		return one([]byte(`{"model":"fraud","timestamp":` + ts + `,"features":` + valid + `}`))
	}
	return []hostileCase{
		{"invalid JSON", one([]byte(`{"model": "fraud", "oops`)), "invalid_json"},
		{"invalid UTF-8 outside strings", one([]byte("\xff\xfe{\"model\":\"fraud\"}")), "invalid_json"},
		{"invalid UTF-8 inside strings", func(now time.Time) [][]byte {
			return [][]byte{envelope(now, `{"amount":1.5,"country":"`+"\xff\xfe\xc0"+`","device":"mobile"}`)}
		}, ""},
		{"nesting 10,000 deep in a feature", func(now time.Time) [][]byte {
			return [][]byte{envelope(now, `{"amount":`+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+`}`)}
		}, "too_deep"},
		{"nesting 100,000 deep at the top", one([]byte(strings.Repeat(`{"a":`, 100000))), "too_deep"},
		{"a feature name of a megabyte", func(now time.Time) [][]byte {
			return [][]byte{envelope(now, `{"amount":1.5,"`+strings.Repeat("n", 1_000_000)+`":1}`)}
		}, ""},
		{"numbers beyond float64", func(now time.Time) [][]byte {
			return [][]byte{envelope(now, `{"amount":1e400,"age":-1e400,"merchant_risk":1e-400}`)}
		}, ""},
		{"NaN as text and bare", func(now time.Time) [][]byte {
			return [][]byte{envelope(now, `{"amount":NaN,"age":"NaN","merchant_risk":-Infinity}`)}
		}, ""},
		{"a duplicate feature", func(now time.Time) [][]byte { return [][]byte{envelope(now, `{"amount":1,"amount":2}`)} }, "duplicate_key"},
		{"a duplicate envelope field", one([]byte(`{"model":"fraud","model":"other","timestamp":0,"features":{}}`)), "duplicate_key"},
		{"100,000 feature names in one message", func(now time.Time) [][]byte {
			var b strings.Builder
			b.WriteString("{")
			for i := range 100_000 {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(`"` + strconv.FormatInt(int64(i), 36) + `":0`)
			}
			b.WriteString("}")
			return [][]byte{envelope(now, b.String())}
		}, "too_many_features"},
		{"100,000 feature names across 1,000 messages", func(now time.Time) [][]byte {
			out := make([][]byte, 1000)
			for m := range out {
				var b strings.Builder
				b.WriteString(`{"amount":2.5`)
				for j := range 100 {
					fmt.Fprintf(&b, `,"x%d_%d":1`, m, j)
				}
				b.WriteString("}")
				out[m] = envelope(now, b.String())
			}
			return out
		}, ""},
		{"10,000 unknown models", func(now time.Time) [][]byte {
			out := make([][]byte, 10_000)
			for i := range out {
				out[i] = []byte(fmt.Sprintf(`{"model":"model-%d","timestamp":%q,"features":{}}`, i, now.UTC().Format(time.RFC3339)))
			}
			return out
		}, "unknown_model"},
		{"no model", func(now time.Time) [][]byte {
			return [][]byte{[]byte(fmt.Sprintf(`{"timestamp":%q,"features":{}}`, now.UTC().Format(time.RFC3339)))}
		}, "missing_model"},
		{"a timestamp in 1970", at(`"1970-01-01T00:00:00Z"`), "absurd_timestamp"},
		{"a timestamp in 2100", at(`"2100-01-01T00:00:00Z"`), "absurd_timestamp"},
		{"a negative timestamp", at(`-5`), "absurd_timestamp"},
		{"a timestamp of 1e400", at(`1e400`), "bad_timestamp"},
		{"a timestamp in year -1", at(`"-0001-01-01T00:00:00Z"`), "bad_timestamp"},
		{"no timestamp", one([]byte(`{"model":"fraud","features":` + valid + `}`)), "missing_timestamp"},
		{"a null timestamp", at(`null`), "missing_timestamp"},
		{"an empty message", one([]byte{}), "invalid_json"},
		{"a null message (tombstone)", one(nil), "invalid_json"},
		{"JSON null", one([]byte("null")), "not_object"},
		{"a JSON array", one([]byte("[1,2]")), "not_object"},
	}
}

// TestHostileMessages produces every kind of message a broken or hostile
// producer sends, twice over, to a running daemon: each is dead-lettered
// with its reason or admitted, counted in /metrics and in ClickHouse; the
// daemon stays up; the series it exposes do not grow with the payloads, and
// neither does its memory the second time round.
func TestHostileMessages(t *testing.T) {
	t.Parallel()
	dsn := storetest.DSN(t)
	cluster := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 4}, kafkatest.Topic{Name: "dead", Partitions: 1})
	db := fmt.Sprintf("sentinel_hostile_%d", time.Now().UnixNano())
	cfg := daemonConfig{brokers: cluster.Brokers(), dsn: dsn, database: db}.write(t)
	t.Cleanup(func() { dropDatabase(t, dsn, db) })
	d := startProc(t, cfg)

	// Ordinary traffic first, so that every series a healthy daemon has is there.
	var normal []kafkatest.Record
	now := time.Now()
	for i := range 2000 {
		normal = append(normal, kafkatest.Record{Partition: -1, Value: fraudEvent(nil, i, now)})
	}
	cluster.Produce(t, "events", normal...)
	// The lag is exported once the brokers were first asked for it (every
	// 5 s): it is a healthy daemon's series too.
	waitUntil(t, time.Minute, "the ordinary traffic, and the lag", func() bool {
		s, err := d.metrics()
		return err == nil && s.sum("sentinel_events_total") == 2000 && s.families["sentinel_ingest_lag"] != nil
	})
	before := d.mustMetrics()

	cases := hostileCases()
	want := map[string]float64{}
	admitted := 0.0
	var rounds [2]scrape
	for round := range rounds {
		start := time.Now()
		for _, hc := range cases {
			var recs []kafkatest.Record
			for _, m := range hc.messages(time.Now()) {
				recs = append(recs, kafkatest.Record{Partition: -1, Value: m})
				if hc.reason == "" {
					admitted++
				} else {
					want[hc.reason]++
				}
			}
			cluster.Produce(t, "events", recs...)
		}
		waitUntil(t, 2*time.Minute, "every hostile message read", func() bool {
			s, err := d.metrics()
			if err != nil {
				return false
			}
			return s.sum("sentinel_events_total") == 2000+admitted && s.sum("sentinel_events_rejected_total") == sumOf(want)
		})
		if !d.alive() {
			t.Fatalf("the daemon died in round %d:\n%s", round+1, tail(d.logBytes(), 20))
		}
		t.Logf("round %d: %.0f messages read in %s", round+1, (admitted+sumOf(want))/float64(round+1), time.Since(start).Round(100*time.Millisecond))
		time.Sleep(2 * time.Second) // the memory settles, a scrape shows the last counts
		rounds[round] = d.mustMetrics()
	}
	after := rounds[1]
	for reason, n := range want {
		if got := after.sum("sentinel_dead_letters_total", "reason", reason); got != n {
			t.Errorf("sentinel_dead_letters_total{reason=%q} = %v, want %v", reason, got, n)
		}
		if got := after.sum("sentinel_events_rejected_total", "reason", reason); got != n {
			t.Errorf("sentinel_events_rejected_total{reason=%q} = %v, want %v", reason, got, n)
		}
	}
	if got := after.sum("sentinel_dead_letters_total", "reason", "other"); got != 0 {
		t.Errorf("%v dead letters counted under \"other\"", got)
	}
	// The model label takes the configured model or "unknown": never a name
	// from a payload.
	for _, m := range after.families["sentinel_events_rejected_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "model" && l.GetValue() != "fraud" && l.GetValue() != "unknown" {
				t.Errorf("a rejection counted under model %q", l.GetValue())
			}
		}
	}
	// Every dead letter carries its reason, in the order produced within a
	// partition; counts by reason are what was sent.
	dead := cluster.Read(t, "dead", int(sumOf(want)))
	byReason := map[string]float64{}
	for _, m := range dead {
		byReason[m.Headers["sentinel-reason"]]++
		if len(m.Headers["sentinel-detail"]) > 1024 {
			t.Errorf("a dead letter's detail has %d bytes", len(m.Headers["sentinel-detail"]))
		}
	}
	for reason, n := range want {
		if byReason[reason] != n {
			t.Errorf("%v dead letters with reason %q, want %v", byReason[reason], reason, n)
		}
	}
	// What is counted is written, by reason, read with FINAL.
	conn := chConn(t, dsn)
	waitUntil(t, time.Minute, "the rejection counts written", func() bool {
		got := rejectedByReason(t, conn, db)
		for reason, n := range want {
			if float64(got[reason]) != n {
				return false
			}
		}
		return true
	})

	rss := func(s scrape) float64 { return s.sum("process_resident_memory_bytes") / 1e6 }
	t.Logf("series: %d before, %d after the first round of %d kinds, %d after the second; RSS %.0f MB before, %.0f, %.0f; goroutines %.0f, %.0f, %.0f",
		before.series(), rounds[0].series(), len(cases), after.series(), rss(before), rss(rounds[0]), rss(after),
		before.sum("go_goroutines"), rounds[0].sum("go_goroutines"), after.sum("go_goroutines"))
	// The first round adds the series of each reason and of the checks the
	// hostile events trip; the second, being the same kinds again, none.
	if grown := rounds[0].series() - before.series(); grown > 40 {
		t.Errorf("%d series more after the first round", grown)
	}
	if after.series() != rounds[0].series() {
		t.Errorf("%d series after the first round, %d after the second: the payloads create series; new: %v",
			rounds[0].series(), after.series(), after.newSeries(rounds[0]))
	}
	// Memory: the payloads sum to about 12 MB a round.
	if grown := rss(after) - rss(rounds[0]); grown > 40 {
		t.Errorf("RSS grew by %.0f MB in the second round", grown)
	}
	if rss(after) > 250 {
		t.Errorf("RSS %.0f MB after hostile traffic", rss(after))
	}
	if g := after.sum("go_goroutines"); g > before.sum("go_goroutines")+10 {
		t.Errorf("%.0f goroutines after, %.0f before", g, before.sum("go_goroutines"))
	}
	if code := d.term(time.Minute); code != 0 {
		t.Errorf("SIGTERM: exit %d:\n%s", code, tail(d.logBytes(), 20))
	}
	if bytes.Contains(d.logBytes(), []byte(`"level":"ERROR"`)) {
		t.Errorf("errors logged:\n%s", tail(d.logBytes(), 20))
	}
}

func sumOf(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}

// TestOversizedCompressedMessage: a message over kafka.max_message_bytes
// that the broker took because it compressed well (2 MiB of JSON, a few KB
// in zstd) is dead-lettered as oversized, and the messages behind it on its
// partition are read: the daemon neither dies nor stops on it.
func TestOversizedCompressedMessage(t *testing.T) {
	t.Parallel()
	dsn := storetest.DSN(t)
	cluster := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 1}, kafkatest.Topic{Name: "dead", Partitions: 1})
	db := fmt.Sprintf("sentinel_oversized_%d", time.Now().UnixNano())
	cfg := daemonConfig{brokers: cluster.Brokers(), dsn: dsn, database: db}.write(t)
	t.Cleanup(func() { dropDatabase(t, dsn, db) })

	now := time.Now()
	big := envelope(now, `{"amount":1.5,"comment":"`+strings.Repeat("spam ", 2<<20/5)+`"}`)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...), kgo.DefaultProduceTopic("events"),
		kgo.ProducerBatchCompression(kgo.ZstdCompression()), kgo.ProducerBatchMaxBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := []*kgo.Record{{Value: big}}
	for i := range 100 {
		recs = append(recs, &kgo.Record{Value: fraudEvent(nil, i, now)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing a %d-byte message with zstd: %v", len(big), err)
	}

	d := startProc(t, cfg)
	deadline := time.Now().Add(time.Minute)
	var s scrape
	for time.Now().Before(deadline) {
		if s, err = d.metrics(); err == nil && s.sum("sentinel_events_total") == 100 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !d.alive() {
		t.Fatalf("the daemon died on a %d-byte message:\n%s", len(big), tail(d.logBytes(), 20))
	}
	if got := s.sum("sentinel_events_total"); got != 100 {
		t.Errorf("%v of the 100 events behind a %d-byte message admitted within a minute (rejected: %v, dead letters: %v); the log says:\n%s",
			got, len(big), s.sum("sentinel_events_rejected_total", "reason", "oversized"), s.sum("sentinel_dead_letters_total", "reason", "oversized"),
			tail(d.logBytes(), 5))
	}
	if got := s.sum("sentinel_dead_letters_total", "reason", "oversized"); got != 1 {
		t.Errorf("%v oversized messages dead-lettered, want 1", got)
	}
	if got := s.sum("sentinel_events_rejected_total", "reason", "oversized"); got != 1 {
		t.Errorf("sentinel_events_rejected_total{reason=\"oversized\"} = %v for one message, want 1", got)
	}
	d.term(time.Minute)
}
