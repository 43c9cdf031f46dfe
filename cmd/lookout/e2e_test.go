package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lookout/internal/redistest"
)

// startService runs the service in-process until the returned stop is
// called; stop returns runService's error.
func startService(t *testing.T, brokers, redisURL, group string) (stop func() error) {
	t.Helper()
	_, _, stop = runInProcessWith(t, nil, func(c *serveConfig) {
		c.Brokers, c.RedisURL, c.Group, c.Workers = brokers, redisURL, group, 8
	})
	return stop
}

// TestEndToEnd: 2,000 posts (about 10% flagged) and malformed messages
// through kfake into a real Redis: exactly the expected cases, every
// malformed message dead-lettered once with its reason and position,
// offsets committed to the end of every partition.
func TestEndToEnd(t *testing.T) {
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	l := mixPosts(t, 1, 2000, 42, 0.10, "e2e")
	produce(t, brokers, l.messages)

	stop := startService(t, strings.Join(brokers, ","), rs.URL(), "e2e")
	waitCommitted(t, brokers, "e2e", 60*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("service stopped with error: %v", err)
	}
	checkLedger(t, rs.Client, l)

	flagged := 0
	for _, f := range l.flagged {
		if f {
			flagged++
		}
	}
	if flagged < 100 || flagged > 400 {
		t.Fatalf("mix has %d flagged posts of 2000; want about 10%%", flagged)
	}

	dlq := dlqRecords(t, brokers)
	if len(dlq) != l.badCount() {
		t.Fatalf("dead-letter topic has %d records, want %d", len(dlq), l.badCount())
	}
	got := map[string]int{}
	seen := map[string]bool{}
	for _, m := range dlq {
		got[header(m, "reason")]++
		pos := header(m, "source_partition") + "/" + header(m, "source_offset")
		if header(m, "source_partition") == "" || header(m, "source_offset") == "" {
			t.Fatalf("dead-letter record without source position: %v", m.Headers)
		}
		if seen[pos] {
			t.Fatalf("message at %s dead-lettered twice", pos)
		}
		seen[pos] = true
	}
	for reason, n := range l.malformed {
		if got[reason] != n {
			t.Errorf("dead-lettered %q: %d, want %d", reason, got[reason], n)
		}
	}
}

// TestRedeliveryChangesNothing: a second consumer group re-reading every
// post (as after lost commits) creates no case and no timeline entry.
func TestRedeliveryChangesNothing(t *testing.T) {
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	l := mixPosts(t, 2, 400, 0, 0.3, "redeliver")
	produce(t, brokers, l.messages)
	for _, group := range []string{"first", "second"} {
		stop := startService(t, strings.Join(brokers, ","), rs.URL(), group)
		waitCommitted(t, brokers, group, 60*time.Second)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	checkLedger(t, rs.Client, l)
}

// TestCrashRecovery: the service, as a subprocess, is killed with SIGKILL
// at random moments while posts keep arriving; after it restarts no post
// is lost and none is in two cases. Finally SIGTERM stops it in bounded
// time with everything committed.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test starts subprocesses")
	}
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	bin := lookoutBinary(t)
	l := mixPosts(t, 3, 2000, 14, 0.10, "crash")

	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; i < len(l.messages); i += 100 {
			produce(t, brokers, l.messages[i:min(i+100, len(l.messages))])
			time.Sleep(60 * time.Millisecond)
		}
	}()

	start := func() (*exec.Cmd, *syncBuffer) {
		stderr := &syncBuffer{}
		cmd := exec.Command(bin, "serve", "--brokers", strings.Join(brokers, ","), "--redis-url", rs.URL(), "--pseudonym-key", testPseudonymKey,
			"--listen", "127.0.0.1:0", "--model", "", "--group", "crash", "--session-timeout", "2s",
			"--log-level", "debug")
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, stderr
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for i := 0; i < 5; i++ {
		cmd, _ := start()
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	<-produced
	// kfake re-enters a member whose session timed out into the next
	// rebalance instead of removing it, so a process killed during a
	// join can linger holding partitions (Kafka evicts it). Before the
	// last run, let the broker empty the group of the dead.
	emptyBy := time.Now().Add(30 * time.Second)
	for gi := kc.GroupInfo("crash"); gi != nil && len(gi.Members) > 0 && time.Now().Before(emptyBy); gi = kc.GroupInfo("crash") {
		time.Sleep(200 * time.Millisecond)
	}
	if gi := kc.GroupInfo("crash"); gi != nil && len(gi.Members) > 0 {
		t.Logf("kfake still lists %d dead members after 30 s", len(gi.Members))
	}
	cmd, stderr := start()
	defer func() {
		if t.Failed() {
			if gi := kc.GroupInfo("crash"); gi != nil {
				for _, m := range gi.Members {
					t.Logf("group %s state %s epoch %d: member %s assigned %v", gi.Group, gi.State, gi.Epoch, m.MemberID, m.Assignment)
				}
			}
			t.Logf("service log:\n%s", stderr.String())
		}
	}()
	waitCommitted(t, brokers, "crash", 90*time.Second)
	stopWithin(t, cmd, 25*time.Second, stderr)
	checkLedger(t, rs.Client, l)
	if n := len(dlqRecords(t, brokers)); n < l.badCount() {
		t.Fatalf("dead-letter records: %d, want at least %d", n, l.badCount())
	}
}

// TestTwoConsumersShareAndHandOver: two instances in one group split the
// partitions; when one stops, the other takes its partitions and nothing
// is lost.
func TestTwoConsumersShareAndHandOver(t *testing.T) {
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	bs := strings.Join(brokers, ",")
	first := mixPosts(t, 4, 800, 0, 0.15, "share-a")
	produce(t, brokers, first.messages)

	stopA := startService(t, bs, rs.URL(), "share")
	stopB := startService(t, bs, rs.URL(), "share")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := kc.WaitGroupStable(ctx, "share", 2)
	if err != nil {
		t.Fatalf("group did not settle with two members: %v", err)
	}
	if n := len(info.Members); n != 2 {
		t.Fatalf("group has %d members, want 2", n)
	}
	for _, m := range info.Members {
		if m.NumAssigned() == 0 {
			t.Fatalf("member %s has no partitions: the work is not shared", m.MemberID)
		}
	}
	waitCommitted(t, brokers, "share", 60*time.Second)
	if err := stopA(); err != nil {
		t.Fatalf("stopping one instance: %v", err)
	}
	second := mixPosts(t, 5, 800, 0, 0.15, "share-b")
	produce(t, brokers, second.messages)
	waitCommitted(t, brokers, "share", 60*time.Second)
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	for id, f := range second.flagged {
		first.flagged[id] = f
		first.authorOf[id] = second.authorOf[id]
	}
	checkLedger(t, rs.Client, first)
}

// syncBuffer is a bytes.Buffer safe for a subprocess to write while the
// test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
