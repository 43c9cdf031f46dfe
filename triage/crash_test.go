package triage

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"lookout/classifier"
)

// TestRedisKilledMidRun (R6): posts are recorded while redis-server is
// killed with SIGKILL and restarted from its AOF. Every acknowledged post
// is there afterwards, and every case is whole: its timeline matches its
// post count and it sits in exactly the index of its state.
func TestRedisKilledMidRun(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	var acked []string
	failures := 0
	for i := 0; i < 600; i++ {
		if i == 300 {
			rs.Kill()
			go func() { time.Sleep(1500 * time.Millisecond); rs.Restart() }()
		}
		id := fmt.Sprintf("k%d", i)
		for attempt := 0; ; attempt++ {
			_, _, err := s.Record(ctx, Post{ID: id, AuthorID: fmt.Sprintf("ka%d", i%97), Text: "t", CreatedAt: time.Now()},
				classifier.Result{Level: 5 + i%6, PHigh: 0.5}, false)
			if err == nil {
				break
			}
			failures++
			if attempt > 200 {
				t.Fatalf("Redis did not come back: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		acked = append(acked, id)
	}
	if failures == 0 {
		t.Fatal("no write failed: the kill did not happen mid-run")
	}
	postCase, _ := s.rdb.HGetAll(ctx, keyPostHash).Result()
	for _, id := range acked {
		if postCase[s.ids.Post(id)] == "" {
			t.Fatalf("acknowledged post %s lost", id)
		}
	}
	checkCasesWhole(t, s)
	t.Logf("%d posts recorded across a Redis SIGKILL (%d failed attempts retried)", len(acked), failures)
}

// checkCasesWhole asserts that every case is whole and indexed once.
func checkCasesWhole(t *testing.T, s *Store) {
	t.Helper()
	ctx := ctxT()
	indexes := map[string]string{"pending": keyQueue, "claimed": keyLeases, "escalated": keyEscalated, "watch": keyWatch}
	members := map[string][]string{}
	for st, k := range indexes {
		members[st], _ = s.rdb.ZRange(ctx, k, 0, -1).Result()
	}
	ids := map[string]bool{}
	for _, id := range s.rdb.HVals(ctx, keyPostHash).Val() {
		ids[id] = true
	}
	timelineTotal := 0
	for id := range ids {
		m := s.rdb.HGetAll(ctx, keyCase(id)).Val()
		if len(m) == 0 {
			t.Fatalf("post index names case %s, which does not exist", id)
		}
		n, _ := strconv.Atoi(m["posts"])
		if l := int(s.rdb.LLen(ctx, keyCasePosts(id)).Val()); l != n {
			t.Fatalf("case %s: %d posts counted, %d in its timeline", id, n, l)
		}
		timelineTotal += n
		for st := range indexes {
			in := slices.Contains(members[st], id)
			if in != (m["state"] == st) {
				t.Fatalf("case %s in state %s: in the %s index = %v", id, m["state"], st, in)
			}
		}
	}
	if n := int(s.rdb.HLen(ctx, keyPostHash).Val()); n != timelineTotal {
		t.Fatalf("%d posts indexed, %d in timelines", n, timelineTotal)
	}
}

// BenchmarkClaimResolve: 50 volunteers claim the next case and resolve
// it, concurrently, against a real redis-server; reports p50 and p99 of
// each call's latency.
func BenchmarkClaimResolve(b *testing.B) {
	s, _ := newTestStore(b)
	ctx := ctxT()
	for i := 0; i < b.N+50; i++ {
		if _, _, err := s.Record(ctx, Post{ID: fmt.Sprintf("b%d", i), AuthorID: fmt.Sprintf("ba%d", i), Text: "t", CreatedAt: time.Now()},
			classifier.Result{Level: 6 + i%4, PHigh: 0.8}, false); err != nil {
			b.Fatal(err)
		}
	}
	var mu sync.Mutex
	var claims, resolves []time.Duration
	work := make(chan struct{}, b.N)
	for i := 0; i < b.N; i++ {
		work <- struct{}{}
	}
	close(work)
	b.ResetTimer()
	var wg sync.WaitGroup
	for v := 0; v < 50; v++ {
		name := fmt.Sprintf("bench%02d", v)
		wg.Go(func() {
			for range work {
				t0 := time.Now()
				l, err := s.Claim(ctx, name, RoleVolunteer, "")
				t1 := time.Now()
				if err != nil {
					b.Error(err)
					return
				}
				if err := s.Resolve(ctx, name, l.CaseID, l.Token, Resolution{Outcome: "reached_safe"}); err != nil {
					b.Error(err)
					return
				}
				t2 := time.Now()
				mu.Lock()
				claims = append(claims, t1.Sub(t0))
				resolves = append(resolves, t2.Sub(t1))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000
	}
	if len(claims) > 0 {
		b.ReportMetric(pct(claims, 0.5), "claim-p50-ms")
		b.ReportMetric(pct(claims, 0.99), "claim-p99-ms")
		b.ReportMetric(pct(resolves, 0.5), "resolve-p50-ms")
		b.ReportMetric(pct(resolves, 0.99), "resolve-p99-ms")
	}
}
