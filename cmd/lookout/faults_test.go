package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"lookout/classifier"
	"lookout/ingest"
	"lookout/internal/redistest"
	"lookout/triage"
)

func postMsg(id, author, text string) kafka.Message {
	v, _ := json.Marshal(map[string]any{"v": 1, "id": id, "author_id": author, "text": text,
		"created_at": time.Now().UTC().Format(time.RFC3339)})
	return kafka.Message{Key: []byte(author), Value: v}
}

// committedOffsets returns the group's committed offset per partition.
func committedOffsets(t *testing.T, brokers []string, group string) map[int]int64 {
	t.Helper()
	c, _, err := offsets(context.Background(), brokers, group)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDeadLetterTopicDown (R4): while the dead-letter topic cannot be
// written, nothing past the bad message is committed; when it comes back
// the bad message is dead-lettered once and everything is committed.
func TestDeadLetterTopicDown(t *testing.T) {
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	var msgs []kafka.Message
	for i := 0; i < 20; i++ {
		msgs = append(msgs, postMsg(fmt.Sprintf("before-%d", i), "same-author", "今天天气不错"))
	}
	msgs = append(msgs, kafka.Message{Key: []byte("same-author"), Value: []byte(`{"broken": `)})
	for i := 0; i < 20; i++ {
		msgs = append(msgs, postMsg(fmt.Sprintf("after-%d", i), "same-author", "今天天气不错"))
	}
	produce(t, brokers, msgs)
	var down atomic.Bool
	down.Store(true)
	var refused atomic.Int64
	kc.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		for _, tp := range pr.Topics {
			if tp.Topic == "posts.dlq" && down.Load() {
				refused.Add(1)
				return nil, errors.New("dead-letter topic unavailable (injected)"), true
			}
		}
		return nil, nil, false
	})
	_, _, stop := runInProcess(t, brokers, rs.URL(), "dlq-down")
	// All 41 messages share a partition; the bad one is at offset 20.
	deadline := time.Now().Add(20 * time.Second)
	var part int
	for {
		c := committedOffsets(t, brokers, "dlq-down")
		for p, o := range c {
			if o > 0 {
				part = p
			}
		}
		if c[part] == 20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // the later posts are handled meanwhile
	if c := committedOffsets(t, brokers, "dlq-down")[part]; c != 20 {
		t.Fatalf("committed %d while the dead-letter topic is down, want 20 (the bad message's offset)", c)
	}
	if refused.Load() == 0 {
		t.Fatal("no dead-letter write was attempted")
	}
	down.Store(false)
	waitCommitted(t, brokers, "dlq-down", 30*time.Second)
	stop()
	dlq := dlqRecords(t, brokers)
	if len(dlq) != 1 || header(dlq[0], "reason") != "invalid_json" || header(dlq[0], "source_offset") != "20" {
		t.Fatalf("dead-letter records %d, want exactly the one bad message", len(dlq))
	}
}

// panicky is a scorer that fails on demand.
type panicky struct{ inner scorer }

func (p panicky) Score(text string) (classifier.Result, error) {
	switch {
	case strings.Contains(text, "PANIC"):
		panic("classifier bug on " + text)
	case strings.Contains(text, "ERROR"):
		return classifier.Result{}, errors.New("model failure")
	case strings.Contains(text, "SLOW"):
		time.Sleep(2 * time.Second)
	}
	return p.inner.Score(text)
}

