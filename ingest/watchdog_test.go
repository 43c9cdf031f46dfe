package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestWatchdogRestartsStalledReader (R13): fetches hang for 6 s while
// messages are left behind; the watchdog restarts the reader, and once
// the broker answers again every message is handled.
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
	var first atomic.Bool
	var windowEnd atomic.Int64
	kc.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if !first.Swap(true) {
			windowEnd.Store(time.Now().Add(6 * time.Second).UnixNano())
			return nil, nil, false
		}
		if until := time.Unix(0, windowEnd.Load()); time.Now().Before(until) {
			kc.SleepControl(func() { time.Sleep(time.Until(until)) })
		}
		return nil, nil, false
	})
	var mu sync.Mutex
	seen := map[string]bool{}
	reg := prometheus.NewRegistry()
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
	mfs, _ := reg.Gather()
	restarts := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "lookout_ingest_reader_restarts_total" {
			restarts = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if restarts < 1 {
		t.Fatal("the watchdog did not restart the stalled reader")
	}
	t.Logf("watchdog restarted the reader %v time(s); all 200 handled", restarts)
}
