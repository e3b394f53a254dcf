package web

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/status"
	"github.com/sentinel-ml/sentinel/internal/status/statustest"
	"github.com/sentinel-ml/sentinel/internal/store"
)

var screenshot = flag.String("screenshot", "", "also save the Chromium test's screenshot of the status page here")

// chromiumPath returns the browser: $SENTINEL_CHROMIUM (make test sets it,
// installing Debian's chromium when missing), else one on $PATH. Without one
// the test is skipped, or fails under CI=true, where make test must have
// provided it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SENTINEL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	cannotRun(t, errors.New("no chromium on $PATH and SENTINEL_CHROMIUM unset"))
	return ""
}

func cannotRun(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("chromium cannot run: %v; make test installs it (scripts/chromium.sh)", err)
	}
	t.Skipf("chromium cannot run: %v; make test installs it", err)
}

// headless runs the browser once on url with a profile of its own and no
// network of its own (no updates, sync, QUIC or proxy), returning stdout.
func headless(ctx context.Context, t *testing.T, bin string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-proxy-server",
		"--hide-scrollbars", "--force-device-scale-factor=1", "--user-data-dir=" + t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if tail := lastLines(errb.String(), 5); tail != "" {
			err = fmt.Errorf("%w: %s", err, tail)
		}
		return nil, err
	}
	return out.Bytes(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestStatusPageInChromium serves the page of two hours of the example's
// recorded traffic, replayed through the pipeline into a Recorder, with an
// incident annotated and alerts active, and has headless Chromium load it:
// the DOM it builds holds the charts and the alerts, and the screenshot it
// renders shows them in their colours. A page of hostile names builds no
// active content.
func TestStatusPageInChromium(t *testing.T) {
	bin := chromiumPath(t)
	ctx := context.Background()
	if _, err := headless(ctx, t, bin, "--dump-dom", "about:blank"); err != nil {
		cannotRun(t, err)
	}
	board := exampleBoard(t)
	h, err := Handler(Options{Gatherer: prometheus.NewRegistry(), Alive: func() error { return nil },
		Ready: func(context.Context) error { return nil }, Status: board})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	dom, err := headless(ctx, t, bin, "--dump-dom", srv.URL+"/")
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	for _, want := range []string{
		`<svg class="timeline"`, `<polyline class="score"`, `<circle class="pt flag"`, `<line class="threshold"`,
		`<rect class="note"`, `<rect class="c-bad"`, `<rect class="bar"`,
		`<tr class="alert firing">`, `SentinelNumericalInstability`, `incident: amounts`,
		`Latest anomaly verdict`, `<table class="checks">`,
	} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("the DOM Chromium built lacks %q", want)
		}
	}

	png := filepath.Join(t.TempDir(), "status.png")
	if _, err := headless(ctx, t, bin, "--screenshot="+png, "--window-size=1040,2340", srv.URL+"/"); err != nil {
		t.Fatalf("chromium --screenshot: %v", err)
	}
	img := decodePNG(t, png)
	// Solid fills the page uses for nothing else: a flagged window's point,
	// a breached cell of the timeline, the critical alert's badge, the
	// score's points.
	for _, c := range []struct {
		what string
		rgb  color.RGBA
		min  int
	}{
		{"flagged points", color.RGBA{0xd3, 0x2f, 0x2f, 0xff}, 100},
		{"breached cells", color.RGBA{0xe0, 0x52, 0x4a, 0xff}, 2000},
		{"the critical alert's badge", color.RGBA{0xc6, 0x28, 0x28, 0xff}, 200},
		{"the score's line and points", color.RGBA{0x1f, 0x5f, 0xbf, 0xff}, 100},
	} {
		if n := countColour(img, c.rgb); n < c.min {
			t.Errorf("%d pixels of %s (%v) in the screenshot, want at least %d", n, c.what, c.rgb, c.min)
		}
	}
	// The DOM Chromium builds of a page whose every name is hostile holds
	// them as text, and nothing active.
	evil, err := Handler(Options{Gatherer: prometheus.NewRegistry(), Alive: func() error { return nil },
		Ready: func(context.Context) error { return nil }, Status: hostileBoard()})
	if err != nil {
		t.Fatal(err)
	}
	evilSrv := httptest.NewServer(evil)
	defer evilSrv.Close()
	dom, err = headless(ctx, t, bin, "--dump-dom", evilSrv.URL+"/")
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	noActiveContent(t, string(dom))
	if !bytes.Contains(dom, []byte(`&lt;script&gt;alert(1)&lt;/script&gt;`)) || !bytes.Contains(dom, []byte(`<svg class="timeline"`)) {
		t.Error("the hostile page's DOM lacks the model's name as text or its timeline")
	}
	if *screenshot != "" {
		b, err := os.ReadFile(png)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*screenshot, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func countColour(img image.Image, want color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if uint8(r>>8) == want.R && uint8(g>>8) == want.G && uint8(bl>>8) == want.B {
				n++
			}
		}
	}
	return n
}

