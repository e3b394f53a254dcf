// Package tracing sets up OpenTelemetry traces from the standard OTEL_*
// environment variables, and names what Sentinel traces: per window and per
// batch, never per event, so that tracing costs nothing measurable.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Name is the instrumentation scope of Sentinel's spans.
const Name = "github.com/sentinel-ml/sentinel"

// Span names.
const (
	SpanFetch      = "sentinel.fetch"        // a run of messages read and processed by a worker
	SpanWindow     = "sentinel.window.close" // a window checked
	SpanChecks     = "sentinel.checks"       // the window's checks
	SpanAnomaly    = "sentinel.anomaly"      // the detector's verdict on it
	SpanStoreWrite = "sentinel.store.write"  // a batch made durable
	SpanCommit     = "sentinel.commit"       // offsets committed
)

// Provider is a tracer provider and what stops it.
type Provider struct {
	trace.TracerProvider
	// Shutdown flushes the spans not yet exported and stops exporting.
	Shutdown func(context.Context) error
	// Propagator carries trace context to other processes.
	Propagator propagation.TextMapPropagator
}

// Disabled traces nothing.
func Disabled() *Provider {
	return &Provider{TracerProvider: noop.NewTracerProvider(), Shutdown: func(context.Context) error { return nil },
		Propagator: propagation.TraceContext{}}
}

// FromEnv builds the tracer provider the environment asks for, the way every
// OpenTelemetry SDK reads it: OTEL_TRACES_EXPORTER (unset or "none": off;
// "otlp": on), OTEL_EXPORTER_OTLP_PROTOCOL or OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
// ("http/protobuf", the default, or "grpc"), and the endpoint, headers,
// timeout and TLS variables the OTLP exporters read themselves;
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the process.
func FromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Provider, error) {
	switch exporter := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exporter {
	case "", "none":
		return Disabled(), nil
	case "otlp":
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: Sentinel exports traces with otlp, or none", exporter)
	}
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: want http/protobuf or grpc", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("starting the OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(serviceName(getenv))))
	if err == nil {
		var fromEnv *resource.Resource
		if fromEnv, err = resource.New(ctx, resource.WithFromEnv()); err == nil {
			res, err = resource.Merge(res, fromEnv)
		}
	}
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	log.Info("tracing on", "protocol", protocolName(protocol))
	return &Provider{TracerProvider: tp, Shutdown: tp.Shutdown, Propagator: propagation.TraceContext{}}, nil
}

func serviceName(getenv func(string) string) string {
	if s := getenv("OTEL_SERVICE_NAME"); s != "" {
		return s
	}
	return "sentinel"
}

func protocolName(p string) string {
	if p == "" {
		return "http/protobuf"
	}
	return p
}

// Tracer is Sentinel's tracer of tp, or of no provider at all.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(Name)
}

// LogAttrs are the trace and span ids of ctx's span, for the log lines of the
// same work; none when ctx carries no recording span.
func LogAttrs(ctx context.Context) []any {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []any{"trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String()}
}
