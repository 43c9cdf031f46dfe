package ingest

import (
	"bytes"
	"context"
	"encoding/json"
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
// answers again every message is handled.
func TestWatchdogRestartsStalledReader(t *testing.T) {
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
	// restarted the reader (at most 60 s). Keyed to the consumer's state,
	// not to the first fetch: on a loaded machine kafka-go may drop the
	// first fetch's answer and fetch again.
	reg := prometheus.NewRegistry()
	metric := func(name string) float64 { return metricValue(reg, name) }
	restarted := func() bool { return metric("lookout_ingest_reader_restarts_total") > 0 }
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
	c, err := New(Options{Brokers: brokers, GroupID: "watchdog", MaxMessageBytes: 1 << 20, StallTimeout: 1500 * time.Millisecond,
		SessionTimeout: 2 * time.Second, Registerer: reg,
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
			t.Fatalf("%d of 200 handled", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
	restarts := metric("lookout_ingest_reader_restarts_total")
	if restarts < 1 {
		t.Fatal("the watchdog did not restart the stalled reader")
	}
	t.Logf("watchdog restarted the reader %v time(s); all 200 handled", restarts)
}
