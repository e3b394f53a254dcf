package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/sentinel-ml/sentinel/internal/store/storetest"
)

// TestDemo runs the demonstration at twice the speed `make demo` does, into
// the test ClickHouse: every incident is caught, nothing fires in the clean
// warm-up, at most one alert fires outside the incidents, and the status page
// is served while it runs.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demonstration runs for 80 seconds")
	}
	dsn := storetest.DSN(t)
	db := fmt.Sprintf("sentinel_demo_test_%d", time.Now().UnixNano())
	t.Cleanup(func() { dropDatabase(t, dsn, db) })
	out := &watchedOutput{addr: make(chan string, 1)}
	opts := Options{Speed: 60, Seed: 1, Listen: "127.0.0.1:0", DSN: dsn, Database: db, Out: out}
	opts.Duration = opts.minimum()
	var page []byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		page = statusPage(t, <-out.addr, opts.warmup())
	}()
	card, err := Run(context.Background(), opts)
	wg.Wait()
	t.Logf("demonstration output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(card.Store, "ClickHouse") {
		t.Errorf("stored in %s, want the test ClickHouse", card.Store)
	}
	for _, s := range card.Incidents {
		if !s.Judged {
			t.Errorf("%s: the demonstration ended before it did", s.Kind)
		}
	}
	if missed := card.Missed(); len(missed) > 0 {
		t.Errorf("missed incidents: %v", missed)
	}
	for _, f := range card.FalseAlarms {
		if f.At < opts.warmup() {
			t.Errorf("%s fired at %s, in the clean warm-up: %s", f.Name, clock(f.At), f.Summary)
		}
	}
	if len(card.FalseAlarms) > 1 {
		t.Errorf("%d false alarms, want at most 1", len(card.FalseAlarms))
	}
	for _, want := range []string{"fraud", "eta", "incident: amounts ×2.5", "<svg"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the status page after the first incident lacks %q", want)
		}
	}
}

// statusPage fetches the status page once the first incident has begun.
func statusPage(t *testing.T, addr string, after time.Duration) []byte {
	time.Sleep(after + 5*time.Second)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Errorf("status page: %v", err)
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status page: %s", resp.Status)
	}
	return body
}

// watchedOutput is the demonstration's terminal: it keeps what was printed
// and passes on the address of the status page when it is printed.
type watchedOutput struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string
	sent bool
}

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	const marker = "status page on http://"
	if s := w.buf.String(); !w.sent && strings.Contains(s, marker) {
		rest := s[strings.Index(s, marker)+len(marker):]
		if end := strings.Index(rest, "/"); end > 0 {
			w.addr <- rest[:end]
			w.sent = true
		}
	}
	return len(p), nil
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func dropDatabase(t *testing.T, dsn, db string) {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Error(err)
		return
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	// Cleaning up is not what is tested: a server slow to drop the tables
	// (ClickHouse waits for the merges under way) is logged, not failed.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		t.Logf("dropping %s: %v", db, err)
	}
}
