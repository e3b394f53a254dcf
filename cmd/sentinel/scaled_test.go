package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/store/storetest"
)

// TestRunScaledOut: two `run` processes with kafka.topics.partials, as two
// replicas of a scaled-out Sentinel, create the partials topic and store
// every window the watermark closes with the events and results a replay of
// the same traffic stores.
func TestRunScaledOut(t *testing.T) {
	dsn := storetest.DSN(t)
	cluster := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 2}, kafkatest.Topic{Name: "labels", Partitions: 2},
		kafkatest.Topic{Name: "dead", Partitions: 1})
	path := writeConfig(t, cluster.Brokers(), dsn, "")
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	scaled := strings.Replace(string(cfg), "topics: {events: events, labels: labels, dead_letters: dead}",
		"topics: {events: events, labels: labels, dead_letters: dead, partials: partials}\n  partials: {partitions: 2}", 1)
	if err := os.WriteFile(path, []byte(scaled), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, end := scaledTraffic(t)
	for _, line := range lines {
		// A request's prediction and label share a partition, as the
		// label join requires (co-partitioned by request id).
		var ev struct {
			RequestID string `json:"request_id"`
		}
		json.Unmarshal(line, &ev) // a line that is not JSON goes to partition 0
		h := fnv.New32a()
		h.Write([]byte(ev.RequestID))
		cluster.Produce(t, "events", kafkatest.Record{Partition: int32(h.Sum32() % 2), Value: line})
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 2)
	for range 2 {
		go func() { done <- dispatch(ctx, []string{"run", "--config", path}, io.Discard, io.Discard) }()
	}

	// The replay of the same traffic, into a database of its own.
	recording := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(recording, append([]byte(strings.Join(byteLines(lines), "\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	replayDB := database(t, path) + "_replay"
	replayCfg := filepath.Join(filepath.Dir(path), "replay.yaml")
	if err := os.WriteFile(replayCfg, []byte(strings.Replace(scaled, "database: "+database(t, path), "database: "+replayDB, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(t, dsn, replayDB) })
	if code, _, stderr := run(t, "replay", "--input", recording, "--config", replayCfg, "--store", "--output", os.DevNull); code != 0 {
		t.Fatalf("replay exited %d: %s", code, stderr)
	}
	conn := chConn(t, dsn)
	want := windowDigests(t, conn, replayDB, end)
	if len(want) < 5 {
		t.Fatalf("the replay wrote %d windows before %s", len(want), end.Format("15:04"))
	}

	deadline := time.Now().Add(60 * time.Second)
	var got map[string]string
	for {
		got = windowDigests(t, conn, database(t, path), end)
		if len(got) >= len(want) {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("a replica exited %d", code)
		default:
		}
		if time.Now().After(deadline) {
			var missing []string
			for w := range want {
				if _, ok := got[w]; !ok {
					missing = append(missing, w+" ("+want[w]+")")
				}
			}
			t.Fatalf("the replicas wrote %d of the %d windows within 60s; not %v", len(got), len(want), missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for w, c := range want {
		if got[w] != c {
			t.Errorf("window %s: events and results %s by the replicas, %s replayed", w, got[w], c)
		}
	}
	cancel()
	for range 2 {
		if code := <-done; code != 0 {
			t.Errorf("a replica exited %d after its context ended, want 0", code)
		}
	}
}

// scaledTraffic is the example's first 1,500 lines and, after them, a copy
// of its last event five minutes later for each partition (by its request
// id's hash, as every line is produced), which closes every earlier
// window by watermark; end is the closing events' window.
func scaledTraffic(t *testing.T) (lines [][]byte, end time.Time) {
	t.Helper()
	events, err := os.ReadFile(example + "events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(events)), "\n")[:1500] {
		lines = append(lines, []byte(line))
	}
	var last map[string]any
	for k := len(lines) - 1; last["features"] == nil; k-- {
		// A fresh map each time: Unmarshal into a map adds to what it holds.
		last = nil
		if err := json.Unmarshal(lines[k], &last); err != nil {
			last = nil // the example holds invalid lines too
		}
	}
	at, err := time.Parse(time.RFC3339Nano, last["timestamp"].(string))
	if err != nil {
		t.Fatal(err)
	}
	end = at.Add(5 * time.Minute).Truncate(time.Minute)
	for k, id := range closingIDs() {
		last["timestamp"] = end.Add(time.Duration(k) * time.Second).Format(time.RFC3339Nano)
		last["request_id"] = id
		b, err := json.Marshal(last)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b)
	}
	return lines, end
}

func byteLines(lines [][]byte) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(l)
	}
	return out
}

// database is the ClickHouse database a test configuration names.
func database(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "database: "); ok {
			return name
		}
	}
	t.Fatal("no database in the configuration")
	return ""
}

// windowDigests reads, per window before end, the events stored and a
// digest of its check results (count and sum of values).
func windowDigests(t *testing.T, conn clickhouse.Conn, db string, end time.Time) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT toString(window_start), row_count FROM `%s`.window_profiles FINAL "+
		"WHERE feature = '' AND window_start < toDateTime(%d)", db, end.Unix()))
	if err != nil {
		return out // not created yet
	}
	defer rows.Close()
	for rows.Next() {
		var w string
		var n uint64
		if err := rows.Scan(&w, &n); err != nil {
			t.Fatal(err)
		}
		out[w] = fmt.Sprint(n)
	}
	res, err := conn.Query(ctx, fmt.Sprintf("SELECT toString(window_start), count(), sum(isNaN(value) ? 0 : round(value, 9)) FROM `%s`.check_results FINAL "+
		"WHERE window_start < toDateTime(%d) AND kind NOT IN ('anomaly', 'staleness') GROUP BY window_start", db, end.Unix()))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	for res.Next() {
		var w string
		var n uint64
		var sum float64
		if err := res.Scan(&w, &n, &sum); err != nil {
			t.Fatal(err)
		}
		if _, ok := out[w]; ok {
			out[w] += fmt.Sprintf(" events, %d results summing to %.6g", n, sum)
		}
	}
	return out
}

// closingIDs are request ids of the closing events, one hashing to each of
// the two partitions.
func closingIDs() []string {
	ids := make([]string, 2)
	for k, found := 0, 0; found < 2; k++ {
		id := fmt.Sprintf("closing-%d", k)
		h := fnv.New32a()
		h.Write([]byte(id))
		if p := h.Sum32() % 2; ids[p] == "" {
			ids[p] = id
			found++
		}
	}
	return ids
}
