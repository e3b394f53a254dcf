package tracing

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestFromEnvChoosesTheExporter(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		vars    map[string]string
		enabled bool
		err     string
	}{
		{vars: nil, enabled: false},
		{vars: map[string]string{"OTEL_TRACES_EXPORTER": "none"}, enabled: false},
		{vars: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: "otlp, or none"},
		{vars: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}, err: "want http/protobuf or grpc"},
		{vars: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, enabled: true},
		{vars: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, enabled: true},
	}
	for _, tc := range tests {
		p, err := FromEnv(context.Background(), env(tc.vars), log)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: %v, want %q", tc.vars, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.vars, err)
		}
		_, span := Tracer(p).Start(context.Background(), "x")
		if got := span.SpanContext().IsValid(); got != tc.enabled {
			t.Errorf("%v: tracing on = %v, want %v", tc.vars, got, tc.enabled)
		}
		span.End()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p.Shutdown(ctx)
		cancel()
	}
}

// TestOTLPOverHTTP: spans reach an OTLP/HTTP receiver, named for the service.
func TestOTLPOverHTTP(t *testing.T) {
	var mu sync.Mutex
	var got []*coltrace.ExportTraceServiceRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := &coltrace.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			t.Errorf("decoding an export to %s: %v", r.URL.Path, err)
		}
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Write(b)
	}))
	defer srv.Close()
	// The OTLP exporters read their own variables from the process.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	p, err := FromEnv(context.Background(), env(map[string]string{"OTEL_TRACES_EXPORTER": "otlp",
		"OTEL_SERVICE_NAME": "sentinel-test"}), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := Tracer(p).Start(context.Background(), SpanWindow)
	if attrs := LogAttrs(ctx); len(attrs) != 4 || attrs[1] != span.SpanContext().TraceID().String() {
		t.Errorf("log attributes %v, want the span's trace and span ids", attrs)
	}
	span.End()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(shutdown); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var names []string
	service := ""
	for _, req := range got {
		for _, rs := range req.ResourceSpans {
			for _, a := range rs.Resource.Attributes {
				if a.Key == "service.name" {
					service = a.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names = append(names, s.Name)
				}
			}
		}
	}
	if len(names) != 1 || names[0] != SpanWindow || service != "sentinel-test" {
		t.Errorf("received spans %v of service %q, want one %s of sentinel-test", names, service, SpanWindow)
	}
}
