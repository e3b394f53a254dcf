package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// KafkaConn says how to reach and authenticate to a Kafka cluster. The consumer and
// the dead-letter producer embed it so the daemon can fill it once.
type KafkaConn struct {
	// Brokers are bootstrap addresses, host:port.
	Brokers []string
	// ClientID names this process in broker logs and quotas.
	ClientID string
	// TLS, when non-nil, encrypts every connection.
	TLS *TLSOptions
	// SASL, when non-nil, authenticates every connection.
	SASL *SASLOptions
	// DialTimeout bounds one connection attempt, TLS and SASL included. Zero means 10s.
	DialTimeout time.Duration
}

// TLSOptions are file-based TLS settings, as mounted from a Kubernetes secret.
type TLSOptions struct {
	// CAFile is a PEM bundle of the CAs to trust; empty means the system pool.
	CAFile string
	// CertFile and KeyFile are the client certificate and key for mutual TLS; both
	// or neither.
	CertFile string
	KeyFile  string
	// ServerName overrides the name checked in the broker's certificate.
	ServerName string
	// InsecureSkipVerify turns off verification of the broker's certificate. For
	// test clusters only: it makes the connection open to interception.
	InsecureSkipVerify bool
}

// SASL mechanisms accepted in SASLOptions.Mechanism.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// SASLOptions authenticate the client. The caller resolves the password from the
// environment or a file; it is never logged.
type SASLOptions struct {
	Mechanism string
	Username  string
	Password  string
}

// StartOffset says where a group with no committed offset for a partition begins.
type StartOffset string

// Start offsets. The zero value means StartEarliest: a new monitoring group should
// see the retained history rather than silently skip it.
const (
	StartEarliest StartOffset = "earliest"
	StartLatest   StartOffset = "latest"
)

// KafkaOptions configure a Group.
type KafkaOptions struct {
	KafkaConn

	// GroupID is the consumer group shared by all replicas.
	GroupID string
	// Topics are consumed by the one group, e.g. events, labels and offline
	// features. They are also the only values of the topic label on metrics.
	Topics []string

	// MinBytes, MaxBytes and MaxWait shape each fetch: the broker answers once it
	// has MinBytes or MaxWait has passed, with at most MaxBytes per partition.
	// Zero means 1 byte, 1 MB and 1s. kafka-go cannot interrupt a fetch parked on
	// an idle partition, so Close and every rebalance wait up to MaxWait; its own
	// default of 10s would hold a shutdown that long.
	MinBytes int
	MaxBytes int
	MaxWait  time.Duration

	// SessionTimeout is how long the group coordinator waits for a heartbeat before
	// it gives this member's partitions to another (default 30s);
	// HeartbeatInterval must be well below it (default 3s). RebalanceTimeout is how
	// long members get to rejoin during a rebalance (default 30s). The broker
	// bounds SessionTimeout (group.min/max.session.timeout.ms).
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration

	// StartOffset applies only to partitions the group has never committed.
	StartOffset StartOffset

	// EventTime, with several topics, makes for each partition a function
	// that reads a message's event time, by which the partition's topics are
	// merged (event.TimeReader); nil interleaves them as they arrive.
	EventTime func() func(value []byte) time.Time

	// Logger receives kafka-go's chatter at debug level and its errors at warn.
	// Nil discards both.
	Logger *slog.Logger
	// Registerer receives the source's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
}

// Validate reports every problem with the options at once.
func (o KafkaOptions) Validate() error {
	errs := o.KafkaConn.validate()
	if o.GroupID == "" {
		errs = append(errs, errors.New("group ID is empty"))
	}
	if len(o.Topics) == 0 {
		errs = append(errs, errors.New("no topics"))
	}
	seen := make(map[string]bool, len(o.Topics))
	for i, t := range o.Topics {
		switch {
		case t == "":
			errs = append(errs, fmt.Errorf("topics[%d] is empty", i))
		case seen[t]:
			errs = append(errs, fmt.Errorf("topics[%d]: %q is listed twice", i, t))
		}
		seen[t] = true
	}
	if o.MinBytes < 0 {
		errs = append(errs, fmt.Errorf("min bytes is negative (%d)", o.MinBytes))
	}
	if o.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("max bytes is negative (%d)", o.MaxBytes))
	}
	if o.MinBytes > 0 && o.MaxBytes > 0 && o.MinBytes > o.MaxBytes {
		errs = append(errs, fmt.Errorf("min bytes (%d) exceeds max bytes (%d)", o.MinBytes, o.MaxBytes))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"max wait", o.MaxWait},
		{"session timeout", o.SessionTimeout},
		{"heartbeat interval", o.HeartbeatInterval},
		{"rebalance timeout", o.RebalanceTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%s)", d.name, d.v))
		}
	}
	if session, beat := o.sessionTimeout(), o.heartbeatInterval(); beat >= session {
		errs = append(errs, fmt.Errorf("heartbeat interval (%s) must be shorter than the session timeout (%s)", beat, session))
	}
	switch o.StartOffset {
	case "", StartEarliest, StartLatest:
	default:
		errs = append(errs, fmt.Errorf("start offset %q is neither %q nor %q", o.StartOffset, StartEarliest, StartLatest))
	}
	return errors.Join(errs...)
}

