package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validDaemon() *Daemon {
	d := DefaultDaemon()
	d.Kafka.Brokers = []string{"localhost:9092"}
	d.Kafka.Topics.Events = "events"
	d.ClickHouse.DSN = "clickhouse://localhost:9000"
	d.Models = []ModelRef{{Contract: "c.yml", Baseline: "b.json"}}
	return d
}

// TestDaemonValidate changes one field of a valid configuration per case.
func TestDaemonValidate(t *testing.T) {
	if err := validDaemon().Validate(); err != nil {
		t.Fatalf("valid configuration: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Daemon)
		want   string
	}{
		{"no brokers", func(d *Daemon) { d.Kafka.Brokers = nil }, "kafka.brokers: at least one broker"},
		{"broker without port", func(d *Daemon) { d.Kafka.Brokers = []string{"kafka"} }, `kafka.brokers[0]: "kafka" is not host:port`},
		{"no group", func(d *Daemon) { d.Kafka.GroupID = "" }, "kafka.group_id: is required"},
		{"no events topic", func(d *Daemon) { d.Kafka.Topics.Events = "" }, "kafka.topics.events: is required"},
		{"no dead letters", func(d *Daemon) { d.Kafka.Topics.DeadLetters = "" }, "kafka.topics.dead_letters: is required"},
		{"same topic twice", func(d *Daemon) { d.Kafka.Topics.Labels = "events" }, `kafka.topics.labels: topic "events" is also kafka.topics.events`},
		{"features topic", func(d *Daemon) { d.Kafka.Topics.Features = "events" }, `kafka.topics.features: topic "events" is also kafka.topics.events`},
		{"partials topic", func(d *Daemon) { d.Kafka.Topics.Partials = "events" }, `kafka.topics.partials: topic "events" is also kafka.topics.events`},
		{"partials partitions", func(d *Daemon) { d.Kafka.Topics.Partials = "partials" }, "kafka.partials.partitions: is required with kafka.topics.partials"},
		{"partials retention", func(d *Daemon) { d.Kafka.Partials.Retention = 0 }, "kafka.partials.retention: must be positive"},
		{"keyed skew", func(d *Daemon) { d.KeyedSkew.MaxMismatchRatio = 2 }, "keyed_skew: tolerance must not be negative"},
		{"message bound", func(d *Daemon) { d.Kafka.MaxMessageBytes = 0 }, "kafka.max_message_bytes"},
		{"cert without key", func(d *Daemon) { d.Kafka.TLS = &TLS{CertFile: "c.pem"} }, "kafka.tls: cert_file and key_file go together"},
		{"sasl mechanism", func(d *Daemon) {
			d.Kafka.SASL = &SASL{Mechanism: "gssapi", Username: "u", Password: Secret{Env: "P"}}
		}, `kafka.sasl.mechanism: unknown mechanism "gssapi"`},
		{"sasl password", func(d *Daemon) { d.Kafka.SASL = &SASL{Mechanism: "plain", Username: "u"} }, "kafka.sasl.password: set env or file"},
		{"both dsns", func(d *Daemon) { d.ClickHouse.DSNSecret = Secret{Env: "DSN"} }, "clickhouse: set exactly one of dsn and dsn_from"},
		{"no dsn", func(d *Daemon) { d.ClickHouse.DSN = "" }, "clickhouse: set exactly one"},
		{"tiny window", func(d *Daemon) { d.Windows.Size = time.Millisecond }, "windows.size: must be at least 1s"},
		{"negative lateness", func(d *Daemon) { d.Windows.AllowedLateness = -time.Second }, "windows.allowed_lateness"},
		{"short reference", func(d *Daemon) { d.Drift.ReferencePeriod = time.Second }, "drift.reference_period: 1s is shorter than a window"},
		{"min samples", func(d *Daemon) { d.Drift.MinSamples = 0 }, "drift.min_samples: must be at least 1"},
		{"staleness", func(d *Daemon) { d.Staleness.MaxSilence = 0 }, "staleness: check_interval and max_silence must be positive"},
		{"anomaly fit", func(d *Daemon) { d.Anomaly.FitAfter = 2 }, "anomaly.fit_after: must be at least 3 (or unset: a season)"},
		{"anomaly history", func(d *Daemon) { d.Anomaly.FitAfter, d.Anomaly.HistoryWindows = 60, 10 }, "anomaly.history_windows: must be at least fit_after (60), got 10"},
		{"anomaly history unfitted", func(d *Daemon) { d.Anomaly.HistoryWindows = 2 }, "anomaly.history_windows: must be at least fit_after (a season, at least 3), got 2"},
		{"false alarm rate", func(d *Daemon) { d.Anomaly.FalseAlarmRate = 1 }, "anomaly.false_alarm_rate"},
		{"labels", func(d *Daemon) { d.Labels.MaxPending = 0 }, "labels: max_delay and max_pending"},
		{"no models", func(d *Daemon) { d.Models = nil }, "models: at least one model"},
		{"model without baseline", func(d *Daemon) { d.Models[0].Baseline = "" }, "models[0].baseline: is required"},
		{"listen", func(d *Daemon) { d.Listen.HTTP = "9090" }, `listen.http: "9090" is not host:port`},
		{"shutdown", func(d *Daemon) { d.ShutdownTimeout = 0 }, "shutdown_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := validDaemon()
			tc.change(d)
			err := d.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoadDaemon(t *testing.T) {
	d, err := LoadDaemon("testdata/daemon/sentinel.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if d.Models[0].Contract != filepath.Join("testdata", "daemon", "fraud.good.yml") {
		t.Errorf("contract path %q not resolved against the file's directory", d.Models[0].Contract)
	}
	if d.Windows.Size != time.Minute || d.ShutdownTimeout != 30*time.Second || d.Kafka.ClientID != "sentinel" {
		t.Errorf("defaults not applied: %+v", d)
	}
}

// TestBadDaemon holds every bad sentinel.yaml in testdata to its exact message.
func TestBadDaemon(t *testing.T) {
	tests := map[string][]string{
		"sentinel-typo.bad.yml": {"line 4: kafka.grup_id: unknown key; did you mean group_id? " +
			"(keys allowed here: brokers, group_id, client_id, topics, tls, sasl, max_message_bytes, partials)"},
		"window-size.bad.yml": {`line 7: windows.size: "5 minutes" is not a duration (like 90s, 5m, 1h)`},
		"misplaced.bad.yml": {"line 8: models[0].max_delay: unknown key here; it belongs in labels or in keyed_skew " +
			"(keys allowed here: contract, baseline)"},
		"types.bad.yml": {
			`line 3: kafka.brokers: "localhost:9092" is not a list (write [a, b], or one "- item" per line)`,
			`line 5: kafka.max_message_bytes: "1MB" is not a whole number`,
			`line 9: anomaly.enabled: "sometimes" is not true or false`,
			`line 10: anomaly.false_alarm_rate: "low" is not a number`,
			`line 12: listen: "9090" is not a set of keys (want key: value lines, the keys being http)`,
		},
		"invalid.bad.yml": {
			"models: at least one model is required",
			"line 1: kafka.brokers: at least one broker is required", // the nearest key the file has
			"line 2: kafka.topics.events: is required",
			`line 4: clickhouse: set exactly one of dsn and dsn_from`,
			"line 9: drift.reference_period: 30s is shorter than a window (1m0s)",
		},
	}
	files, err := filepath.Glob("testdata/daemon/*.bad.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("%d bad configurations in testdata, %d in the table", len(files), len(tests))
	}
	for name, wants := range tests {
		path := filepath.Join("testdata", "daemon", name)
		_, err := LoadDaemon(path)
		checkProblems(t, path, err, wants)
	}
}

func TestSecretResolve(t *testing.T) {
	t.Setenv("SENTINEL_TEST_SECRET", "from-env")
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		secret  Secret
		want    string
		wantErr string
	}{
		{Secret{Env: "SENTINEL_TEST_SECRET"}, "from-env", ""},
		{Secret{File: file}, "from-file", ""},
		{Secret{Env: "SENTINEL_TEST_UNSET_VARIABLE"}, "", "SENTINEL_TEST_UNSET_VARIABLE is not set"},
		{Secret{File: file + ".absent"}, "", "reading secret"},
	}
	for _, tc := range tests {
		got, err := tc.secret.Resolve()
		if got != tc.want || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%+v: %q, %v; want %q, %q", tc.secret, got, err, tc.want, tc.wantErr)
		}
	}
}
