package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Daemon is sentinel.yaml, the configuration of `sentinel run`.
type Daemon struct {
	Kafka      Kafka       `yaml:"kafka"`
	ClickHouse ClickHouse  `yaml:"clickhouse"`
	Windows    Windows     `yaml:"windows"`
	Drift      DriftConfig `yaml:"drift"`
	Staleness  Staleness   `yaml:"staleness"`
	Anomaly    Anomaly     `yaml:"anomaly"`
	Labels     Labels      `yaml:"labels"`
	KeyedSkew  KeyedSkew   `yaml:"keyed_skew"`
	Models     []ModelRef  `yaml:"models"`
	Listen     Listen      `yaml:"listen"`
	// Alertmanager, when it names URLs, makes Sentinel post its alerts itself.
	Alertmanager Alertmanager `yaml:"alertmanager"`
	// ShutdownTimeout bounds draining on SIGTERM: closing windows, writing them and
	// committing offsets.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Kafka says where events come from.
type Kafka struct {
	Brokers  []string `yaml:"brokers"`
	GroupID  string   `yaml:"group_id"`
	ClientID string   `yaml:"client_id"`
	Topics   Topics   `yaml:"topics"`
	TLS      *TLS     `yaml:"tls"`
	SASL     *SASL    `yaml:"sasl"`
	// MaxMessageBytes rejects larger messages to the dead-letter topic.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// Partials shapes the partials topic (Topics.Partials), which Sentinel
	// creates at start when it is missing.
	Partials PartialsTopic `yaml:"partials"`
}

// Topics names the topics; Labels, Features and Partials are optional.
type Topics struct {
	Events      string `yaml:"events"`
	Labels      string `yaml:"labels"`
	Features    string `yaml:"features"`
	DeadLetters string `yaml:"dead_letters"`
	// Partials, when set, scales Sentinel out in two stages: each replica
	// profiles the partitions of the events topic its group gives it and
	// publishes its shares of each window here; the check stage, a group of
	// its own (kafka.group_id with "-check"), gives each model to one
	// replica, which merges the shares and checks the window.
	Partials string `yaml:"partials"`
}

// PartialsTopic is the partials topic's shape when Sentinel creates it.
type PartialsTopic struct {
	// Partitions bounds how many replicas check models at once (each
	// model's shares go to one partition). Every replica must be given the
	// same count, and an existing topic must have it: the count decides
	// which partition each model's shares go to.
	Partitions int `yaml:"partitions"`
	// Retention must outlast a window, its lateness and any outage of the
	// check stage: shares are read back until their windows are written.
	Retention time.Duration `yaml:"retention"`
}

// TLS configures TLS to the brokers.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL configures authentication to the brokers. The password comes from an
// environment variable or a file (a mounted Kubernetes secret), never the YAML.
type SASL struct {
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  Secret `yaml:"password"`
}

// Secret is a value read from an environment variable or a file at start-up.
type Secret struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// Resolve reads the secret; a file's trailing newline is dropped.
func (s Secret) Resolve() (string, error) {
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("reading secret: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

func (s Secret) set() bool { return s.Env != "" || s.File != "" }

// ClickHouse says where results go. The DSN may carry a password, so it may come
// from the environment or a file.
type ClickHouse struct {
	DSN       string `yaml:"dsn"`
	DSNSecret Secret `yaml:"dsn_from"`
	Database  string `yaml:"database"`
}

// Windows configures event-time windowing.
type Windows struct {
	Size            time.Duration `yaml:"size"`
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	// MaxFutureSkew and MaxAge bound believable event times against the wall
	// clock; events outside are rejected as absurd.
	MaxFutureSkew time.Duration `yaml:"max_future_skew"`
	MaxAge        time.Duration `yaml:"max_age"`
	// LateHorizon is how long after a window is written events that arrive
	// for it still update it (its profiles and the checks of the window
	// alone); later ones are counted as late.
	LateHorizon time.Duration `yaml:"late_horizon"`
}

// DriftConfig configures drift over time.
type DriftConfig struct {
	// ReferencePeriod is the length of the reference a window is also compared
	// with: the previous complete period, merged from its windows.
	ReferencePeriod time.Duration `yaml:"reference_period"`
	// MinSamples is the fewest values on each side for a distribution statistic
	// to be computed: a handful of events makes PSI and friends noise.
	MinSamples int `yaml:"min_samples"`
}

// Staleness configures the freshness checks.
type Staleness struct {
	CheckInterval time.Duration `yaml:"check_interval"`
	MaxSilence    time.Duration `yaml:"max_silence"`
	// MaxModelAge flags a model version older than this since trained_at; 0 is off.
	MaxModelAge time.Duration `yaml:"max_model_age"`
}

// Anomaly configures the detector over window metrics.
type Anomaly struct {
	Enabled bool `yaml:"enabled"`
	// FitAfter is how many windows of history the first fit waits for; zero
	// is a season (the contract's seasonality, else a day), or
	// HistoryWindows when that is shorter.
	FitAfter       int     `yaml:"fit_after"`
	HistoryWindows int     `yaml:"history_windows"`
	RefitEvery     int     `yaml:"refit_every"`
	FalseAlarmRate float64 `yaml:"false_alarm_rate"`
}

// Labels configures the join of delayed labels with predictions.
type Labels struct {
	MaxDelay   time.Duration `yaml:"max_delay"`
	MaxPending int           `yaml:"max_pending"`
}

// KeyedSkew configures the comparison of served feature values with the offline
// values of the same request (kafka.topics.features).
type KeyedSkew struct {
	// Tolerance is the relative difference under which two numbers are equal.
	Tolerance float64 `yaml:"tolerance"`
	// MaxMismatchRatio is the share of compared requests whose values may differ
	// per feature before the check breaches.
	MaxMismatchRatio float64 `yaml:"max_mismatch_ratio"`
	// MaxPending bounds, per model, the requests waiting for their other side;
	// each holds a copy of the features.
	MaxPending int `yaml:"max_pending"`
	// MaxDelay is how far apart in event time the two sides may arrive.
	MaxDelay time.Duration `yaml:"max_delay"`
}

// ModelRef points at a model's contract and baseline files.
type ModelRef struct {
	Contract string `yaml:"contract"`
	Baseline string `yaml:"baseline"`
}

// Listen holds the HTTP address for /metrics, /healthz and /readyz.
type Listen struct {
	HTTP string `yaml:"http"`
}

// LoadDaemon reads, defaults and validates sentinel.yaml. Relative contract and
// baseline paths are taken from the file's directory, as a ConfigMap mounts them.
// Its error, a *Problems, names the file on every line.
func LoadDaemon(path string) (*Daemon, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	d, err := parseDaemon(data, path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	for i := range d.Models {
		m := &d.Models[i]
		if m.Contract != "" && !filepath.IsAbs(m.Contract) {
			m.Contract = filepath.Join(dir, m.Contract)
		}
		if m.Baseline != "" && !filepath.IsAbs(m.Baseline) {
			m.Baseline = filepath.Join(dir, m.Baseline)
		}
	}
	return d, nil
}

// ParseDaemon decodes sentinel.yaml strictly, applies defaults and validates it.
func ParseDaemon(data []byte) (*Daemon, error) { return parseDaemon(data, "") }

func parseDaemon(data []byte, file string) (*Daemon, error) {
	d := DefaultDaemon()
	lines, err := decodeStrict(data, d, "configuration")
	if err != nil {
		return nil, locate(err, file, nil)
	}
	if err := d.Validate(); err != nil {
		return nil, locate(err, file, lines)
	}
	return d, nil
}

// DefaultMinSamples is drift.min_samples unless set, and compare's --min-samples:
// below a hundred values on a side, distribution statistics are noise.
const DefaultMinSamples = 100

// DefaultDaemon returns the defaults that sentinel.yaml overrides.
func DefaultDaemon() *Daemon {
	return &Daemon{
		Kafka: Kafka{GroupID: "sentinel", ClientID: "sentinel", MaxMessageBytes: 1 << 20,
			Topics: Topics{DeadLetters: "sentinel-dead-letters"}, Partials: PartialsTopic{Retention: 7 * 24 * time.Hour}},
		ClickHouse: ClickHouse{Database: "sentinel"},
		Windows: Windows{Size: time.Minute, AllowedLateness: 30 * time.Second, MaxFutureSkew: 5 * time.Minute, MaxAge: 7 * 24 * time.Hour,
			LateHorizon: time.Hour},
		Drift:           DriftConfig{ReferencePeriod: time.Hour, MinSamples: DefaultMinSamples},
		Staleness:       Staleness{CheckInterval: 15 * time.Second, MaxSilence: 5 * time.Minute},
		Anomaly:         Anomaly{Enabled: true, HistoryWindows: 2 * 24 * 60, FalseAlarmRate: 0.002},
		Labels:          Labels{MaxDelay: 24 * time.Hour, MaxPending: 1_000_000},
		KeyedSkew:       KeyedSkew{Tolerance: 1e-6, MaxMismatchRatio: 0.01, MaxPending: 10_000, MaxDelay: time.Hour},
		Listen:          Listen{HTTP: ":9090"},
		Alertmanager:    DefaultAlertmanager(),
		ShutdownTimeout: 30 * time.Second,
	}
}

// Validate reports every problem, each naming its field and value. Its error
// is a *Problems.
func (d *Daemon) Validate() error {
	var p problemList
	bad := p.add
	d.Kafka.validate(bad)
	if (d.ClickHouse.DSN == "") == !d.ClickHouse.DSNSecret.set() {
		bad("clickhouse", "set exactly one of dsn and dsn_from")
	}
	if d.ClickHouse.Database == "" {
		bad("clickhouse.database", "is required")
	}
	d.validateWindows(bad)
	d.Anomaly.validate(bad)
	if d.Labels.MaxDelay <= 0 || d.Labels.MaxPending < 1 {
		bad("labels", "max_delay and max_pending must be positive")
	}
	if ks := d.KeyedSkew; ks.Tolerance < 0 || !(ks.MaxMismatchRatio >= 0 && ks.MaxMismatchRatio <= 1) || ks.MaxPending < 1 || ks.MaxDelay <= 0 {
		bad("keyed_skew", "tolerance must not be negative, max_mismatch_ratio must be in [0, 1], max_pending and max_delay positive")
	}
	if len(d.Models) == 0 {
		bad("models", "at least one model is required")
	}
	for i, m := range d.Models {
		if m.Contract == "" {
			bad(fmt.Sprintf("models[%d].contract", i), "is required")
		}
		if m.Baseline == "" {
			bad(fmt.Sprintf("models[%d].baseline", i), "is required")
		}
	}
	if _, _, err := net.SplitHostPort(d.Listen.HTTP); err != nil {
		bad("listen.http", "%q is not host:port", d.Listen.HTTP)
	}
	if d.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be positive, got %s", d.ShutdownTimeout)
	}
	d.Alertmanager.validate(bad)
	return p.err()
}

// validate checks the Kafka section: brokers, group, topics (distinct), the
// message bound and the security options.
func (k *Kafka) validate(bad func(field, format string, args ...any)) {
	if len(k.Brokers) == 0 {
		bad("kafka.brokers", "at least one broker is required")
	}
	for i, b := range k.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			bad(fmt.Sprintf("kafka.brokers[%d]", i), "%q is not host:port", b)
		}
	}
	if k.GroupID == "" {
		bad("kafka.group_id", "is required")
	}
	if k.Topics.Events == "" {
		bad("kafka.topics.events", "is required")
	}
	if k.Topics.DeadLetters == "" {
		bad("kafka.topics.dead_letters", "is required: rejected messages are never dropped silently")
	}
	seen := map[string]string{}
	for field, t := range map[string]string{"events": k.Topics.Events, "labels": k.Topics.Labels, "features": k.Topics.Features,
		"dead_letters": k.Topics.DeadLetters, "partials": k.Topics.Partials} {
		if t == "" {
			continue
		}
		if other, dup := seen[t]; dup {
			a, b := min(field, other), max(field, other)
			bad("kafka.topics."+b, "topic %q is also kafka.topics.%s", t, a)
		}
		seen[t] = field
	}
	if k.Topics.Partials != "" && k.Partials.Partitions < 1 {
		bad("kafka.partials.partitions", "is required with kafka.topics.partials (at least 1, got %d)", k.Partials.Partitions)
	}
	if k.Partials.Retention <= 0 {
		bad("kafka.partials.retention", "must be positive, got %s", k.Partials.Retention)
	}
	if k.MaxMessageBytes < 1 {
		bad("kafka.max_message_bytes", "must be positive, got %d", k.MaxMessageBytes)
	}
	if t := k.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		bad("kafka.tls", "cert_file and key_file go together")
	}
	if s := k.SASL; s != nil {
		switch s.Mechanism {
		case "plain", "scram-sha-256", "scram-sha-512":
		default:
			bad("kafka.sasl.mechanism", "unknown mechanism %q (want plain, scram-sha-256 or scram-sha-512)", s.Mechanism)
		}
		if s.Username == "" {
			bad("kafka.sasl.username", "is required")
		}
		if !s.Password.set() {
			bad("kafka.sasl.password", "set env or file: passwords are not written in the configuration")
		}
		if s.Password.Env != "" && s.Password.File != "" {
			bad("kafka.sasl.password", "set env or file, not both")
		}
	}
}

