package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"lookout/classifier"
	"lookout/internal/redistest"
	"lookout/triage"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestServeRefusesBadConfig: every bad setting stops serve before it
// touches Kafka or Redis, with a message that names the setting.
func TestServeRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	badThresholds := filepath.Join(dir, "bad.json")
	os.WriteFile(badThresholds, []byte(`{"queue_level": 3, "watch_level": 5}`), 0o600)
	unknownField := filepath.Join(dir, "unknown.json")
	os.WriteFile(unknownField, []byte(`{"queue_levle": 6}`), 0o600)
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"broker without port", []string{"--brokers", "kafka1"}, nil, "brokers"},
		{"empty brokers", []string{"--brokers", " , "}, nil, "brokers"},
		{"dlq equals topic", []string{"--topic", "posts", "--dlq-topic", "posts"}, nil, "dlq-topic"},
		{"redis url scheme", []string{"--redis-url", "http://x:6379"}, nil, "redis-url"},
		{"redis off loopback without password", []string{"--redis-url", "redis://10.1.2.3:6379"}, nil, "redis-url"},
		{"message size", []string{"--max-message-bytes", "10"}, nil, "max-message-bytes"},
		{"workers", []string{"--workers", "0"}, nil, "workers"},
		{"listen", []string{"--listen", "nope"}, nil, "listen"},
		{"log level", []string{"--log-level", "loud"}, nil, "log-level"},
		{"thresholds out of order", []string{"--thresholds", badThresholds}, nil, "queue_level"},
		{"thresholds unknown field", []string{"--thresholds", unknownField}, nil, "queue_levle"},
		{"thresholds missing", []string{"--thresholds", filepath.Join(dir, "none.json")}, nil, "thresholds"},
		{"bad env value", nil, map[string]string{"LOOKOUT_WORKERS": "many"}, "LOOKOUT_WORKERS"},
		{"env value validated", nil, map[string]string{"LOOKOUT_BROKERS": "kafka1"}, "brokers"},
		{"time zone", []string{"--time-zone", "Mars/Olympus_Mons"}, nil, "time-zone"},
		{"time zone from env", nil, map[string]string{"LOOKOUT_TIME_ZONE": "Beijing"}, "time-zone"},
		{"short pseudonym key", []string{"--pseudonym-key", "secret-but-short"}, nil, "pseudonym-key: needs at least 32"},
		{"short pseudonym key from env", nil, map[string]string{"LOOKOUT_PSEUDONYM_KEY": "secret-but-short"}, "pseudonym-key: needs at least 32"},
		{"redis off loopback without pseudonym key", []string{"--redis-url", "redis://:pw@10.1.2.3:6379"}, nil, "pseudonym-key: required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			env := c.env
			if env == nil {
				env = map[string]string{}
			}
			code := run(context.Background(), append([]string{"serve"}, c.args...), mapEnv(env), strings.NewReader(""), &out, &errb)
			if code == 0 {
				t.Fatal("serve accepted a bad configuration")
			}
			if !strings.Contains(errb.String(), c.want) {
				t.Fatalf("error does not name %q:\n%s", c.want, errb.String())
			}
			if strings.Contains(errb.String(), "secret-but-short") {
				t.Fatalf("the error shows the key: %s", errb.String())
			}
		})
	}
}

