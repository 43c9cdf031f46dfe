package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestWatchdogRestartsStalledReader (R13): fetches hang while messages
// are left behind; the watchdog restarts the reader, and once the broker
// answers again every message is handled. The posts are large, so each
// answer is too (8 MB): on a loaded machine, building one took longer
// than kafka-go's wait for its first bytes once, and the reader retried
// the same offset forever.
func TestWatchdogRestartsStalledReader(t *testing.T) {
	restarts, stalls := runStalled(t, 1)
	if restarts < 1 {
		t.Fatal("the watchdog did not restart the stalled reader")
	}
	t.Logf("watchdog restarted the reader %v time(s), after %v; all 200 handled", restarts, stalls)
}

// TestWatchdogWaitsLongerAfterEachRestart: a new reader first joins the
// group, which can take a rebalance; when it too makes no progress, the
// watchdog waits twice as long before the next restart, so that a slow
// join is not taken for a stall again and again.
func TestWatchdogWaitsLongerAfterEachRestart(t *testing.T) {
	restarts, stalls := runStalled(t, 3)
	want := []time.Duration{1500 * time.Millisecond, 3 * time.Second, 6 * time.Second}
	if restarts < 3 || len(stalls) < 3 || !slices.Equal(stalls[:3], want) {
		t.Fatalf("%v restarts after %v; want the first three after %v", restarts, stalls, want)
	}
}

// handlerFunc is a slog.Handler that hands each record to a function.
type handlerFunc func(slog.Record)

func (h handlerFunc) Enabled(context.Context, slog.Level) bool { return true }
func (h handlerFunc) Handle(_ context.Context, r slog.Record) error {
	h(r)
	return nil
}
func (h handlerFunc) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h handlerFunc) WithGroup(string) slog.Handler      { return h }

// runStalled writes 200 large posts and consumes them while every fetch
// hangs, once the consumer has left some behind, until the watchdog has
// restarted the reader hangFor times (or 60 s have passed). It returns
// the restarts and the stall each one followed (from the watchdog's log).
func runStalled(t *testing.T, hangFor float64) (float64, []time.Duration) {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "posts"), kfake.SeedTopics(1, "posts.dlq"),
		kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()
	// 200 posts of ~100 KB: one fetch (8 MB) cannot take them all.
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "posts", BatchTimeout: 5 * time.Millisecond, BatchBytes: 16 << 20}
	text := string(bytes.Repeat([]byte("x"), 100<<10))
	for i := 0; i < 200; i++ {
		v, _ := json.Marshal(map[string]any{"v": 1, "id": strconv.Itoa(i), "author_id": "a", "text": text, "created_at": time.Now().Format(time.RFC3339)})
		if err := w.WriteMessages(context.Background(), kafka.Message{Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	// Once the consumer has fetched messages and left some behind (its lag
	// gauge is above zero), every fetch hangs until the watchdog has
	// restarted the reader enough times (at most 60 s). Keyed to the
	// consumer's state, not to the first fetch: on a loaded machine
	// kafka-go may drop the first fetch's answer and fetch again.
	reg := prometheus.NewRegistry()
	metric := func(name string) float64 { return metricValue(reg, name) }
	restarted := func() bool { return metric("lookout_ingest_reader_restarts_total") >= hangFor }
	hangUntil := time.Now().Add(60 * time.Second)
	kc.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if metric("lookout_ingest_consumer_lag_messages") > 0 && !restarted() && time.Now().Before(hangUntil) {
			kc.SleepControl(func() {
				for !restarted() && time.Now().Before(hangUntil) {
					time.Sleep(50 * time.Millisecond)
				}
			})
		}
		return nil, nil, false
	})
	var mu sync.Mutex
	seen := map[string]bool{}
	var stalls []time.Duration
	log := slog.New(handlerFunc(func(r slog.Record) {
		if r.Message != "no progress while lagging; restarting the Kafka reader" {
			return
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "after" {
				mu.Lock()
				stalls = append(stalls, a.Value.Duration())
				mu.Unlock()
			}
			return true
		})
	}))
	c, err := New(Options{Brokers: brokers, GroupID: "watchdog", MaxMessageBytes: 1 << 20, StallTimeout: 1500 * time.Millisecond,
		SessionTimeout: 2 * time.Second, Registerer: reg, Logger: log,
		Handler: HandlerFunc(func(ctx context.Context, posts []Post) error {
			mu.Lock()
			for _, p := range posts {
				seen[p.ID] = true
			}
			mu.Unlock()
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(120 * time.Second) // generous: CI runs packages in parallel on 2 cores
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 200 handled; the watchdog restarted the reader %v time(s); %v Kafka errors", n,
				metric("lookout_ingest_reader_restarts_total"), metric("lookout_ingest_kafka_errors_total"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return metric("lookout_ingest_reader_restarts_total"), stalls
}
