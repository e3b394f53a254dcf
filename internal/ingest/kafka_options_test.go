package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validKafkaOptions() KafkaOptions {
	return KafkaOptions{
		KafkaConn: KafkaConn{Brokers: []string{"127.0.0.1:9092", "kafka-1.kafka:9093"}, ClientID: "sentinel"},
		GroupID:   "sentinel",
		Topics:    []string{"events", "labels"},
	}
}

func TestKafkaOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*KafkaOptions)
		want   string // substring of the error; empty means valid
	}{
		{"valid", func(*KafkaOptions) {}, ""},
		{"all tuning set", func(o *KafkaOptions) {
			o.MinBytes, o.MaxBytes, o.MaxWait = 1, 10<<20, time.Second
			o.SessionTimeout, o.HeartbeatInterval, o.RebalanceTimeout = 10*time.Second, time.Second, 20*time.Second
			o.StartOffset = StartLatest
		}, ""},
		{"no brokers", func(o *KafkaOptions) { o.Brokers = nil }, "no brokers"},
		{"broker without port", func(o *KafkaOptions) { o.Brokers = []string{"kafka"} }, `brokers[0] "kafka" is not host:port`},
		{"broker without host", func(o *KafkaOptions) { o.Brokers = []string{":9092"} }, "has no host"},
		{"broker with bad port", func(o *KafkaOptions) { o.Brokers = []string{"kafka:http"} }, "no valid port"},
		{"broker with port 0", func(o *KafkaOptions) { o.Brokers = []string{"kafka:0"} }, "no valid port"},
		{"negative dial timeout", func(o *KafkaOptions) { o.DialTimeout = -time.Second }, "dial timeout is negative"},
		{"no group", func(o *KafkaOptions) { o.GroupID = "" }, "group ID is empty"},
		{"no topics", func(o *KafkaOptions) { o.Topics = nil }, "no topics"},
		{"empty topic", func(o *KafkaOptions) { o.Topics = []string{"events", ""} }, "topics[1] is empty"},
		{"duplicate topic", func(o *KafkaOptions) { o.Topics = []string{"events", "events"} }, `topics[1]: "events" is listed twice`},
		{"negative min bytes", func(o *KafkaOptions) { o.MinBytes = -1 }, "min bytes is negative"},
		{"negative max bytes", func(o *KafkaOptions) { o.MaxBytes = -1 }, "max bytes is negative"},
		{"min above max", func(o *KafkaOptions) { o.MinBytes, o.MaxBytes = 2, 1 }, "min bytes (2) exceeds max bytes (1)"},
		{"negative max wait", func(o *KafkaOptions) { o.MaxWait = -1 }, "max wait is negative"},
		{"negative session timeout", func(o *KafkaOptions) { o.SessionTimeout = -1 }, "session timeout is negative"},
		{"negative rebalance timeout", func(o *KafkaOptions) { o.RebalanceTimeout = -1 }, "rebalance timeout is negative"},
		{"heartbeat not below session", func(o *KafkaOptions) { o.HeartbeatInterval = 30 * time.Second }, "heartbeat interval (30s) must be shorter than the session timeout (30s)"},
		{"short session with default heartbeat", func(o *KafkaOptions) { o.SessionTimeout = 2 * time.Second }, "heartbeat interval (3s)"},
		{"unknown start offset", func(o *KafkaOptions) { o.StartOffset = "newest" }, `start offset "newest"`},
		{"cert without key", func(o *KafkaOptions) { o.TLS = &TLSOptions{CertFile: "c.pem"} }, "cert file and key file must be set together"},
		{"key without cert", func(o *KafkaOptions) { o.TLS = &TLSOptions{KeyFile: "k.pem"} }, "cert file and key file must be set together"},
		{"TLS with CA only", func(o *KafkaOptions) { o.TLS = &TLSOptions{CAFile: "ca.pem"} }, ""},
		{"SASL unknown mechanism", func(o *KafkaOptions) { o.SASL = &SASLOptions{Mechanism: "gssapi", Username: "u", Password: "p"} }, `mechanism "gssapi"`},
		{"SASL without username", func(o *KafkaOptions) { o.SASL = &SASLOptions{Mechanism: SASLPlain, Password: "p"} }, "username is empty"},
		{"SASL without password", func(o *KafkaOptions) { o.SASL = &SASLOptions{Mechanism: SASLScramSHA512, Username: "u"} }, "password is empty"},
		{"SASL scram-sha-256", func(o *KafkaOptions) { o.SASL = &SASLOptions{Mechanism: SASLScramSHA256, Username: "u", Password: "p"} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validKafkaOptions()
			tt.change(&o)
			checkValidateError(t, o.Validate(), tt.want)
		})
	}
}

