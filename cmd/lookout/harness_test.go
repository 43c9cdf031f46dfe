package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"lookout/classifier"
	"lookout/triage"
)

const testPartitions = 4

// startKafka starts an in-process kfake broker with the posts and
// dead-letter topics.
func startKafka(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(testPartitions, "posts"),
		kfake.SeedTopics(1, "posts.dlq"), kfake.GroupMinSessionTimeout(time.Second)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// ledger is what the test produced: every post id and what must become
// of it.
type ledger struct {
	flagged   map[string]bool // valid post id -> whether it must be in a case
	malformed map[string]int  // dead-letter reason -> count produced
	authorOf  map[string]string
	messages  []kafka.Message
}

// mixPosts builds n valid posts (about share of them flagged, from a pool
// of authors so that some join open cases) plus bad messages of every
// dead-letter reason. Expected outcomes come from the same classifier and
// routing the service uses.
func mixPosts(t testing.TB, seed uint64, n, bad int, share float64, runTag string) *ledger {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	cls := classifier.New(classifier.Options{})
	routing := triage.DefaultRouting()
	var risky, calm []string
	for _, p := range parseDemoPosts() {
		res, _ := cls.Score(p.text)
		if f, _ := routing.Flagged(res.Level, res.PHigh); f {
			risky = append(risky, p.text)
		} else {
			calm = append(calm, p.text)
		}
	}
	l := &ledger{flagged: map[string]bool{}, malformed: map[string]int{}, authorOf: map[string]string{}}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%d", runTag, i)
		author := "author-" + strconv.Itoa(rng.IntN(n/3+1))
		text := calm[rng.IntN(len(calm))]
		if rng.Float64() < share {
			text = risky[rng.IntN(len(risky))]
		}
		res, _ := cls.Score(text)
		f, _ := routing.Flagged(res.Level, res.PHigh)
		l.flagged[id] = f
		l.authorOf[id] = author
		v, _ := json.Marshal(map[string]any{"v": 1, "id": id, "author_id": author, "text": text,
			"created_at": time.Now().UTC().Format(time.RFC3339), "extra_field": "ignored"})
		l.messages = append(l.messages, kafka.Message{Key: []byte(author), Value: v})
	}
	badValues := []struct {
		reason string
		value  []byte
	}{
		{"invalid_json", []byte(`{"id": "x", "text": `)},
		{"invalid_utf8", []byte("{\"id\":\"x\",\"text\":\"\xff\xfe\"}")},
		{"missing_field", []byte(`{"v":1,"id":"m","text":"hi","created_at":"2026-01-01T00:00:00Z"}`)},
		{"unknown_version", []byte(`{"v":9,"id":"m","author_id":"a","text":"hi","created_at":"2026-01-01T00:00:00Z"}`)},
		{"empty", []byte{}},
		{"too_large", []byte(`{"v":1,"id":"big","author_id":"a","created_at":"2026-01-01T00:00:00Z","text":"` + strings.Repeat("长", 30000) + `"}`)},
		{"invalid_field", []byte(`{"v":1,"id":"t","author_id":"a","text":"hi","created_at":"yesterday"}`)},
	}
	for i := 0; i < bad; i++ {
		b := badValues[i%len(badValues)]
		l.malformed[b.reason]++
		pos := rng.IntN(len(l.messages) + 1)
		msg := kafka.Message{Key: []byte("bad-" + strconv.Itoa(i)), Value: b.value}
		l.messages = append(l.messages[:pos], append([]kafka.Message{msg}, l.messages[pos:]...)...)
	}
	return l
}

func (l *ledger) badCount() int {
	n := 0
	for _, c := range l.malformed {
		n += c
	}
	return n
}

// produce writes messages to the posts topic, keyed by author.
func produce(t testing.TB, brokers []string, msgs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "posts", Balancer: &kafka.Hash{},
		BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll, BatchSize: 500}
	defer w.Close()
	for i := 0; i < len(msgs); i += 500 {
		end := min(i+500, len(msgs))
		if err := w.WriteMessages(context.Background(), msgs[i:end]...); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// offsets returns, per partition of posts, the group's committed offset
// and the high watermark.
func offsets(ctx context.Context, brokers []string, group string) (committed, high map[int]int64, err error) {
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	parts := make([]int, testPartitions)
	reqs := make([]kafka.OffsetRequest, testPartitions)
	for i := range parts {
		parts[i] = i
		reqs[i] = kafka.LastOffsetOf(i)
	}
	of, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{"posts": parts}})
	if err != nil {
		return nil, nil, err
	}
	lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{"posts": reqs}})
	if err != nil {
		return nil, nil, err
	}
	committed, high = map[int]int64{}, map[int]int64{}
	for _, p := range of.Topics["posts"] {
		committed[p.Partition] = p.CommittedOffset
	}
	for _, p := range lo.Topics["posts"] {
		high[p.Partition] = p.LastOffset
	}
	return committed, high, nil
}

