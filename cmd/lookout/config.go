package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"lookout/ingest"
	"lookout/triage"
)

var errUsage = errors.New("usage")

type envFunc func(string) string

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return "LOOKOUT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet returns a flag set whose defaults come from the environment
// after parsing: applyEnv must be called before Parse.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lookout "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags sets every flag not given on the command line from its
// environment variable, then parses the command line. A bad environment
// value is an error naming the variable.
func parseFlags(fs *flag.FlagSet, args []string, env envFunc) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v := env(envName(f.Name)); v != "" && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v", envName(f.Name), v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return errUsage
	}
	return nil
}

// serveConfig is the configuration of serve (and of the demo's pipeline).
type serveConfig struct {
	Brokers         string
	Topic           string
	DeadLetterTopic string
	Group           string
	RedisURL        string
	RedisCA         string
	Listen          string
	Model           string
	Thresholds      string
	MaxMessageBytes int
	Workers         int
	MaxBatch        int
	LogLevel        string
	ShutdownTimeout time.Duration
	SessionTimeout  time.Duration
	Hotline         string
	Emergency       string
	TimeZone        string
	ExportText      bool
	KafkaTLS        bool
	KafkaCA         string
	KafkaSASL       string
	KafkaUser       string
	KafkaPassword   string
	PseudonymKey    string
	InsecureDev     bool
}

func (c *serveConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Brokers, "brokers", "localhost:9092", "Kafka bootstrap brokers, comma-separated")
	fs.StringVar(&c.Topic, "topic", "posts", "topic of incoming posts")
	fs.StringVar(&c.DeadLetterTopic, "dlq-topic", "posts.dlq", "dead-letter topic for malformed posts")
	fs.StringVar(&c.Group, "group", "lookout", "Kafka consumer group id; instances with the same id share the work")
	fs.StringVar(&c.RedisURL, "redis-url", "redis://localhost:6379/0", "Redis URL (redis:// or rediss://, with user and password)")
	fs.StringVar(&c.RedisCA, "redis-ca", "", "PEM file of the CA that signed Redis's TLS certificate (rediss://; default: the system roots)")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "HTTP listen address for the API, UI, /metrics, /healthz and /readyz")
	fs.StringVar(&c.Model, "model", "models/risk.model", "trained model file; empty grades with the knowledge layer alone")
	fs.StringVar(&c.Thresholds, "thresholds", "", "JSON file of routing settings (levels, p_high, lease, caps, retention)")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", ingest.DefaultMaxMessageBytes, "largest post message accepted; larger ones are dead-lettered")
	fs.IntVar(&c.Workers, "workers", 16, "workers handling posts in parallel (one author's posts always go to the same worker)")
	fs.IntVar(&c.MaxBatch, "max-batch", 64, "most posts a worker scores and writes to Redis in one round trip")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "bound on draining in-flight posts and requests at SIGTERM")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", 10*time.Second, "Kafka consumer group session timeout: how soon a dead instance's partitions move")
	fs.StringVar(&c.Hotline, "hotline", "400-161-9995", "crisis hotline shown on every case page")
	fs.StringVar(&c.Emergency, "emergency", "110 / 120", "emergency numbers shown on every case page")
	fs.StringVar(&c.TimeZone, "time-zone", "Asia/Shanghai", "time zone the web UI shows times in: an IANA name, or Local for this machine's (a container's is usually UTC)")
	fs.BoolVar(&c.ExportText, "export-text", false, "let moderators download the labeled export with the posts' text (each case read is audited); off: the labels alone")
	fs.BoolVar(&c.KafkaTLS, "kafka-tls", false, "connect to Kafka over TLS")
	fs.StringVar(&c.KafkaCA, "kafka-ca", "", "PEM file of the CA that signed the brokers' certificates (default: the system roots)")
	fs.StringVar(&c.KafkaSASL, "kafka-sasl", "none", "Kafka SASL mechanism: none, plain, scram-sha-256 or scram-sha-512")
	fs.StringVar(&c.KafkaUser, "kafka-user", "", "Kafka SASL user")
	fs.StringVar(&c.KafkaPassword, "kafka-password", "", "Kafka SASL password (prefer the environment variable)")
	fs.StringVar(&c.PseudonymKey, "pseudonym-key", "", "secret of at least 32 characters that keys the hashes standing for author and post ids in Redis (prefer the environment variable; the same on every instance, for good)")
	fs.BoolVar(&c.InsecureDev, "insecure-dev", false, "allow plain-HTTP cookies, unauthenticated Redis and Kafka, and no pseudonym key off loopback")
}

// randomPseudonymKey is a fresh key (256 bits) for a Redis that lives
// as long as one run: the demo's and the benchmarks'.
func randomPseudonymKey() string { return rand.Text() + rand.Text() }

