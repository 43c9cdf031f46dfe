package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestCommitNeverMovesTheGroupBack: after a rebalance a consumer may
// finish messages of a partition that another member has since committed
// past. Before committing, the group's offsets are read, and a partition
// the group has already committed at or past this consumer's point is
// left out (and counted); others are committed as usual.
func TestCommitNeverMovesTheGroupBack(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "posts"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	ctx := context.Background()
	// The partition's new owner has committed 50 on partition 0.
	resp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: "g", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"posts": {{Partition: 0, Offset: 50}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.Topics["posts"] {
		if p.Error != nil {
			t.Fatal(p.Error)
		}
	}
	reg := prometheus.NewRegistry()
	c, err := New(Options{Brokers: brokers, GroupID: "g", Registerer: reg,
		Handler: HandlerFunc(func(context.Context, []Post) error { return nil })})
	if err != nil {
		t.Fatal(err)
	}
	// This consumer finished offsets 10-19 of partition 0 (stale) and 0-4
	// of partition 1 (its own, nothing committed there yet).
	for o := int64(10); o < 20; o++ {
		c.track.fetched(0, o)
		c.track.markDone(0, o)
	}
	for o := int64(0); o < 5; o++ {
		c.track.fetched(1, o)
		c.track.markDone(1, o)
	}
	offsets := c.track.toCommit()
	if offsets[0] != 20 || offsets[1] != 5 {
		t.Fatalf("to commit %v, want partition 0 at 20 and 1 at 5", offsets)
	}
	c.dropBehindGroup(ctx, client, offsets)
	if _, ok := offsets[0]; ok || offsets[1] != 5 {
		t.Fatalf("after reading the group's offsets: %v, want only partition 1 at 5", offsets)
	}
	if got := metricValue(reg, "lookout_ingest_commits_skipped_total"); got != 1 {
		t.Errorf("commits skipped %v, want 1", got)
	}
	// Recorded as committed here: not proposed again until it moves.
	if again := c.track.toCommit(); again[0] != 0 {
		t.Errorf("partition 0 proposed again at %d", again[0])
	}

	// When the group's offsets cannot be read, the commit goes ahead.
	kc.Close()
	offsets = map[int]int64{0: 20}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c.dropBehindGroup(short, client, offsets)
	if offsets[0] != 20 {
		t.Errorf("with the broker gone: %v, want partition 0 kept at 20", offsets)
	}
}

// metricValue is the largest value among the series of a counter or
// gauge in reg, or 0 when it has none yet.
func metricValue(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v = max(v, m.GetCounter().GetValue(), m.GetGauge().GetValue())
			}
		}
	}
	return v
}
