package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"lookout/classifier"
	"lookout/ingest"
	"lookout/triage"
)

func newLogger(w io.Writer, level string) *slog.Logger {
	l, _ := parseLogLevel(level)
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func cmdServe(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := newFlagSet("serve", stderr)
	cfg.register(fs)
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := newLogger(stderr, cfg.LogLevel)
	rdb, err := newRedis(cfg.RedisURL, cfg.RedisCA)
	if err != nil {
		return fmt.Errorf("configuration: redis-url: %w", err)
	}
	defer rdb.Close()
	if err := checkRedis(ctx, rdb, log); err != nil {
		return err
	}
	crash, err := parseCrashPoint(env(crashEnv))
	if err != nil {
		return err
	}
	return runService(ctx, cfg, rdb, log, &serviceHooks{crash: crash})
}

// crashEnv names the fault-injection setting of the crash tests.
const crashEnv = "LOOKOUT_CRASH_AT"

// newRedis connects to a redis:// or rediss:// URL; caFile, when set, is
// the PEM CA that signed the server's TLS certificate.
func newRedis(rawURL, caFile string) (*redis.Client, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if caFile != "" {
		if opts.TLSConfig == nil {
			return nil, errors.New("redis-ca needs a rediss:// URL")
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("redis-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis-ca: %s holds no PEM certificate", caFile)
		}
		opts.TLSConfig.RootCAs = pool
	}
	opts.DialTimeout = 3 * time.Second
	opts.ReadTimeout = 3 * time.Second
	opts.WriteTimeout = 3 * time.Second
	opts.PoolTimeout = 4 * time.Second
	opts.MaxRetries = 1
	return redis.NewClient(opts), nil
}

// checkRedis refuses a Redis that would lose cases: one that evicts keys,
// or a Redis-protocol stand-in such as miniredis. It warns when AOF is off.
func checkRedis(ctx context.Context, rdb *redis.Client, log *slog.Logger) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(cctx).Err(); err != nil {
		return fmt.Errorf("redis: cannot reach the server: %w", err)
	}
	info, err := rdb.Info(cctx, "server").Result()
	if err != nil || !strings.Contains(info, "redis_version:") {
		return errors.New("redis: the server at redis-url is not Redis (an embedded stand-in such as miniredis is for `lookout demo` only)")
	}
	policy, err := rdb.ConfigGet(cctx, "maxmemory-policy").Result()
	if err != nil {
		return fmt.Errorf("redis: cannot read maxmemory-policy (CONFIG GET refused?): %w; lookout needs noeviction", err)
	}
	if p := policy["maxmemory-policy"]; p != "noeviction" {
		return fmt.Errorf("redis: maxmemory-policy is %q; lookout refuses a Redis that evicts keys, since an evicted case is a person lost. Set maxmemory-policy noeviction", p)
	}
	aof, err := rdb.ConfigGet(cctx, "appendonly").Result()
	if err == nil && aof["appendonly"] != "yes" {
		log.Warn("redis AOF is off: a Redis crash loses every case written since the last snapshot; set appendonly yes and appendfsync always")
	}
	return nil
}

// serviceHooks lets the demo see the service's address once it listens.
type serviceHooks struct {
	listening func(addr string)
	store     func(*triage.Store)
	crash     *crashPoint
}

