package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReplayHonoursConfig: replay --config applies the configuration's checks
// as run does, those no window drives among them: keyed skew against the
// recorded offline values, and staleness, judged in the recording's own time.
func TestReplayHonoursConfig(t *testing.T) {
	path := writeConfig(t, []string{"127.0.0.1:9092"}, "clickhouse://127.0.0.1:9000/default",
		"keyed_skew: {max_mismatch_ratio: 0.1}\n")
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "max_silence: 1h", "max_silence: 3m", 1))
	cfg = []byte(strings.Replace(string(cfg), "dead_letters: dead}", "dead_letters: dead, features: offline}", 1))
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	// Ten minutes of traffic, a ten-minute silence, five more minutes. Every
	// request's offline value is recorded a second later; a fifth of them
	// differ in amount.
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	var events, offline strings.Builder
	for i := range 250 {
		at := t0.Add(time.Duration(i) * 6 * time.Second)
		if i >= 100 {
			at = at.Add(10 * time.Minute)
		}
		amount := 10 + i%40
		fmt.Fprintf(&events, `{"model": "fraud", "request_id": "r%d", "timestamp": %q, "features": {"amount": %d, "age": 30, "country": "DE", "device": "mobile", "is_new": false, "merchant_risk": 0.3}, "prediction": 0.2}`+"\n",
			i, at.Format(time.RFC3339), amount)
		if i%5 == 0 {
			amount++
		}
		fmt.Fprintf(&offline, `{"model": "fraud", "request_id": "r%d", "timestamp": %q, "features": {"amount": %d, "age": 30, "country": "DE", "device": "mobile", "is_new": false, "merchant_risk": 0.3}}`+"\n",
			i, at.Add(time.Second).Format(time.RFC3339), amount)
	}
	dir := t.TempDir()
	eventsPath, offlinePath := filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "offline.jsonl")
	for p, data := range map[string]string{eventsPath: events.String(), offlinePath: offline.String()} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := run(t, "replay", "--input", eventsPath, "--features", offlinePath, "--config", path, "--no-anomaly")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	keyed, stale := map[string]float64{}, map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var f struct {
			WindowStart time.Time `json:"window_start"`
			Feature     string    `json:"feature"`
			Metric      string    `json:"metric"`
			Value       float64   `json:"value"`
		}
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatal(err)
		}
		switch f.Metric {
		case "keyed_mismatch_ratio":
			keyed[f.WindowStart.Format("15:04")+" "+f.Feature] = f.Value
		case "seconds_since_last_event":
			stale[f.WindowStart.Format("15:04")] = f.Value
		}
	}
	if len(keyed) == 0 {
		t.Errorf("no keyed skew findings; output:\n%s", stdout)
	}
	for k, v := range keyed {
		if !strings.HasSuffix(k, " amount") || v < 0.15 || v > 0.25 {
			t.Errorf("keyed skew %s = %v, want about a fifth of amount", k, v)
		}
	}
	// The silence runs from 10:09:54 to 10:20: the first event after it finds
	// the model silent for over ten minutes, past max_silence of three.
	if v, ok := stale["10:20"]; !ok || v < 600 {
		t.Errorf("staleness findings %v, want one at 10:20 of over 600 s", stale)
	}
}
