package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"lookout/classifier"
	"lookout/ingest"
	"lookout/triage"
)

// latencyRecorder wraps the store and records, for each flagged post,
// the time from its created_at to its case being written.
type latencyRecorder struct {
	recorder
	mu    sync.Mutex
	lat   []time.Duration
	first time.Time // when the first post was recorded
	last  time.Time // when the latest post was recorded
}

func (l *latencyRecorder) RecordBatch(ctx context.Context, posts []triage.Scored, out []triage.Recorded) ([]triage.Recorded, error) {
	out, err := l.recorder.RecordBatch(ctx, posts, out)
	if err != nil {
		return out, err
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first.IsZero() {
		l.first = now
	}
	l.last = now
	for i, r := range out {
		if r.Outcome == triage.OutcomeCreated || r.Outcome == triage.OutcomeJoined {
			l.lat = append(l.lat, now.Sub(posts[i].Post.CreatedAt))
		}
	}
	return out, nil
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

// benchE2E runs the end-to-end figures; w gets the report.
func benchE2E(ctx context.Context, w io.Writer, cls *classifier.Classifier, dataDir string, workers, rounds int) error {
	runtime.GOMAXPROCS(runtime.NumCPU())
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.New("e2e: needs redis-server on PATH (apt-get install -y redis-server)")
	}
	// Posts: ordinary ones and about 5% high-risk tree-hole comments.
	var calm, risky []string
	for _, f := range []string{"weibo_random/posts.jsonl", "ewect/posts.jsonl"} {
		ps, err := readJSONL(filepath.Join(dataDir, f))
		if err != nil {
			return err
		}
		for _, p := range ps {
			calm = append(calm, p.Text)
		}
	}
	ps, err := readJSONL(filepath.Join(dataDir, "sos4k/train.jsonl"))
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Level != nil && *p.Level >= 8 {
			risky = append(risky, p.Text)
		}
	}
	const n = 40000
	texts := make([]string, n)
	for i := range texts {
		if i%20 == 0 {
			texts[i] = risky[i/20%len(risky)]
		} else {
			texts[i] = calm[i%len(calm)]
		}
	}

	// Scoring alone, all cores, on the same posts: what end to end is
	// compared with.
	scoreOnly := func() float64 {
		t0 := time.Now()
		var wg sync.WaitGroup
		cores := runtime.NumCPU()
		for g := 0; g < cores; g++ {
			wg.Go(func() {
				for i := g; i < n; i += cores {
					_, _ = cls.Score(texts[i])
				}
			})
		}
		wg.Wait()
		return float64(n) / time.Since(t0).Seconds()
	}

	// A real redis-server and kfake with 8 partitions.
	dir, err := os.MkdirTemp("", "lookout-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port := freePortNumber()
	rcmd := exec.CommandContext(ctx, bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction")
	if err := rcmd.Start(); err != nil {
		return err
	}
	defer func() { _ = rcmd.Process.Kill(); _ = rcmd.Wait() }()
	redisURL := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	rdb, err := newRedis(redisURL, "")
	if err != nil {
		return err
	}
	defer rdb.Close()
	for i := 0; rdb.Ping(ctx).Err() != nil; i++ {
		if i > 100 {
			return errors.New("e2e: redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(8, "posts"), kfake.SeedTopics(1, "posts.dlq"))
	if err != nil {
		return err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	writer := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "posts", Balancer: &kafka.Hash{},
		BatchTimeout: 2 * time.Millisecond, BatchSize: 1000, RequiredAcks: kafka.RequireAll}
	defer writer.Close()
	message := func(id string, text string, at time.Time) kafka.Message {
		h := fnv.New32a()
		h.Write([]byte(id))
		author := "bench-author-" + strconv.Itoa(int(h.Sum32()%20000))
		v, _ := json.Marshal(map[string]any{"v": 1, "id": id, "author_id": author, "text": text, "created_at": at.Format(time.RFC3339Nano)})
		return kafka.Message{Key: []byte(author), Value: v}
	}
	msgs := make([]kafka.Message, n)
	now := time.Now()
	for i := range msgs {
		msgs[i] = message("pre-"+strconv.Itoa(i), texts[i], now)
	}
	for i := 0; i < n; i += 1000 {
		if err := writer.WriteMessages(ctx, msgs[i:i+1000]...); err != nil {
			return err
		}
	}

	ids, err := triage.NewPseudonyms(randomPseudonymKey())
	if err != nil {
		return err
	}
	store, err := triage.NewStore(rdb, triage.DefaultRouting(), ids)
	if err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	lr := &latencyRecorder{recorder: store}
	consume := func(group string) (context.CancelFunc, chan error, error) {
		c, err := ingest.New(ingest.Options{Brokers: brokers, GroupID: group, Workers: workers, Handler: newPipeline(cls, lr, log, nil), Logger: log})
		if err != nil {
			return nil, nil, err
		}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(cctx) }()
		return cancel, done, nil
	}
	// End-to-end throughput over the preloaded topic, in rounds that
	// alternate with scoring alone (a noisy neighbour hits both alike):
	// each round is a new group on an emptied Redis, so every round does
	// the same work. The last round's consumer stays for the latency run.
	var scoreRates, e2eRates, ratios []float64
	var joinAndAll time.Duration
	var flagged int
	var cancel context.CancelFunc
	var done chan error
	var group string
	var redisCPU, lookoutCPU time.Duration // over the rounds, from start to the last commit
	for r := 0; r < rounds; r++ {
		scoreRates = append(scoreRates, scoreOnly())
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			return err
		}
		lr.mu.Lock()
		lr.first, lr.last, lr.lat = time.Time{}, time.Time{}, nil
		lr.mu.Unlock()
		group = fmt.Sprintf("bench-e2e-%d", r)
		redisCPU0, selfCPU0 := cpuOf(rcmd.Process.Pid), selfCPU()
		t0 := time.Now()
		cancel, done, err = consume(group)
		if err != nil {
			return err
		}
		if err := waitGroupDone(ctx, brokers, group, 8, 3*time.Minute); err != nil {
			cancel()
			return err
		}
		joinAndAll = time.Since(t0)
		redisCPU += cpuOf(rcmd.Process.Pid) - redisCPU0
		lookoutCPU += selfCPU() - selfCPU0
		lr.mu.Lock()
		// From the first batch recorded to the last: the group join and
		// the final commit are not throughput.
		rate := float64(n) / lr.last.Sub(lr.first).Seconds()
		flagged = len(lr.lat)
		lr.mu.Unlock()
		e2eRates = append(e2eRates, rate)
		ratios = append(ratios, rate/scoreRates[r])
		if r < rounds-1 {
			cancel()
			<-done
		}
	}

	// Post-to-case latency at a steady 2,000 posts/s for 15 s, with the
	// consumer caught up.
	lr.mu.Lock()
	lr.lat = nil
	lr.mu.Unlock()
	const rate, seconds = 2000, 15
	tick := time.NewTicker(10 * time.Millisecond)
	for i := 0; i < rate*seconds; {
		<-tick.C
		batch := make([]kafka.Message, 0, rate/100)
		for j := 0; j < rate/100; j, i = j+1, i+1 {
			batch = append(batch, message("live-"+strconv.Itoa(i), texts[i%n], time.Now()))
		}
		if err := writer.WriteMessages(ctx, batch...); err != nil {
			tick.Stop()
			cancel()
			return err
		}
	}
	tick.Stop()
	if err := waitGroupDone(ctx, brokers, group, 8, time.Minute); err != nil {
		cancel()
		return err
	}
	cancel()
	<-done
	lr.mu.Lock()
	lat := lr.lat
	lr.mu.Unlock()

	// Claim latency: 50 volunteers claim the next case and resolve it.
	var wg sync.WaitGroup
	var cmu sync.Mutex
	var claims []time.Duration
	deadline := time.Now().Add(10 * time.Second)
	for v := 0; v < 50; v++ {
		name := fmt.Sprintf("bench-vol-%02d", v)
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t := time.Now()
				l, err := store.Claim(ctx, name, triage.RoleVolunteer, "")
				d := time.Since(t)
				if err != nil {
					return
				}
				cmu.Lock()
				claims = append(claims, d)
				cmu.Unlock()
				_ = store.Resolve(ctx, name, l.CaseID, l.Token, triage.Resolution{Outcome: "reached_safe"})
			}
		})
	}
	wg.Wait()

	// Start-up to ready, and resident memory after a full pass, of a
	// `lookout serve` process.
	startup, rss, err := benchServe(ctx, brokers, redisURL)
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "\nend to end (kfake, 8 partitions -> scoring -> redis-server 7, AOF everysec; %d posts, %d flagged, %d cores, %d workers;\n", n, flagged, runtime.NumCPU(), workers)
	fmt.Fprintf(w, "            median of %d rounds, each scoring only then end to end)\n", rounds)
	fmt.Fprintf(w, "  scoring only, all cores                         %8.0f posts/s\n", median(scoreRates))
	fmt.Fprintf(w, "  end to end                                      %8.0f posts/s  (%.0f%% of scoring only, rounds %.0f-%.0f%%; last round %v with the group join)\n",
		median(e2eRates), 100*median(ratios), 100*slices.Min(ratios), 100*slices.Max(ratios), joinAndAll.Round(time.Millisecond))
	perPost := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(rounds*n) }
	fmt.Fprintf(w, "  CPU per post end to end: lookout %.1f µs (scoring alone %.1f µs), redis-server %.1f µs\n",
		perPost(lookoutCPU), 2e6/median(scoreRates), perPost(redisCPU))
	fmt.Fprintf(w, "  post to case at %d posts/s (%d flagged)       p50 %v  p99 %v\n", rate, len(lat), pct(lat, 0.5).Round(100*time.Microsecond), pct(lat, 0.99).Round(100*time.Microsecond))
	fmt.Fprintf(w, "  claim with 50 concurrent volunteers (%d claims)  p50 %v  p99 %v\n", len(claims), pct(claims, 0.5).Round(10*time.Microsecond), pct(claims, 0.99).Round(10*time.Microsecond))
	fmt.Fprintf(w, "  lookout serve: start to ready %v, resident memory after %d posts %s\n", startup.Round(time.Millisecond), n, rss)
	return nil
}

