package store

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func validOptions() Options {
	return Options{
		DSN:          "clickhouse://127.0.0.1:19000/default",
		Database:     "sentinel",
		RetryInitial: 100 * time.Millisecond,
		RetryMax:     10 * time.Second,
		Registerer:   prometheus.NewRegistry(),
		Logger:       slog.New(slog.DiscardHandler),
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Options)
		want   []string // substrings of the error; none means valid
	}{
		{name: "valid", change: func(*Options) {}},
		{name: "zero backoff takes defaults", change: func(o *Options) { o.RetryInitial, o.RetryMax = 0, 0 }},
		{name: "nil logger is allowed", change: func(o *Options) { o.Logger = nil }},
		{name: "database with digits and underscore", change: func(o *Options) { o.Database = "_sentinel_2" }},
		{name: "empty DSN", change: func(o *Options) { o.DSN = "" }, want: []string{"DSN is empty"}},
		{name: "unparsable DSN", change: func(o *Options) { o.DSN = "clickhouse://127.0.0.1:19000/default?dial_timeout=soon" }, want: []string{"DSN"}},
		{name: "empty database", change: func(o *Options) { o.Database = "" }, want: []string{`database ""`}},
		{name: "database with a dot", change: func(o *Options) { o.Database = "a.b" }, want: []string{`database "a.b"`}},
		{name: "database with a backtick", change: func(o *Options) { o.Database = "a`b" }, want: []string{"not a plain identifier"}},
		{name: "database starting with a digit", change: func(o *Options) { o.Database = "1sentinel" }, want: []string{"not a plain identifier"}},
		{name: "negative initial backoff", change: func(o *Options) { o.RetryInitial = -time.Second }, want: []string{"initial backoff -1s is negative"}},
		{name: "negative max backoff", change: func(o *Options) { o.RetryMax = -time.Second }, want: []string{"max backoff -1s is negative"}},
		{name: "initial above max", change: func(o *Options) { o.RetryInitial = time.Minute }, want: []string{"initial backoff 1m0s exceeds max backoff 10s"}},
		{name: "every error at once", change: func(o *Options) { *o = Options{RetryMax: -1} }, want: []string{"DSN is empty", "database", "max backoff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOptions()
			tt.change(&o)
			err := o.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestOptionsWithDefaults(t *testing.T) {
	tests := []struct {
		name                 string
		initial, max         time.Duration
		wantInitial, wantMax time.Duration
	}{
		{"both zero", 0, 0, DefaultRetryInitial, DefaultRetryMax},
		{"both set", time.Second, time.Minute, time.Second, time.Minute},
		{"only initial, above the default max", 2 * time.Minute, 0, 2 * time.Minute, 2 * time.Minute},
		{"only max, below the default initial", 0, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOptions()
			o.RetryInitial, o.RetryMax, o.Logger = tt.initial, tt.max, nil
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			d := o.withDefaults()
			if d.RetryInitial != tt.wantInitial || d.RetryMax != tt.wantMax {
				t.Errorf("backoff = %v..%v, want %v..%v", d.RetryInitial, d.RetryMax, tt.wantInitial, tt.wantMax)
			}
			if d.Logger == nil || d.Now == nil {
				t.Error("Logger or Now left nil")
			}
		})
	}
}