// TestModelFailingSelfCheckRefused: a model that loads but grades the
// self-check's posts wrong (trained here on inverted labels) is neither
// written by train, which leaves the last model as it was, nor served:
// serve stops before it consumes a post, and both say why. score grades
// with it, and warns.
func TestModelFailingSelfCheckRefused(t *testing.T) {
	dir := modelDir(t)
	labeledPath, ordinaryPath := separablePosts(t, dir)
	b, err := os.ReadFile(labeledPath)
	if err != nil {
		t.Fatal(err)
	}
	var inverted bytes.Buffer
	var examples []classifier.Example
	for line := range strings.Lines(string(b)) {
		var p struct {
			Text  string `json:"text"`
			Level int    `json:"level"`
		}
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatal(err)
		}
		p.Level = 10 - p.Level
		out, _ := json.Marshal(p)
		inverted.Write(append(out, '\n'))
		examples = append(examples, classifier.Example{Text: p.Text, Level: p.Level})
	}
	if err := os.WriteFile(labeledPath, inverted.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "risk.model")
	if err := os.WriteFile(model, []byte("the last good model"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	train := []string{"train", "--train", labeledPath, "--negatives", ordinaryPath, "--val", "", "--epochs", "4",
		"--min-df", "2", "--out", model, "--card", "none", "--version", "inverted"}
	if code := run(context.Background(), train, mapEnv(nil), nil, &out, &errb); code == 0 {
		t.Fatal("train wrote a model that fails its self-check")
	}
	if !strings.Contains(errb.String(), "is left as it was: model inverted fails its self-check") {
		t.Fatalf("train's error does not name the self-check:\n%s", errb.String())
	}
	if b, _ := os.ReadFile(model); string(b) != "the last good model" {
		t.Fatal("train overwrote the last model")
	}

	m, err := classifier.Train(examples, classifier.TrainOptions{Version: "inverted", Seed: 1, Epochs: 4, MinDF: 2,
		VocabPath: filepath.Join(dir, "vocab.txt"), DictPath: filepath.Join(dir, "segment-dict.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(model); err != nil {
		t.Fatal(err)
	}
	// score and eval still grade with it (a moderator may be measuring how
	// bad it is), with a warning; the committed model gets none.
	for _, m := range []string{model, filepath.Join("..", "..", "models", "risk.model")} {
		errb.Reset()
		out.Reset()
		code := run(context.Background(), []string{"score", "--model", m}, mapEnv(nil), strings.NewReader(`{"text":"今天天气不错"}`+"\n"), &out, &errb)
		warned := strings.Contains(errb.String(), "warning: serve would refuse this model: model inverted fails its self-check")
		if code != 0 || !strings.Contains(out.String(), `"level"`) || warned != (m == model) {
			t.Errorf("score --model %s: exit %d, output %q, stderr %q", m, code, out.String(), errb.String())
		}
	}

	rs := redistest.Start(t)
	errb.Reset()
	serve := []string{"serve", "--model", model, "--redis-url", rs.URL(), "--brokers", "127.0.0.1:1", "--listen", "127.0.0.1:0"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // ends a serve that did start
	defer cancel()
	if code := run(ctx, serve, mapEnv(nil), strings.NewReader(""), &out, &errb); code == 0 {
		t.Fatal("serve started with a model that fails its self-check")
	}
	if !strings.Contains(errb.String(), "model inverted fails its self-check") {
		t.Fatalf("serve's error does not name the self-check:\n%s", errb.String())
	}
}

// TestFlagOverridesEnv: the command line wins over the environment, and
// the environment over the default.
func TestFlagOverridesEnv(t *testing.T) {
	var cfg serveConfig
	fs := newFlagSet("serve", io.Discard)
	cfg.register(fs)
	env := mapEnv(map[string]string{"LOOKOUT_GROUP": "from-env", "LOOKOUT_TOPIC": "env-topic"})
	if err := parseFlags(fs, []string{"--group", "from-flag"}, env); err != nil {
		t.Fatal(err)
	}
	if cfg.Group != "from-flag" || cfg.Topic != "env-topic" || cfg.Listen != "127.0.0.1:8080" {
		t.Fatalf("got group %q topic %q listen %q", cfg.Group, cfg.Topic, cfg.Listen)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestRedisChecks: serve refuses a Redis that evicts keys and a
// Redis-protocol stand-in, and accepts a real noeviction Redis.
func TestRedisChecks(t *testing.T) {
	ctx := context.Background()
	t.Run("evicting policy refused", func(t *testing.T) {
		rs := redistest.Start(t, "--maxmemory-policy", "allkeys-lru")
		rdb, _ := newRedis(rs.URL(), "")
		defer rdb.Close()
		err := checkRedis(ctx, rdb, discardLogger())
		if err == nil || !strings.Contains(err.Error(), "maxmemory-policy") || !strings.Contains(err.Error(), "allkeys-lru") {
			t.Fatalf("want a refusal naming maxmemory-policy allkeys-lru, got %v", err)
		}
	})
	t.Run("noeviction accepted, AOF off warned", func(t *testing.T) {
		rs := redistest.Start(t, "--appendonly", "no")
		rdb, _ := newRedis(rs.URL(), "")
		defer rdb.Close()
		var logs bytes.Buffer
		if err := checkRedis(ctx, rdb, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatalf("real noeviction Redis refused: %v", err)
		}
		if !strings.Contains(logs.String(), "AOF is off") {
			t.Fatalf("no warning about AOF: %q", logs.String())
		}
	})
	t.Run("miniredis refused", func(t *testing.T) {
		mr := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		defer rdb.Close()
		err := checkRedis(ctx, rdb, discardLogger())
		if err == nil || !strings.Contains(err.Error(), "not Redis") {
			t.Fatalf("miniredis accepted: %v", err)
		}
	})
	t.Run("serve refuses another pseudonym key", func(t *testing.T) {
		rs := redistest.Start(t)
		store, err := triage.NewStore(rs.Client, triage.DefaultRouting(), testIDs)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CheckPseudonyms(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ key, want string }{
			{strings.Repeat("x", 40), "pseudonym-key: not the key this Redis's ids are keyed with"},
			{"", "pseudonym-key: this Redis's ids are keyed"},
		} {
			var out, errb bytes.Buffer
			code := run(ctx, []string{"serve", "--redis-url", rs.URL(), "--brokers", "127.0.0.1:1", "--model", "", "--pseudonym-key", c.key},
				mapEnv(nil), strings.NewReader(""), &out, &errb)
			if code == 0 || !strings.Contains(errb.String(), c.want) {
				t.Fatalf("serve with key %q on a Redis keyed with another (exit %d): %s", c.key, code, errb.String())
			}
		}
	})
	t.Run("serve exits on evicting Redis", func(t *testing.T) {
		rs := redistest.Start(t, "--maxmemory-policy", "volatile-lru")
		var out, errb bytes.Buffer
		code := run(ctx, []string{"serve", "--redis-url", rs.URL(), "--brokers", "127.0.0.1:1", "--model", ""},
			mapEnv(nil), strings.NewReader(""), &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), "volatile-lru") {
			t.Fatalf("serve ran on an evicting Redis (exit %d): %s", code, errb.String())
		}
	})
}