// waitGroupDone waits until the group has committed every partition's end.
func waitGroupDone(ctx context.Context, brokers []string, group string, parts int, timeout time.Duration) error {
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	ids := make([]int, parts)
	reqs := make([]kafka.OffsetRequest, parts)
	for i := range ids {
		ids[i], reqs[i] = i, kafka.LastOffsetOf(i)
	}
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		of, err1 := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{"posts": ids}})
		lo, err2 := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{"posts": reqs}})
		if err1 == nil && err2 == nil {
			committed := map[int]int64{}
			for _, p := range of.Topics["posts"] {
				committed[p.Partition] = p.CommittedOffset
			}
			// A group with no commit yet reports no partitions: compare
			// against every partition's end.
			doneAll := len(lo.Topics["posts"]) == parts
			for _, p := range lo.Topics["posts"] {
				if c, ok := committed[p.Partition]; !ok || c != p.LastOffset {
					doneAll = false
				}
			}
			if doneAll {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("group %s did not finish within %v", group, timeout)
}

// benchServe starts this binary as `lookout serve` with a new group,
// times it to ready, waits until it has read the whole topic, and reads
// its resident memory.
func benchServe(ctx context.Context, brokers []string, redisURL string) (time.Duration, string, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, "", err
	}
	port := freePortNumber()
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, self, "serve", "--brokers", strings.Join(brokers, ","), "--redis-url", redisURL,
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--group", "bench-serve", "--log-level", "error")
	cmd.Env = append(os.Environ(), "LOOKOUT_PSEUDONYM_KEY="+randomPseudonymKey())
	if err := cmd.Start(); err != nil {
		return 0, "", err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var startup time.Duration
	for i := 0; ; i++ {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				startup = time.Since(t0)
				break
			}
		}
		if i > 3000 {
			return 0, "", errors.New("serve did not become ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := waitGroupDone(ctx, brokers, "bench-serve", 8, 3*time.Minute); err != nil {
		return 0, "", err
	}
	return startup, procRSS(cmd.Process.Pid), nil
}

func procRSS(pid int) string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func freePortNumber() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// cpuOf returns the CPU time (user + system) a process has used so far.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which is in parentheses): utime and
	// stime are the 12th and 13th, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

// selfCPU returns the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
