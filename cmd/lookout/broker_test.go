package main

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"lookout/internal/redistest"
)

// TestBrokerRestart (R13): the broker goes away mid-run and comes back
// on the same address with its data; consumption resumes by itself and
// the ledger holds.
func TestBrokerRestart(t *testing.T) {
	rs := redistest.Start(t)
	dir := t.TempDir()
	port := freeTCPPort(t)
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir), kfake.SeedTopics(testPartitions, "posts"),
		kfake.SeedTopics(1, "posts.dlq"), kfake.GroupMinSessionTimeout(time.Second)}
	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	brokers := kc.ListenAddrs()
	first := mixPosts(t, 13, 600, 0, 0.1, "restart-a")
	produce(t, brokers, first.messages)
	_, _, stop := runInProcess(t, brokers, rs.URL(), "restart")
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, _, _ := offsets(t.Context(), brokers, "restart")
		var sum int64
		for _, o := range c {
			sum += max(o, 0)
		}
		if sum > 50 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	kc.Close()
	time.Sleep(2 * time.Second) // the broker is away
	kc, err = kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	defer kc.Close()
	second := mixPosts(t, 14, 300, 0, 0.1, "restart-b")
	produce(t, brokers, second.messages)
	waitCommitted(t, brokers, "restart", 60*time.Second)
	stop()
	for id, f := range second.flagged {
		first.flagged[id], first.authorOf[id] = f, second.authorOf[id]
	}
	checkLedger(t, rs.Client, first)
}

// TestInjectedFetchAndCommitErrors (R14): the broker fails fetches and
// commits for a while; the failures are retried, never ignored, and the
// ledger holds.
func TestInjectedFetchAndCommitErrors(t *testing.T) {
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	l := mixPosts(t, 15, 500, 0, 0.1, "faults")
	produce(t, brokers, l.messages)
	var commitFails, fetchFails atomic.Int64
	failing := atomic.Bool{}
	failing.Store(true)
	kc.ControlKey(int16(kmsg.OffsetCommit), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if failing.Load() && commitFails.Add(1) <= 10 {
			return nil, errors.New("injected commit failure"), true
		}
		return nil, nil, false
	})
	kc.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if failing.Load() && fetchFails.Add(1)%4 == 0 && fetchFails.Load() < 40 {
			return nil, errors.New("injected fetch failure"), true
		}
		return nil, nil, false
	})
	_, _, stop := runInProcess(t, brokers, rs.URL(), "faults")
	waitCommitted(t, brokers, "faults", 60*time.Second)
	stop()
	if commitFails.Load() < 10 || fetchFails.Load() < 4 {
		t.Fatalf("faults not exercised: %d commit, %d fetch requests failed", commitFails.Load(), fetchFails.Load())
	}
	checkLedger(t, rs.Client, l)
}