// runService runs the pipeline, the sweeper and the HTTP server until ctx
// ends, then stops them in reverse order within cfg.ShutdownTimeout.
func runService(ctx context.Context, cfg serveConfig, rdb redis.UniversalClient, log *slog.Logger, hooks *serviceHooks) error {
	routing, source := triage.DefaultRouting(), "defaults"
	if cfg.Thresholds != "" {
		r, err := loadRouting(cfg.Thresholds)
		if err != nil {
			return err
		}
		routing, source = r, cfg.Thresholds
	}
	cls, err := loadClassifier(cfg.Model)
	if err != nil {
		return err
	}
	if err := cls.SelfCheck(); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "lookout", Name: "build_info",
		Help: "Build and model version; always 1."}, []string{"version", "go_version", "model"})
	reg.MustRegister(buildInfo)
	version, goVersion := buildVersion()
	buildInfo.WithLabelValues(version, goVersion, cls.Version()).Set(1)

	ids, err := triage.NewPseudonyms(cfg.PseudonymKey)
	if err != nil {
		return err
	}
	store, err := triage.NewStore(rdb, routing, ids)
	if err != nil {
		return fmt.Errorf("routing: %w", err)
	}
	if err := store.CheckPseudonyms(ctx); err != nil {
		return err
	}
	// Settings live in Redis, versioned; a thresholds file only seeds them
	// when Redis has none. Every instance applies changes within seconds.
	seedCtx, cancelSeed := context.WithTimeout(ctx, 10*time.Second)
	sv, err := store.SeedSettings(seedCtx, routing, source)
	cancelSeed()
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	log.Info("routing settings in force", "version", sv.Version, "by", sv.By)
	if hooks != nil && hooks.store != nil {
		hooks.store(store)
	}
	reg.MustRegister(triage.NewQueueCollector(store))
	if err := store.Register(reg); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	pipe := newPipeline(cls, store, log, reg)
	if hooks != nil {
		pipe.crash = hooks.crash
	}
	dialer, transport, err := cfg.kafkaSecurity()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	consumer, err := ingest.New(ingest.Options{
		Dialer: dialer, Transport: transport,
		Brokers: cfg.brokerList(), Topic: cfg.Topic, DeadLetterTopic: cfg.DeadLetterTopic, GroupID: cfg.Group,
		MaxMessageBytes: cfg.MaxMessageBytes, Workers: cfg.Workers, MaxBatch: cfg.MaxBatch,
		DrainTimeout: cfg.ShutdownTimeout / 2, SessionTimeout: cfg.SessionTimeout,
		Handler: pipe,
		Logger:  log, Registerer: reg,
	})
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	ready := newReadiness(rdb, cfg.brokerList(), dialer, reg)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", ready.serveHTTP)
	loc, err := cfg.location()
	if err != nil {
		return err
	}
	triage.NewAPI(triage.APIOptions{Store: store, Logger: log, Registerer: reg, InsecureCookies: cfg.InsecureDev, Location: loc,
		ExportText: cfg.ExportText}).Register(mux)
	ui, err := triage.NewUI(triage.UIOptions{Store: store, Logger: log, Hotline: cfg.Hotline, Emergency: cfg.Emergency,
		InsecureCookies: cfg.InsecureDev, Location: loc, ExportText: cfg.ExportText})
	if err != nil {
		return fmt.Errorf("ui: %w", err)
	}
	ui.Register(mux)
	srv := &http.Server{
		Handler:           http.NewCrossOriginProtection().Handler(mux),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if hooks != nil && hooks.listening != nil {
		hooks.listening(ln.Addr().String())
	}
	log.Info("lookout serving", "addr", ln.Addr().String(), "model", cls.Version(), "group", cfg.Group)

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	ingestCtx, stopIngest := context.WithCancel(context.WithoutCancel(ctx))
	defer stopIngest()
	wg.Go(func() {
		if err := consumer.Run(ingestCtx); err != nil {
			errc <- fmt.Errorf("ingest: %w", err)
		}
	})
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	sweeper := triage.NewSweeper(store, 5*time.Second, log, reg)
	wg.Go(func() { sweeper.Run(bgCtx) })
	wg.Go(func() { ready.run(bgCtx) })
	wg.Go(func() { store.WatchSettings(bgCtx, 2*time.Second, log.With("component", "triage.settings")) })
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()

	var runErr error
	select {
	case <-runCtx.Done():
	case runErr = <-errc:
		log.Error("component failed; shutting down", "err", runErr)
	}
	// Ordered shutdown: HTTP first, then ingest (drain and final commit),
	// then the background loops; Redis is closed by the caller.
	log.Info("shutting down")
	deadline := time.Now().Add(cfg.ShutdownTimeout)
	shCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	errs := []error{runErr}
	if err := srv.Shutdown(shCtx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	stopIngest()
	stopBackground()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-shCtx.Done():
		errs = append(errs, errors.New("shutdown timed out"))
	}
	log.Info("stopped")
	return errors.Join(errs...)
}

func buildVersion() (version, goVersion string) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown", "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v = s.Value[:12]
		}
	}
	return v, bi.GoVersion
}

func loadClassifier(path string) (*classifier.Classifier, error) {
	if path == "" {
		return classifier.New(classifier.Options{}), nil
	}
	m, err := classifier.LoadModel(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return classifier.New(classifier.Options{Model: m}), nil
}

// warnSelfCheck tells the moderator trying a model by hand (score, eval)
// that serve would refuse it; they may be measuring how bad it is.
func warnSelfCheck(cls *classifier.Classifier, stderr io.Writer) {
	if err := cls.SelfCheck(); err != nil {
		fmt.Fprintf(stderr, "warning: serve would refuse this model: %v\n", err)
	}
}

// readiness checks Redis and Kafka every two seconds; /readyz answers
// from the last check, so a probe never waits on a hung dependency.
type readiness struct {
	rdb     redis.UniversalClient
	brokers []string
	dialer  *kafka.Dialer
	state   atomic.Value // readyState
	gauge   prometheus.Gauge
}

type readyState struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

func newReadiness(rdb redis.UniversalClient, brokers []string, dialer *kafka.Dialer, reg prometheus.Registerer) *readiness {
	r := &readiness{rdb: rdb, brokers: brokers, dialer: dialer, gauge: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "lookout", Name: "ready", Help: "1 when Redis answers and a Kafka broker is reachable (as /readyz)."})}
	reg.MustRegister(r.gauge)
	r.state.Store(readyState{Checks: map[string]string{"redis": "not checked", "kafka": "not checked"}})
	return r
}

func (r *readiness) run(ctx context.Context) {
	for {
		st := readyState{Ready: true, Checks: map[string]string{"model": "ok"}}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := r.rdb.Ping(cctx).Err(); err != nil {
			st.Ready, st.Checks["redis"] = false, "not answering"
		} else {
			st.Checks["redis"] = "ok"
		}
		conn, err := r.dialer.DialContext(cctx, "tcp", r.brokers[0])
		if err != nil {
			st.Ready, st.Checks["kafka"] = false, "not reachable"
		} else {
			conn.Close()
			st.Checks["kafka"] = "ok"
		}
		cancel()
		r.state.Store(st)
		if st.Ready {
			r.gauge.Set(1)
		} else {
			r.gauge.Set(0)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

func (r *readiness) serveHTTP(w http.ResponseWriter, _ *http.Request) {
	st := r.state.Load().(readyState)
	w.Header().Set("Content-Type", "application/json")
	if !st.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(st)
}
