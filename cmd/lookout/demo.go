package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"lookout/triage"
)

//go:embed demo_posts.txt
var demoPosts string

type demoPost struct {
	level int
	text  string
}

func parseDemoPosts() []demoPost {
	var out []demoPost
	for _, line := range strings.Split(demoPosts, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		lv, text, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		l, _ := strconv.Atoi(lv)
		out = append(out, demoPost{level: l, text: text})
	}
	return out
}

func cmdDemo(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	cache, _ := os.UserCacheDir()
	if cache == "" {
		cache = os.TempDir()
	}
	var (
		dataDir  string
		rate     float64
		listen   string
		model    string
		logLevel string
	)
	fs := newFlagSet("demo", stderr)
	fs.StringVar(&dataDir, "data", filepath.Join(cache, "lookout", "demo"), "directory where the embedded Kafka keeps posts and offsets")
	fs.Float64Var(&rate, "rate", 5, "synthetic posts a second fed to the embedded Kafka (0: none)")
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&model, "model", defaultModelPath(), "trained model file; empty grades with the knowledge layer alone")
	fs.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if rate < 0 || rate > 10000 {
		return fmt.Errorf("rate: %v is outside 0-10000", rate)
	}
	if _, err := parseLogLevel(logLevel); err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	log := newLogger(stderr, logLevel)

	// The embedded Kafka keeps its data under dataDir, so posts and
	// offsets survive a restart. miniredis is in memory: each run uses a
	// new consumer group, which re-reads the retained posts into it.
	run, err := nextDemoRun(dataDir)
	if err != nil {
		return err
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(filepath.Join(dataDir, "kafka")),
		kfake.SeedTopics(4, "posts"), kfake.SeedTopics(1, "posts.dlq"))
	if err != nil {
		return fmt.Errorf("embedded kafka: %w", err)
	}
	defer cluster.Close()
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return fmt.Errorf("embedded redis: %w", err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	brokers := strings.Join(cluster.ListenAddrs(), ",")
	// Start from serve's defaults, so a new setting cannot be left at zero here.
	var cfg serveConfig
	cfg.register(flag.NewFlagSet("defaults", flag.ContinueOnError))
	cfg.Brokers, cfg.Group, cfg.Listen, cfg.Model = brokers, "lookout-demo-"+strconv.Itoa(run), listen, model
	cfg.RedisURL, cfg.Workers, cfg.LogLevel, cfg.ShutdownTimeout = "redis://"+mr.Addr(), 4, logLevel, 10*time.Second
	cfg.PseudonymKey = randomPseudonymKey() // Redis lives as long as this run
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}

	hooks := &serviceHooks{}
	hooks.store = func(s *triage.Store) {
		accounts, err := demoAccounts(ctx, s)
		if err != nil {
			log.Error("demo accounts", "err", err)
			return
		}
		hooks.listening = func(addr string) { printDemoBanner(stdout, addr, brokers, dataDir, accounts) }
	}
	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	if rate > 0 {
		go feedDemo(feedCtx, cluster.ListenAddrs(), "posts", rate, run, log.With("component", "demo.feeder"))
	}
	return runService(ctx, cfg, rdb, log, hooks)
}

func defaultModelPath() string {
	const p = "models/risk.model"
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// nextDemoRun counts demo runs in dataDir.
func nextDemoRun(dataDir string) (int, error) {
	p := filepath.Join(dataDir, "runs")
	b, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("data: %w", err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	n++
	if err := os.WriteFile(p, []byte(strconv.Itoa(n)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("data: %w", err)
	}
	return n, nil
}

type demoAccount struct {
	name, password string
	role           triage.Role
}

func demoAccounts(ctx context.Context, s *triage.Store) ([]demoAccount, error) {
	var out []demoAccount
	for _, a := range []struct {
		name string
		role triage.Role
	}{{"volunteer", triage.RoleVolunteer}, {"volunteer2", triage.RoleVolunteer},
		{"supervisor", triage.RoleSupervisor}, {"moderator", triage.RoleModerator}, {"admin", triage.RoleAdmin}} {
		pw := triage.GeneratePassword()
		if err := s.AddUser(ctx, "demo", a.name, a.role, pw); err != nil {
			return nil, err
		}
		out = append(out, demoAccount{name: a.name, password: pw, role: a.role})
	}
	return out, nil
}

func printDemoBanner(w io.Writer, addr, brokers, dataDir string, accounts []demoAccount) {
	base := "http://" + addr
	fmt.Fprintf(w, `
lookout demo is running (Ctrl-C to stop)

  Web UI / API   %s/
  Metrics        %s/metrics
  Health         %s/healthz   %s/readyz
  Kafka          %s (embedded; topics posts, posts.dlq; data in %s)
  Redis          embedded, in memory

Accounts (this run only):
`, base, base, base, base, brokers, dataDir)
	for _, a := range accounts {
		fmt.Fprintf(w, "  %-11s %-11s password %s\n", a.role, a.name, a.password)
	}
	fmt.Fprintf(w, `
Try the API:
  TOKEN=$(curl -s -X POST %[1]s/api/v1/login -d '{"name":"volunteer","password":"%[2]s"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -s -H "Authorization: Bearer $TOKEN" '%[1]s/api/v1/cases?level_min=6'
  curl -s -X POST -H "Authorization: Bearer $TOKEN" %[1]s/api/v1/cases/next

`, base, accounts[0].password)
}

// feedDemo produces the bundled synthetic posts at a steady rate from a
// pool of synthetic authors, with an occasional malformed message to show
// the dead-letter topic at work.
func feedDemo(ctx context.Context, brokers []string, topic string, rate float64, run int, log interface{ Warn(string, ...any) }) {
	posts := parseDemoPosts()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{},
		BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p := posts[randInt(len(posts))]
		author := "demo-author-" + strconv.Itoa(randInt(300))
		var value []byte
		if seq%97 == 96 {
			value = []byte(`{"id": "broken`) // malformed on purpose
		} else {
			value, _ = json.Marshal(map[string]any{
				"v": 1, "id": fmt.Sprintf("demo-%d-%d", run, seq), "author_id": author, "text": p.text,
				"created_at": time.Now().UTC().Format(time.RFC3339Nano), "source": "demo",
				"url":       "https://weibo.example/" + author + "/" + strconv.Itoa(seq),
				"thread_id": "tree-hole",
			})
		}
		if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(author), Value: value}); err != nil && ctx.Err() == nil {
			log.Warn("demo feeder: produce failed", "err", err)
		}
	}
}

func randInt(n int) int {
	v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
	return int(v.Int64())
}
