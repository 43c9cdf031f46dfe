package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"lookout/triage"
)

// benchScale runs 1, 2 and 4 `lookout serve` processes in one consumer
// group on 8 partitions over the same preloaded posts, each time against
// a fresh broker and redis-server, and checks the ledger: every post is
// in exactly one place (a case timeline or the score record), none twice
// in timelines. Each process is held to one core (GOMAXPROCS=1), as if
// each instance had a machine of one core: on this 2-core machine that
// shows growth from one instance to two; four share the two cores. A
// last run gives one instance every core.
func benchScale(ctx context.Context, w io.Writer, dataDir string) error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.New("scale: needs redis-server on PATH")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	calm, err := readJSONL(filepath.Join(dataDir, "weibo_random/posts.jsonl"))
	if err != nil {
		return err
	}
	risky, err := readJSONL(filepath.Join(dataDir, "sos4k/train.jsonl"))
	if err != nil {
		return err
	}
	const n = 40000
	fmt.Fprintf(w, "\nscale-out (%d posts, 8 partitions, lookout serve processes in one group, %d cores on the machine)\n", n, runtime.NumCPU())
	for _, run := range []struct{ instances, cores int }{{1, 1}, {2, 1}, {4, 1}, {1, runtime.NumCPU()}} {
		instances := run.instances
		dir, err := os.MkdirTemp("", "lookout-scale")
		if err != nil {
			return err
		}
		port := freePortNumber()
		rcmd := exec.CommandContext(ctx, bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
			"--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction")
		if err := rcmd.Start(); err != nil {
			return err
		}
		redisURL := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
		rdb, _ := newRedis(redisURL, "")
		for i := 0; rdb.Ping(ctx).Err() != nil && i < 100; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(8, "posts"), kfake.SeedTopics(1, "posts.dlq"),
			kfake.GroupMinSessionTimeout(time.Second))
		if err != nil {
			return err
		}
		brokers := cluster.ListenAddrs()
		wr := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "posts", Balancer: &kafka.Hash{}, BatchTimeout: 2 * time.Millisecond, BatchSize: 1000}
		batch := make([]kafka.Message, 0, 1000)
		for i := 0; i < n; i++ {
			text := calm[i%len(calm)].Text
			if i%20 == 0 {
				text = risky[i%len(risky)].Text
			}
			author := "scale-author-" + strconv.Itoa(i*7919%9973)
			v, _ := json.Marshal(map[string]any{"v": 1, "id": "s" + strconv.Itoa(i), "author_id": author, "text": text,
				"created_at": time.Now().UTC().Format(time.RFC3339)})
			batch = append(batch, kafka.Message{Key: []byte(author), Value: v})
			if len(batch) == cap(batch) {
				if err := wr.WriteMessages(ctx, batch...); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		wr.Close()
		t0 := time.Now()
		var procs []*exec.Cmd
		key := randomPseudonymKey()
		for i := 0; i < instances; i++ {
			cmd := exec.CommandContext(ctx, self, "serve", "--brokers", strings.Join(brokers, ","), "--redis-url", redisURL,
				"--listen", "127.0.0.1:0", "--group", "scale", "--log-level", "error", "--session-timeout", "6s")
			cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(run.cores), "LOOKOUT_PSEUDONYM_KEY="+key)
			if err := cmd.Start(); err != nil {
				return err
			}
			procs = append(procs, cmd)
		}
		werr := waitGroupDone(ctx, brokers, "scale", 8, 5*time.Minute)
		elapsed := time.Since(t0)
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
		var lost, doubled int
		var window time.Duration
		if werr == nil {
			lost, doubled, window, err = scaleLedger(ctx, rdb, key, n)
		}
		rdb.Close()
		cluster.Close()
		_ = rcmd.Process.Kill()
		_ = rcmd.Wait()
		os.RemoveAll(dir)
		if werr != nil {
			return werr
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %d instance(s), %d core(s) each  %8.0f posts/s while processing (%v from first to last post recorded; %v from start)  ledger: %d lost, %d doubled\n",
			instances, run.cores, float64(n)/max(window, time.Millisecond).Seconds(), window.Round(time.Millisecond), elapsed.Round(time.Millisecond), lost, doubled)
		if lost+doubled > 0 {
			return fmt.Errorf("scale: %d instances lost %d and doubled %d posts", instances, lost, doubled)
		}
	}
	return nil
}

// scaleLedger checks every post s0..s(n-1): each must be in the score
// record, each flagged one (in the post index) in exactly one timeline
// entry. It returns the posts in no place and those in two.
func scaleLedger(ctx context.Context, rdb *redis.Client, key string, n int) (lost, doubled int, window time.Duration, err error) {
	scored := make(map[string]bool, n)
	var first, last time.Time
	ids, err := triage.NewPseudonyms(key)
	if err != nil {
		return 0, 0, 0, err
	}
	store, err := triage.NewStore(rdb, triage.DefaultRouting(), ids)
	if err != nil {
		return 0, 0, 0, err
	}
	err = store.EachScore(ctx, time.Time{}, func(r triage.ScoreRecord) {
		scored[r.PostKey] = true
		if first.IsZero() {
			first = r.At
		}
		last = r.At
	})
	if err != nil {
		return 0, 0, 0, err
	}
	postCase, err := rdb.HGetAll(ctx, "lookout:{t}:posthash").Result()
	if err != nil {
		return 0, 0, 0, err
	}
	timeline := map[string]int{}
	iter := rdb.Scan(ctx, 0, "lookout:{t}:case:*:posts", 1000).Iterator()
	for iter.Next(ctx) {
		entries, err := rdb.LRange(ctx, iter.Val(), 0, -1).Result()
		if err != nil {
			return 0, 0, 0, err
		}
		for _, e := range entries {
			var p struct {
				ID string `json:"id"`
			}
			if json.Unmarshal([]byte(e), &p) == nil {
				timeline[p.ID]++
			}
		}
	}
	for i := 0; i < n; i++ {
		id := "s" + strconv.Itoa(i)
		switch {
		case !scored[ids.ScoreKey(id)]:
			lost++
		case postCase[ids.Post(id)] != "" && timeline[id] == 0:
			lost++
		case timeline[id] > 1:
			doubled++
		}
	}
	return lost, doubled, last.Sub(first), iter.Err()
}