// validateWindows checks the settings of event time: windows, the drift
// reference that spans them and staleness.
func (d *Daemon) validateWindows(bad func(field, format string, args ...any)) {
	w := d.Windows
	if w.Size < time.Second {
		bad("windows.size", "must be at least 1s, got %s", w.Size)
	}
	if w.AllowedLateness < 0 {
		bad("windows.allowed_lateness", "must not be negative, got %s", w.AllowedLateness)
	}
	if w.MaxFutureSkew <= 0 || w.MaxAge <= 0 {
		bad("windows", "max_future_skew and max_age must be positive")
	}
	if w.LateHorizon < 0 {
		bad("windows.late_horizon", "must not be negative, got %s", w.LateHorizon)
	}
	if d.Drift.ReferencePeriod < w.Size {
		bad("drift.reference_period", "%s is shorter than a window (%s)", d.Drift.ReferencePeriod, w.Size)
	}
	if d.Drift.MinSamples < 1 {
		bad("drift.min_samples", "must be at least 1, got %d", d.Drift.MinSamples)
	}
	if d.Staleness.CheckInterval <= 0 || d.Staleness.MaxSilence <= 0 {
		bad("staleness", "check_interval and max_silence must be positive")
	}
	if d.Staleness.MaxModelAge < 0 {
		bad("staleness.max_model_age", "must not be negative, got %s", d.Staleness.MaxModelAge)
	}
}

// validate checks the detector's settings, which matter only when it is on.
func (a *Anomaly) validate(bad func(field, format string, args ...any)) {
	if !a.Enabled {
		return
	}
	if a.FitAfter != 0 && a.FitAfter < 3 {
		bad("anomaly.fit_after", "must be at least 3 (or unset: a season), got %d", a.FitAfter)
	}
	switch {
	case a.FitAfter == 0 && a.HistoryWindows < 3:
		bad("anomaly.history_windows", "must be at least fit_after (a season, at least 3), got %d", a.HistoryWindows)
	case a.HistoryWindows < a.FitAfter:
		bad("anomaly.history_windows", "must be at least fit_after (%d), got %d", a.FitAfter, a.HistoryWindows)
	}
	if a.RefitEvery < 0 {
		bad("anomaly.refit_every", "must not be negative, got %d", a.RefitEvery)
	}
	if !(a.FalseAlarmRate > 0 && a.FalseAlarmRate < 1) {
		bad("anomaly.false_alarm_rate", "must be in (0, 1), got %v", a.FalseAlarmRate)
	}
}