// validate names the first bad setting.
func (c *serveConfig) validate() error {
	if len(c.brokerList()) == 0 {
		return errors.New("brokers: at least one host:port is required")
	}
	for _, b := range c.brokerList() {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("brokers: %q is not host:port", b)
		}
	}
	switch {
	case c.Topic == "" || strings.ContainsAny(c.Topic, " /\\"):
		return fmt.Errorf("topic: %q is not a valid topic name", c.Topic)
	case c.DeadLetterTopic == "" || c.DeadLetterTopic == c.Topic:
		return fmt.Errorf("dlq-topic: %q must be set and differ from topic", c.DeadLetterTopic)
	case c.Group == "":
		return errors.New("group: required")
	case c.MaxMessageBytes < 1024 || c.MaxMessageBytes > 16<<20:
		return fmt.Errorf("max-message-bytes: %d is outside 1024-16777216", c.MaxMessageBytes)
	case c.Workers < 1 || c.Workers > 1024:
		return fmt.Errorf("workers: %d is outside 1-1024", c.Workers)
	case c.MaxBatch < 1 || c.MaxBatch > 4096:
		return fmt.Errorf("max-batch: %d is outside 1-4096", c.MaxBatch)
	case c.SessionTimeout < time.Second || c.SessionTimeout > 5*time.Minute:
		return fmt.Errorf("session-timeout: %v is outside 1s-5m", c.SessionTimeout)
	case c.ShutdownTimeout < time.Second || c.ShutdownTimeout > 10*time.Minute:
		return fmt.Errorf("shutdown-timeout: %v is outside 1s-10m", c.ShutdownTimeout)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if _, err := parseLogLevel(c.LogLevel); err != nil {
		return err
	}
	if _, err := c.location(); err != nil {
		return err
	}
	u, err := url.Parse(c.RedisURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return errors.New("redis-url: must be redis://[user:password@]host:port[/db], or rediss:// for TLS")
	}
	if c.RedisCA != "" && u.Scheme != "rediss" {
		return errors.New("redis-ca: needs a rediss:// redis-url")
	}
	if !c.InsecureDev {
		if _, hasPass := u.User.Password(); !hasPass && !isLoopback(u.Hostname()) {
			return errors.New("redis-url: a Redis off loopback needs a password (or --insecure-dev)")
		}
		if c.PseudonymKey == "" && !isLoopback(u.Hostname()) {
			return errors.New("pseudonym-key: required with a Redis off loopback (or --insecure-dev): without it a copy of Redis gives away who had a case")
		}
	}
	if _, err := triage.NewPseudonyms(c.PseudonymKey); err != nil {
		return err
	}
	switch c.KafkaSASL {
	case "none", "":
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.KafkaUser == "" || c.KafkaPassword == "" {
			return fmt.Errorf("kafka-user, kafka-password: required with kafka-sasl %s", c.KafkaSASL)
		}
	default:
		return fmt.Errorf("kafka-sasl: %q is not none, plain, scram-sha-256 or scram-sha-512", c.KafkaSASL)
	}
	if c.KafkaCA != "" && !c.KafkaTLS {
		return errors.New("kafka-ca: set --kafka-tls too")
	}
	if !c.InsecureDev {
		for _, b := range c.brokerList() {
			host, _, _ := net.SplitHostPort(b)
			if !isLoopback(host) && (!c.KafkaTLS || c.KafkaSASL == "none" || c.KafkaSASL == "") {
				return errors.New("kafka-tls, kafka-sasl: brokers off loopback need TLS and SASL (or --insecure-dev)")
			}
		}
	}
	if c.Thresholds != "" {
		if _, err := loadRouting(c.Thresholds); err != nil {
			return err
		}
	}
	return nil
}

// location is the time zone the web UI shows times in.
func (c *serveConfig) location() (*time.Location, error) {
	if c.TimeZone == "" {
		return nil, errors.New("time-zone: required (an IANA name such as Asia/Shanghai, or Local)")
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("time-zone: %q is not a known time zone (an IANA name such as Asia/Shanghai, or Local)", c.TimeZone)
	}
	return loc, nil
}

// kafkaSecurity builds the TLS and SASL settings for the reader (Dialer)
// and the dead-letter writer (Transport).
func (c *serveConfig) kafkaSecurity() (*kafka.Dialer, *kafka.Transport, error) {
	dialer := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
	var transport *kafka.Transport
	if !c.KafkaTLS && (c.KafkaSASL == "none" || c.KafkaSASL == "") {
		return dialer, transport, nil
	}
	transport = &kafka.Transport{DialTimeout: 10 * time.Second}
	if c.KafkaTLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.KafkaCA != "" {
			pem, err := os.ReadFile(c.KafkaCA)
			if err != nil {
				return nil, nil, fmt.Errorf("kafka-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("kafka-ca: %s holds no PEM certificate", c.KafkaCA)
			}
			tc.RootCAs = pool
		}
		dialer.TLS, transport.TLS = tc, tc
	}
	var mech sasl.Mechanism
	switch c.KafkaSASL {
	case "plain":
		mech = plain.Mechanism{Username: c.KafkaUser, Password: c.KafkaPassword}
	case "scram-sha-256", "scram-sha-512":
		algo := scram.SHA256
		if c.KafkaSASL == "scram-sha-512" {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, c.KafkaUser, c.KafkaPassword)
		if err != nil {
			return nil, nil, fmt.Errorf("kafka-sasl: %w", err)
		}
		mech = m
	}
	dialer.SASLMechanism, transport.SASL = mech, mech
	return dialer, transport, nil
}

func (c *serveConfig) brokerList() []string {
	var out []string
	for _, b := range strings.Split(c.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log-level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

// loadRouting reads a thresholds file over the defaults.
func loadRouting(path string) (triage.Routing, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return triage.Routing{}, fmt.Errorf("thresholds: %w", err)
	}
	r, err := triage.ParseRouting(b, triage.DefaultRouting())
	if err != nil {
		return r, fmt.Errorf("thresholds: %s: %w", path, err)
	}
	return r, nil
}