// TestClassifierFailures (R5): errors, panics and timeouts in the
// classifier leave the process running and turn the post into a queued
// case for review.
func TestClassifierFailures(t *testing.T) {
	rs := redistest.Start(t)
	store, err := triage.NewStore(rs.Client, triage.DefaultRouting(), testIDs)
	if err != nil {
		t.Fatal(err)
	}
	p := newPipeline(panicky{classifier.New(classifier.Options{})}, store, discardLogger(), nil)
	p.scoreTimeout = 200 * time.Millisecond
	ctx := context.Background()
	// One batch: a failing post must not take the others with it.
	var posts []ingest.Post
	for i, text := range []string{"PANIC 今天天气不错", "ERROR 今天天气不错", "SLOW 今天天气不错", "今天天气不错"} {
		posts = append(posts, ingest.Post{ID: fmt.Sprintf("r5-%d", i), AuthorID: fmt.Sprintf("r5-author-%d", i), Text: text, CreatedAt: time.Now()})
	}
	if err := p.Handle(ctx, posts); err != nil {
		t.Fatal(err)
	}
	cases, err := store.List(ctx, "pending", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 3 || !cases[0].Unclassified || !cases[1].Unclassified || !cases[2].Unclassified {
		t.Fatalf("want 3 unclassified cases for review, got %+v", cases)
	}
}

// TestRedisFrozen (R7): with redis-server stopped (SIGSTOP), requests
// answer within their deadlines, readiness fails within 10 s, and the
// service recovers by itself when Redis continues.
func TestRedisFrozen(t *testing.T) {
	if testing.Short() {
		t.Skip("freezes Redis for 15 s")
	}
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	base, store, _ := runInProcess(t, brokers, rs.URL(), "frozen")
	if err := store.AddUser(context.Background(), "test", "vol", triage.RoleVolunteer, "frozen-password"); err != nil {
		t.Fatal(err)
	}
	ready := func() int {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor := func(what string, within time.Duration, ok func() bool) time.Duration {
		t0 := time.Now()
		for !ok() {
			if time.Since(t0) > within {
				t.Fatalf("%s not within %v", what, within)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return time.Since(t0)
	}
	waitFor("ready", 10*time.Second, func() bool { return ready() == 200 })
	rs.Stop()
	frozeAt := time.Now()
	d := waitFor("readiness failing", 10*time.Second, func() bool { return ready() == 503 })
	// A request that needs Redis answers within its deadline, with an error.
	t0 := time.Now()
	resp, err := http.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"name":"vol","password":"frozen-password"}`))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 500 {
			t.Fatalf("login with Redis frozen: %d", resp.StatusCode)
		}
	}
	if el := time.Since(t0); el > 8*time.Second {
		t.Fatalf("a request blocked %v with Redis frozen", el)
	}
	produce(t, brokers, []kafka.Message{postMsg("during-freeze", "frozen-author", "今晚就吃掉攒的安眠药，永别了")})
	for time.Since(frozeAt) < 15*time.Second {
		time.Sleep(200 * time.Millisecond)
	}
	rs.Continue()
	waitFor("recovery", 15*time.Second, func() bool { return ready() == 200 })
	waitCommitted(t, brokers, "frozen", 30*time.Second)
	if n := rs.Client.HLen(context.Background(), "lookout:{t}:posthash").Val(); n != 1 {
		t.Fatalf("the post sent during the freeze: %d cases, want 1", n)
	}
	t.Logf("readiness failed %v after the freeze; recovered without restart", d.Round(100*time.Millisecond))
}

// TestRedisOutOfMemory (R11): when Redis refuses writes (maxmemory with
// noeviction) the writes fail and are retried, commits stop, and once
// memory returns everything is processed; nothing is lost.
func TestRedisOutOfMemory(t *testing.T) {
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	_, _, stop := runInProcess(t, brokers, rs.URL(), "oom")
	ctx := context.Background()
	used := rs.Client.InfoMap(ctx, "memory").Item("Memory", "used_memory")
	if used == "" {
		t.Fatal("no used_memory")
	}
	if err := rs.Client.ConfigSet(ctx, "maxmemory", used).Err(); err != nil {
		t.Fatal(err)
	}
	l := mixPosts(t, 11, 200, 0, 0.2, "oom")
	produce(t, brokers, l.messages)
	time.Sleep(3 * time.Second)
	c := committedOffsets(t, brokers, "oom")
	total := int64(0)
	for _, o := range c {
		total += max(o, 0)
	}
	if total >= int64(len(l.messages)) {
		t.Fatalf("everything was committed while Redis refused writes")
	}
	if err := rs.Client.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	waitCommitted(t, brokers, "oom", 60*time.Second)
	stop()
	checkLedger(t, rs.Client, l)
}