// exampleBoard replays examples/fraud's two hours of traffic (the incident
// starts at 10:00) through the pipeline as `sentinel replay` would, into a
// Recorder, and adds what the alert evaluator would report of it.
func exampleBoard(t *testing.T) *status.Board {
	t.Helper()
	const example = "../../examples/fraud"
	at := time.Date(2026, 11, 20, 11, 0, 30, 0, time.UTC)
	rec := status.NewRecorder(discard{}, status.Options{Models: []string{"fraud"}, Now: func() time.Time { return at }})
	p, err := pipeline.New(pipeline.Options{Models: []*model.Model{modeltest.Example(t, example)}, Window: 5 * time.Minute,
		Lateness: 10 * time.Second, ReferencePeriod: time.Hour, MinSamples: 100, MaxMessageBytes: 4096,
		Labels:     &labels.JoinerConfig{MaxDelay: time.Hour, MaxPending: 10000},
		Anomaly:    &analyze.AnomalyOptions{FitAfter: 10, HistoryWindows: 100, FalseAlarmRate: 0.002},
		MaxSilence: 5 * time.Minute, MaxModelAge: 90 * 24 * time.Hour, EventTime: true, ReplayTick: 5 * time.Minute,
		Writer: rec, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	src, err := ingest.NewFileSource(ingest.FileSourceOptions{Path: example + "/events.jsonl", MaxLineBytes: 4097})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := pipeline.Replay(context.Background(), src, p); err != nil {
		t.Fatal(err)
	}
	incident := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	m := rec.Snapshot().Models
	if len(m) != 1 || m[0].Latest() == nil || m[0].Latest().Verdict == nil {
		t.Fatalf("the replay left no verdict: %+v", m)
	}
	verdict := m[0].Latest().Verdict
	alerts := &statustest.Alerts{}
	alerts.Set(
		status.Alert{Name: "SentinelNumericalInstability", Model: "fraud", Feature: "prediction", Severity: "critical", Firing: true,
			Since: incident, Summary: "Model fraud, prediction: numerical instability (nan_ratio 0.015)"},
		status.Alert{Name: "SentinelAnomaly", Model: "fraud", Severity: "warning", Firing: true, Since: incident,
			Summary: fmt.Sprintf("Model fraud: anomalous windows (score %.2f)", verdict.Score), Causes: verdict.Causes},
		status.Alert{Name: "SentinelDataQuality", Model: "fraud", Feature: "age", Severity: "warning", Firing: true, Since: incident,
			Summary: "Model fraud, feature age: null_ratio 0.15, above its threshold 0.05"},
		status.Alert{Name: "SentinelTrainServeSkew", Model: "fraud", Feature: "amount", Severity: "warning", Since: incident,
			Summary: "Model fraud, feature amount: psi 0.57, above its threshold 0.2"},
	)
	notes := status.Annotations{{Model: "fraud", Start: incident, End: incident.Add(time.Hour),
		Text: "incident: amounts ×2.2 (another currency unit), new market BR, smart_tv devices, 15% of ages lost"}}
	return &status.Board{Recorder: rec, Alerts: alerts, Annotations: notes}
}

// discard is the store behind the example's recorder.
type discard struct{}

func (discard) Write(context.Context, store.Batch) error { return nil }