func TestKafkaOptionsValidateJoinsAllErrors(t *testing.T) {
	err := KafkaOptions{MinBytes: -1}.Validate()
	if err == nil {
		t.Fatal("Validate() = nil for empty options")
	}
	for _, want := range []string{"no brokers", "group ID is empty", "no topics", "min bytes is negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, missing %q", err, want)
		}
	}
}

func TestDeadLetterOptionsValidate(t *testing.T) {
	valid := func() DeadLetterOptions {
		return DeadLetterOptions{
			KafkaConn: KafkaConn{Brokers: []string{"127.0.0.1:9092"}},
			Topic:     "sentinel-dead-letters",
			Reasons:   []string{"invalid_json", "unknown_model", "line_too_long"},
		}
	}
	tests := []struct {
		name   string
		change func(*DeadLetterOptions)
		want   string
	}{
		{"valid", func(*DeadLetterOptions) {}, ""},
		{"no brokers", func(o *DeadLetterOptions) { o.Brokers = nil }, "no brokers"},
		{"no topic", func(o *DeadLetterOptions) { o.Topic = "" }, "dead-letter topic is empty"},
		{"no reasons", func(o *DeadLetterOptions) { o.Reasons = nil }, "no reasons"},
		{"reason with capital", func(o *DeadLetterOptions) { o.Reasons = []string{"Invalid"} }, `reasons[0] "Invalid" is not a lower_snake_case word`},
		{"reason with space", func(o *DeadLetterOptions) { o.Reasons = []string{"ok", "bad reason"} }, `reasons[1] "bad reason"`},
		{"reason starting with digit", func(o *DeadLetterOptions) { o.Reasons = []string{"4xx"} }, `reasons[0] "4xx"`},
		{"empty reason", func(o *DeadLetterOptions) { o.Reasons = []string{""} }, `reasons[0] ""`},
		{"negative batch timeout", func(o *DeadLetterOptions) { o.BatchTimeout = -1 }, "batch timeout is negative"},
		{"negative write timeout", func(o *DeadLetterOptions) { o.WriteTimeout = -1 }, "write timeout is negative"},
		{"bad SASL", func(o *DeadLetterOptions) { o.SASL = &SASLOptions{Mechanism: SASLPlain} }, "username is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid()
			tt.change(&o)
			checkValidateError(t, o.Validate(), tt.want)
		})
	}
}

func checkValidateError(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("Validate() = %v, want nil", err)
	case want != "" && err == nil:
		t.Errorf("Validate() = nil, want an error containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("Validate() = %q, want it to contain %q", err, want)
	}
}

func TestKafkaConnSecurity(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name     string
		conn     KafkaConn
		want     string
		wantTLS  bool
		wantSASL string
	}{
		{name: "plaintext"},
		{name: "TLS with system roots", conn: KafkaConn{TLS: &TLSOptions{ServerName: "kafka"}}, wantTLS: true},
		{name: "missing CA file", conn: KafkaConn{TLS: &TLSOptions{CAFile: missing}}, want: "read TLS CA file"},
		{name: "CA file without PEM", conn: KafkaConn{TLS: &TLSOptions{CAFile: notPEM}}, want: "no PEM certificate"},
		{name: "missing client cert", conn: KafkaConn{TLS: &TLSOptions{CertFile: missing, KeyFile: missing}}, want: "load TLS client certificate"},
		{name: "plain", conn: KafkaConn{SASL: &SASLOptions{Mechanism: SASLPlain, Username: "u", Password: "p"}}, wantSASL: "PLAIN"},
		{name: "scram-sha-256", conn: KafkaConn{SASL: &SASLOptions{Mechanism: SASLScramSHA256, Username: "u", Password: "p"}}, wantSASL: "SCRAM-SHA-256"},
		{name: "scram-sha-512", conn: KafkaConn{SASL: &SASLOptions{Mechanism: SASLScramSHA512, Username: "u", Password: "p"}}, wantSASL: "SCRAM-SHA-512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tlsConfig, mech, err := tt.conn.security()
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("security() error = %v, want one containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("security() error = %v", err)
			}
			if (tlsConfig != nil) != tt.wantTLS {
				t.Errorf("TLS config = %v, want present = %v", tlsConfig, tt.wantTLS)
			}
			switch {
			case tt.wantSASL == "" && mech != nil:
				t.Errorf("SASL mechanism = %s, want none", mech.Name())
			case tt.wantSASL != "" && (mech == nil || mech.Name() != tt.wantSASL):
				t.Errorf("SASL mechanism = %v, want %s", mech, tt.wantSASL)
			}
		})
	}
}