// waitCommitted waits until the group has committed the end of every
// partition.
func waitCommitted(t testing.TB, brokers []string, group string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var committed, high map[int]int64
	for time.Now().Before(deadline) {
		var err error
		committed, high, err = offsets(context.Background(), brokers, group)
		if err == nil && len(high) == testPartitions {
			done := true
			for p, h := range high {
				if committed[p] != h && h > 0 { // an empty partition has nothing to commit
					done = false
				}
			}
			if done {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("offsets not committed to the end within %v: committed %v, high %v", timeout, committed, high)
}

// dlqRecords reads the whole dead-letter topic.
func dlqRecords(t testing.TB, brokers []string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], "posts.dlq", 0)
	if err != nil {
		t.Fatalf("dial dlq: %v", err)
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatalf("dlq last offset: %v", err)
	}
	var out []kafka.Message
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "posts.dlq", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for int64(len(out)) < last {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read dlq: %v (read %d of %d)", err, len(out), last)
		}
		out = append(out, m)
	}
	return out
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// checkLedger asserts I1 and I2 over Redis: every flagged post is in
// exactly one case timeline entry, every other valid post is in the score
// record and in no case.
func checkLedger(t testing.TB, rdb *redis.Client, l *ledger) {
	t.Helper()
	ctx := context.Background()
	postCase, err := rdb.HGetAll(ctx, "lookout:{t}:posthash").Result()
	if err != nil {
		t.Fatal(err)
	}
	timeline := map[string]int{}
	iter := rdb.Scan(ctx, 0, "lookout:{t}:case:*:posts", 1000).Iterator()
	for iter.Next(ctx) {
		entries, err := rdb.LRange(ctx, iter.Val(), 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			var p struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal([]byte(e), &p); err != nil {
				t.Fatalf("bad timeline entry: %v", err)
			}
			timeline[p.ID]++
		}
	}
	scored := map[string]bool{}
	store, err := triage.NewStore(rdb, triage.DefaultRouting(), testIDs)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EachScore(ctx, time.Time{}, func(r triage.ScoreRecord) { scored[r.PostKey] = true }); err != nil {
		t.Fatal(err)
	}
	var lost, dup, wrong int
	var lostIDs []string
	for id, flagged := range l.flagged {
		before := lost
		switch {
		case flagged && timeline[id] == 0:
			lost++
		case flagged && timeline[id] > 1:
			dup++
		case flagged && postCase[testIDs.Post(id)] == "":
			lost++
		case !flagged && (timeline[id] > 0 || postCase[testIDs.Post(id)] != ""):
			wrong++
		case !flagged && !scored[testIDs.ScoreKey(id)]:
			lost++
		}
		if lost > before && len(lostIDs) < 10 {
			lostIDs = append(lostIDs, fmt.Sprintf("%s(flagged=%v)", id, flagged))
		}
	}
	if lost+dup+wrong > 0 {
		t.Fatalf("ledger: %d lost, %d duplicated, %d wrongly flagged of %d posts; lost: %v", lost, dup, wrong, len(l.flagged), lostIDs)
	}
	// One open case per author.
	open, err := rdb.HGetAll(ctx, "lookout:{t}:open").Result()
	if err != nil {
		t.Fatal(err)
	}
	authors := map[string]bool{}
	for id, f := range l.flagged {
		if f {
			authors[testIDs.Author(l.authorOf[id])] = true
		}
	}
	if len(open) != len(authors) {
		t.Fatalf("open cases: %d, want one per flagged author (%d)", len(open), len(authors))
	}
}

// testPseudonymKey keys the ids of every service the tests start, and
// testIDs derives them as those services do.
const testPseudonymKey = "lookout-tests-pseudonym-key-0123456789"

var testIDs = func() triage.Pseudonyms {
	p, err := triage.NewPseudonyms(testPseudonymKey)
	if err != nil {
		panic(err)
	}
	return p
}()

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// lookoutBinary builds the lookout command once per test run.
func lookoutBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lookout-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "lookout")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// runInProcess runs the service in this process against brokers and
// redisURL in group; see runInProcessWith.
func runInProcess(t *testing.T, brokers []string, redisURL, group string) (string, *triage.Store, func() error) {
	t.Helper()
	return runInProcessWith(t, nil, func(c *serveConfig) { c.Brokers, c.RedisURL, c.Group = strings.Join(brokers, ","), redisURL, group })
}

// runInProcessWith runs the service in this process with test defaults
// changed by set, logging to log (nil: discarded). It returns the base URL,
// the store, and stop, which ends the service (once; also at cleanup) and
// returns its error.
func runInProcessWith(t *testing.T, log *slog.Logger, set func(*serveConfig)) (string, *triage.Store, func() error) {
	t.Helper()
	cfg := serveConfig{Topic: "posts", DeadLetterTopic: "posts.dlq", Listen: "127.0.0.1:0", MaxMessageBytes: 64 << 10,
		Workers: 4, MaxBatch: 64, LogLevel: "warn", ShutdownTimeout: 15 * time.Second, SessionTimeout: 6 * time.Second, KafkaSASL: "none", TimeZone: "Asia/Shanghai",
		PseudonymKey: testPseudonymKey}
	set(&cfg)
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = discardLogger()
	}
	rdb, err := newRedis(cfg.RedisURL, cfg.RedisCA)
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	var store *triage.Store
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runService(ctx, cfg, rdb, log, &serviceHooks{listening: func(a string) { addr <- a },
			store: func(s *triage.Store) { store = s }})
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("service did not start: %v", err)
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				t.Error("service did not stop within 30 s")
			}
			rdb.Close()
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return base, store, stop
}

// stopWithin sends SIGTERM to a started lookout process and fails the
// test unless it exits cleanly within d (it is killed then); log is shown
// on failure.
func stopWithin(t testing.TB, cmd *exec.Cmd, d time.Duration, log *syncBuffer) {
	t.Helper()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, log.String())
		}
	case <-time.After(d):
		_ = cmd.Process.Kill()
		t.Fatalf("did not exit within %v of SIGTERM\n%s", d, log.String())
	}
}
