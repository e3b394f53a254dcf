package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
)

// testCA is a certificate authority and a broker certificate it signed for
// 127.0.0.1, made for one test.
type testCA struct {
	caFile string
	server tls.Certificate
	pool   *x509.CertPool
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sentinel test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kafka"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testCA{caFile: caFile, server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool: pool}
}

// secureCluster is a broker that speaks only TLS and authenticates with
// mechanism, and a producer that can reach it.
func secureCluster(t *testing.T, ca testCA, mechanism, user, password string) (*kafkatest.Cluster, *kgo.Client) {
	t.Helper()
	kfakeName := map[string]string{"plain": "PLAIN", "scram-sha-256": "SCRAM-SHA-256", "scram-sha-512": "SCRAM-SHA-512"}[mechanism]
	cluster := kafkatest.StartWith(t, []kfake.Opt{kfake.EnableSASL(), kfake.Superuser(kfakeName, user, password),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12})},
		kafkatest.Topic{Name: "events", Partitions: 2}, kafkatest.Topic{Name: "dead", Partitions: 1})
	var mech sasl.Mechanism
	switch mechanism {
	case "plain":
		mech = plain.Auth{User: user, Pass: password}.AsMechanism()
	case "scram-sha-256":
		mech = scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
	case "scram-sha-512":
		mech = scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...), kgo.DefaultProduceTopic("events"),
		kgo.SASL(mech), kgo.DialTLSConfig(&tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cluster, cl
}

// noSecret fails the test if any secret is in what.
func noSecret(t *testing.T, where, what string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(what, s) {
			i := strings.Index(what, s)
			t.Errorf("a secret is in %s: …%s…", where, what[max(0, i-120):min(len(what), i+len(s)+40)])
		}
	}
}

// TestKafkaOverTLSAndSASL runs the daemon against a broker that speaks only
// TLS and authenticates with each SASL mechanism, and ClickHouse with a
// password: it reads, checks, dead-letters and writes. The passwords, given
// through the environment, appear in none of its log, /metrics, /readyz or
// /healthz. Then it runs with both passwords wrong: it stays up, says which
// part is not ready, and still prints neither password.
func TestKafkaOverTLSAndSASL(t *testing.T) {
	t.Parallel()
	const chPassword, kafkaPassword, wrongPassword = "ch-pw-Zq81x", "kafka-pw-Wd93k", "wrong-pw-Pv27m"
	ch := startPrivateClickHouseWith(t, "sentinel", chPassword)
	ca := newTestCA(t)
	for _, mechanism := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		t.Run(mechanism, func(t *testing.T) {
			cluster, producer := secureCluster(t, ca, mechanism, "sentinel", kafkaPassword)
			db := fmt.Sprintf("sentinel_tls_%d", time.Now().UnixNano())
			cfg := daemonConfig{brokers: cluster.Brokers(), dsnFrom: "{env: SENTINEL_TEST_DSN}", database: db, window: "2s", lateness: "1s",
				kafkaExtra: fmt.Sprintf("  tls: {ca_file: %s}\n  sasl: {mechanism: %s, username: sentinel, password: {env: SENTINEL_TEST_KAFKA_PASSWORD}}\n",
					ca.caFile, mechanism)}.write(t)
			now := time.Now()
			recs := []*kgo.Record{{Value: []byte(`{"model": "fraud", "oops`)}}
			for i := range 200 {
				recs = append(recs, &kgo.Record{Partition: int32(i % 2), Value: fraudEvent(nil, i, now)})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("producing over TLS and SASL %s: %v", mechanism, err)
			}
			d := startProc(t, cfg, "SENTINEL_TEST_DSN="+ch.dsn("sentinel", chPassword), "SENTINEL_TEST_KAFKA_PASSWORD="+kafkaPassword)
			waitUntil(t, time.Minute, "a window written and a dead letter sent over TLS and SASL", func() bool {
				s, err := d.metrics()
				return err == nil && s.sum("sentinel_events_total") == 200 && s.sum("sentinel_windows_closed_total") >= 1 &&
					s.sum("sentinel_dead_letters_total", "reason", "invalid_json") == 1
			})
			waitUntil(t, 30*time.Second, "/readyz", func() bool {
				status, _, err := d.get("/readyz")
				return err == nil && status == 200
			})
			for _, path := range []string{"/metrics", "/readyz", "/healthz"} {
				_, body, err := d.get(path)
				if err != nil {
					t.Fatal(err)
				}
				noSecret(t, path, body, chPassword, kafkaPassword)
			}
			if code := d.term(time.Minute); code != 0 {
				t.Errorf("SIGTERM: exit %d:\n%s", code, tail(d.logBytes(), 20))
			}
			noSecret(t, "the log", string(d.logBytes()), chPassword, kafkaPassword)
			dropDatabase(t, ch.dsn("sentinel", chPassword), db)
		})
	}

	// A wrong password, for Kafka and then for ClickHouse (the daemon
	// prepares the store before it joins the group): the failure is logged,
	// the password is not.
	cluster, _ := secureCluster(t, ca, "scram-sha-512", "sentinel", kafkaPassword)
	cfg := daemonConfig{brokers: cluster.Brokers(), dsnFrom: "{env: SENTINEL_TEST_DSN}",
		kafkaExtra: fmt.Sprintf("  tls: {ca_file: %s}\n  sasl: {mechanism: scram-sha-512, username: sentinel, password: {env: SENTINEL_TEST_KAFKA_PASSWORD}}\n",
			ca.caFile)}.write(t)
	for _, tc := range []struct {
		name, chPassword, kafkaPassword, logged, readyz string
	}{
		{"kafka", chPassword, wrongPassword, "kafka group unavailable", "kafka: not ready"},
		{"clickhouse", wrongPassword, kafkaPassword, "store unavailable at start", "clickhouse: not ready"},
	} {
		d := startProc(t, cfg, "SENTINEL_TEST_DSN="+ch.dsn("sentinel", tc.chPassword), "SENTINEL_TEST_KAFKA_PASSWORD="+tc.kafkaPassword)
		waitUntil(t, time.Minute, "the failure logged", func() bool { return strings.Contains(string(d.logBytes()), tc.logged) })
		status, body, err := d.get("/readyz")
		if err != nil || status != 503 || !strings.Contains(body, tc.readyz) {
			t.Errorf("/readyz with a wrong %s password: %d %q %v", tc.name, status, body, err)
		}
		for _, path := range []string{"/metrics", "/readyz", "/healthz"} {
			_, body, err := d.get(path)
			if err != nil {
				t.Fatal(err)
			}
			noSecret(t, path, body, wrongPassword, chPassword, kafkaPassword)
		}
		if !d.alive() {
			t.Fatalf("the daemon died of a wrong %s password:\n%s", tc.name, tail(d.logBytes(), 20))
		}
		// Nothing was read, so a SIGTERM has nothing to drain, whether the
		// group or the store is the part that waits.
		if code := d.term(10 * time.Second); code != 0 {
			t.Errorf("SIGTERM with a wrong %s password: exit %d:\n%s", tc.name, code, tail(d.logBytes(), 20))
		}
		noSecret(t, "the log", string(d.logBytes()), wrongPassword, chPassword, kafkaPassword)
	}
}
