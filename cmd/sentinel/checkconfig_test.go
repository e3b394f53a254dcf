package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigParsesEveryAddress: --check-config builds every client the
// daemon would, without connecting, so a DSN or address the daemon could not
// use fails the check, naming the setting and never the password.
func TestCheckConfigParsesEveryAddress(t *testing.T) {
	tests := []struct {
		name    string
		dsn     string
		replace [2]string
		want    []string
	}{
		{"unparsable DSN", "clickhouse://sentinel:hunter2-pw@127.0.0.1:notaport/default", [2]string{}, []string{"clickhouse:", "invalid port"}},
		{"not a DSN", "not a dsn", [2]string{}, []string{"clickhouse:", "parse dsn address failed"}},
		{"DSN with a bad option", "clickhouse://sentinel:hunter2-pw@127.0.0.1:9000/default?dial_timeout=soon", [2]string{}, []string{"clickhouse:", "dial timeout"}},
		{"listen port", "clickhouse://127.0.0.1:9000/default", [2]string{`listen: {http: "127.0.0.1:0"}`, `listen: {http: "127.0.0.1:http-alt-ish"}`},
			[]string{"listen.http"}},
		{"broker port", "clickhouse://127.0.0.1:9000/default", [2]string{`brokers: ["127.0.0.1:9092"]`, `brokers: ["127.0.0.1:99999"]`},
			[]string{"brokers[0]", "no valid port"}},
		{"TLS CA file", "clickhouse://127.0.0.1:9000/default", [2]string{"  topics:", "  tls: {ca_file: /nonexistent/ca.pem}\n  topics:"},
			[]string{"TLS CA file", "/nonexistent/ca.pem"}},
	}
	for _, tc := range tests {
		path := writeConfig(t, []string{"127.0.0.1:9092"}, tc.dsn, "")
		if tc.replace[0] != "" {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tc.replace[0]) {
				t.Fatalf("%s: no %q in the configuration", tc.name, tc.replace[0])
			}
			if err := os.WriteFile(path, []byte(strings.Replace(string(data), tc.replace[0], tc.replace[1], 1)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		code, stdout, stderr := run(t, "run", "--config", path, "--check-config")
		if code != exitUsage {
			t.Errorf("%s: exit %d (stdout %q), want %d", tc.name, code, stdout, exitUsage)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: %q does not say %q", tc.name, stderr, w)
			}
		}
		if strings.Contains(stderr, "hunter2-pw") {
			t.Errorf("%s: the DSN's password is in the error: %q", tc.name, stderr)
		}
	}
}

// TestCheckConfigSecretsFromFiles: a DSN and a SASL password read from files
// pass the check, and neither appears in what it prints.
func TestCheckConfigSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	dsnFile, pwFile := filepath.Join(dir, "dsn"), filepath.Join(dir, "pw")
	if err := os.WriteFile(dsnFile, []byte("clickhouse://sentinel:dsn-pw-0451@127.0.0.1:9000/default\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("sasl-pw-0451\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, []string{"127.0.0.1:9092"}, "x", "")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(data), `  dsn: "x"`, "  dsn_from: {file: "+dsnFile+"}", 1)
	cfg = strings.Replace(cfg, "  topics:", "  sasl: {mechanism: scram-sha-512, username: sentinel, password: {file: "+pwFile+"}}\n  topics:", 1)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "run", "--config", path, "--check-config")
	if code != exitOK || !strings.Contains(stdout, "ok (1 models)") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "0451") {
		t.Errorf("a secret is printed: %q %q", stdout, stderr)
	}
}

func TestSecretsRedact(t *testing.T) {
	var s secrets
	s.add("abc") // too short to mask
	s.add("sasl-secret")
	s.addDSN("clickhouse://u:p%40ss-word@host:9000/db")
	s.addDSN("clickhouse://host:9000/db") // no password: nothing to add
	tests := []struct{ in, want string }{
		{"auth sasl-secret failed", "auth xxxxx failed"},
		{"dial clickhouse://u:p%40ss-word@host:9000/db: refused", "dial xxxxx: refused"},
		{"password p@ss-word rejected", "password xxxxx rejected"},
		{"escaped p%40ss-word", "escaped xxxxx"},
		{"abc stays", "abc stays"},
	}
	for _, tc := range tests {
		if got := s.redact(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if err := s.error(errors.New("x sasl-secret")); err.Error() != "x xxxxx" {
		t.Errorf("error: %v", err)
	}
	if s.error(nil) != nil {
		t.Error("a nil error became an error")
	}
}

// TestRedactingHandler: a secret in a log record's message, a string, an
// error, a group or the logger's own attributes is masked; other values keep
// their form.
func TestRedactingHandler(t *testing.T) {
	var s secrets
	s.add("sasl-secret")
	var buf bytes.Buffer
	log := slog.New(redactingHandler{Handler: slog.NewJSONHandler(&buf, nil), secrets: s}).With("dsn", "user:sasl-secret@h")
	log.Warn("connecting with sasl-secret", "err", errors.New("auth sasl-secret failed"), "partitions", []int{0, 1},
		slog.Group("kafka", "password", "sasl-secret"), "n", 3)
	out := buf.String()
	if strings.Contains(out, "sasl-secret") {
		t.Errorf("a secret is logged: %s", out)
	}
	for _, want := range []string{`"partitions":[0,1]`, `"n":3`, `"msg":"connecting with xxxxx"`, `"kafka":{"password":"xxxxx"}`, `"dsn":"user:xxxxx@h"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in %s", want, out)
		}
	}
	if !log.Handler().Enabled(context.Background(), slog.LevelInfo) {
		t.Error("the handler's level is lost")
	}
}