func (o KafkaOptions) maxWait() time.Duration {
	if o.MaxWait > 0 {
		return o.MaxWait
	}
	return time.Second
}

func (o KafkaOptions) sessionTimeout() time.Duration {
	if o.SessionTimeout > 0 {
		return o.SessionTimeout
	}
	return 30 * time.Second
}

func (o KafkaOptions) heartbeatInterval() time.Duration {
	if o.HeartbeatInterval > 0 {
		return o.HeartbeatInterval
	}
	return 3 * time.Second
}

func (o KafkaOptions) startOffset() int64 {
	if o.StartOffset == StartLatest {
		return kafka.LastOffset
	}
	return kafka.FirstOffset
}

func (c KafkaConn) validate() []error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	for i, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("brokers[%d] %q is not host:port: %w", i, b, err))
			continue
		}
		if host == "" {
			errs = append(errs, fmt.Errorf("brokers[%d] %q has no host", i, b))
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			errs = append(errs, fmt.Errorf("brokers[%d] %q has no valid port", i, b))
		}
	}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("dial timeout is negative (%s)", c.DialTimeout))
	}
	if t := c.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("TLS: cert file and key file must be set together"))
	}
	if s := c.SASL; s != nil {
		switch s.Mechanism {
		case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		default:
			errs = append(errs, fmt.Errorf("SASL: mechanism %q is not one of %s, %s, %s", s.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512))
		}
		if s.Username == "" {
			errs = append(errs, errors.New("SASL: username is empty"))
		}
		if s.Password == "" {
			errs = append(errs, errors.New("SASL: password is empty"))
		}
	}
	return errs
}

func (c KafkaConn) dialTimeout() time.Duration {
	if c.DialTimeout > 0 {
		return c.DialTimeout
	}
	return 10 * time.Second
}

// security loads the TLS files and builds the SASL mechanism once, so that a
// missing file fails New rather than every later connection.
func (c KafkaConn) security() (*tls.Config, sasl.Mechanism, error) {
	var (
		tlsConfig *tls.Config
		mech      sasl.Mechanism
	)
	if t := c.TLS; t != nil {
		tlsConfig = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			ServerName:         t.ServerName,
			InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // an explicit, documented opt-in for test clusters
		}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, nil, fmt.Errorf("read TLS CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("read TLS CA file %s: no PEM certificate in it", t.CAFile)
			}
			tlsConfig.RootCAs = pool
		}
		if t.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return nil, nil, fmt.Errorf("load TLS client certificate: %w", err)
			}
			tlsConfig.Certificates = []tls.Certificate{cert}
		}
	}
	if s := c.SASL; s != nil {
		switch s.Mechanism {
		case SASLPlain:
			mech = plain.Mechanism{Username: s.Username, Password: s.Password}
		case SASLScramSHA256, SASLScramSHA512:
			algo := scram.SHA256
			if s.Mechanism == SASLScramSHA512 {
				algo = scram.SHA512
			}
			m, err := scram.Mechanism(algo, s.Username, s.Password)
			if err != nil {
				return nil, nil, fmt.Errorf("set up SASL %s: %w", s.Mechanism, err)
			}
			mech = m
		}
	}
	return tlsConfig, mech, nil
}

// dialer is what kafka-go's Reader and consumer group connect with.
func (c KafkaConn) dialer(tlsConfig *tls.Config, mech sasl.Mechanism) *kafka.Dialer {
	return &kafka.Dialer{
		ClientID:      c.ClientID,
		Timeout:       c.dialTimeout(),
		DualStack:     true,
		TLS:           tlsConfig,
		SASLMechanism: mech,
	}
}

// transport is what kafka-go's Writer and Client connect with. Its owner must call
// CloseIdleConnections to stop its goroutines.
func (c KafkaConn) transport(tlsConfig *tls.Config, mech sasl.Mechanism, topics []string) *kafka.Transport {
	return &kafka.Transport{
		DialTimeout:    c.dialTimeout(),
		ClientID:       c.ClientID,
		TLS:            tlsConfig,
		SASL:           mech,
		MetadataTopics: topics,
	}
}

// slogLogger adapts a slog.Logger to kafka-go's Printf-style logger, formatting
// only when the level is enabled: kafka-go logs on every partition fetch.
func slogLogger(l *slog.Logger, level slog.Level) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		if l.Enabled(context.Background(), level) {
			l.Log(context.Background(), level, fmt.Sprintf(format, args...), "component", "kafka-go")
		}
	})
}
