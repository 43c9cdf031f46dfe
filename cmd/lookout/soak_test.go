package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"lookout/classifier"
	"lookout/internal/redistest"
	"lookout/triage"
)

// TestSoak runs lookout (a subprocess) under steady load for
// $LOOKOUT_SOAK (e.g. 30m; `make soak`) with a random fault every
// fifteenth of that time (every 2 minutes for 30m): kill -9 or SIGTERM
// of the service, Redis frozen or killed, the broker restarted. It checks
// that processing recovers within 90 s of each fault, that memory stays
// stable, and at the end the ledger: every produced post in exactly one
// place, none lost, none in two cases.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("LOOKOUT_SOAK"))
	if err != nil {
		t.Skip("set LOOKOUT_SOAK=30m (make soak) to run the soak test")
	}
	rs := redistest.Start(t)
	kport := freeTCPPort(t)
	kdir := t.TempDir()
	kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(kport), kfake.DataDir(kdir), kfake.SeedTopics(testPartitions, "posts"),
		kfake.SeedTopics(1, "posts.dlq"), kfake.GroupMinSessionTimeout(time.Second)}
	var kmu sync.Mutex
	kc, err := kfake.NewCluster(kopts...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { kmu.Lock(); kc.Close(); kmu.Unlock() }()
	brokers := kc.ListenAddrs()
	bin := lookoutBinary(t)

	var smu sync.Mutex
	var svc *exec.Cmd
	startSvc := func() {
		smu.Lock()
		defer smu.Unlock()
		svc = exec.Command(bin, "serve", "--brokers", strings.Join(brokers, ","), "--redis-url", rs.URL(), "--pseudonym-key", testPseudonymKey,
			"--listen", "127.0.0.1:0", "--model", "", "--group", "soak", "--session-timeout", "3s", "--log-level", "error")
		if err := svc.Start(); err != nil {
			t.Fatal(err)
		}
	}
	stopSvc := func(sig syscall.Signal) {
		smu.Lock()
		defer smu.Unlock()
		_ = svc.Process.Signal(sig)
		_ = svc.Wait()
	}
	startSvc()

	// Steady load: 100 posts/s, about 10% flagged, 1% malformed.
	cls := classifier.New(classifier.Options{})
	routing := triage.DefaultRouting()
	posts := parseDemoPosts()
	l := &ledger{flagged: map[string]bool{}, malformed: map[string]int{}, authorOf: map[string]string{}}
	var lmu sync.Mutex
	var produced atomic.Int64
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(99, 1))
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "posts", Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond,
			RequiredAcks: kafka.RequireAll, MaxAttempts: 2}
		defer w.Close()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		seq := 0
		for ctx.Err() == nil {
			<-tick.C
			var batch []kafka.Message
			var ids []string
			var flags []bool
			var authors []string
			for j := 0; j < 10; j++ {
				seq++
				id := "soak-" + strconv.Itoa(seq)
				author := "soak-author-" + strconv.Itoa(rng.IntN(2000))
				if seq%100 == 0 {
					batch = append(batch, kafka.Message{Key: []byte(author), Value: []byte(`{"id":"` + id + `",`)})
					ids, flags, authors = append(ids, ""), append(flags, false), append(authors, "")
					continue
				}
				p := posts[rng.IntN(len(posts))]
				res, _ := cls.Score(p.text)
				f, _ := routing.Flagged(res.Level, res.PHigh)
				v, _ := json.Marshal(map[string]any{"v": 1, "id": id, "author_id": author, "text": p.text,
					"created_at": time.Now().UTC().Format(time.RFC3339)})
				batch = append(batch, kafka.Message{Key: []byte(author), Value: v})
				ids, flags, authors = append(ids, id), append(flags, f), append(authors, author)
			}
			// Retry the batch until the broker takes it; only then is it
			// in the ledger (a failed attempt may still have landed: the
			// service handles duplicates, and the ledger checks post ids).
			written := false
			for ctx.Err() == nil && !written {
				if err := w.WriteMessages(ctx, batch...); err == nil {
					written = true
				} else {
					time.Sleep(500 * time.Millisecond)
				}
			}
			if !written {
				return // load stopped before the broker took this batch
			}
			lmu.Lock()
			for i, id := range ids {
				if id == "" {
					l.malformed["invalid_json"]++
					continue
				}
				l.flagged[id], l.authorOf[id] = flags[i], authors[i]
			}
			lmu.Unlock()
			produced.Add(int64(len(batch)))
		}
	})

	// caughtUp waits until the committed offsets reach the produced count.
	caughtUp := func(within time.Duration) (time.Duration, bool) {
		t0 := time.Now()
		for time.Since(t0) < within {
			c, _, err := offsets(context.Background(), brokers, "soak")
			if err == nil {
				var sum int64
				for _, o := range c {
					sum += max(o, 0)
				}
				if sum >= produced.Load()-20 { // within the last 2 s of load
					return time.Since(t0), true
				}
			}
			time.Sleep(250 * time.Millisecond)
		}
		return within, false
	}

	faults := []string{"kill -9 lookout", "SIGTERM lookout", "freeze redis 20s", "kill -9 redis", "restart broker"}
	if only := os.Getenv("LOOKOUT_SOAK_FAULTS"); only != "" { // for narrowing a failure down
		faults = strings.Split(only, ",")
	}
	interval := d / 15
	rng := rand.New(rand.NewPCG(7, 7))
	var rss []int64
	end := time.Now().Add(d)
	var report []string
	for time.Now().Add(interval).Before(end.Add(time.Second)) {
		// Sample memory while waiting for the next fault.
		next := time.Now().Add(interval)
		for time.Now().Before(next) {
			smu.Lock()
			pid := svc.Process.Pid
			smu.Unlock()
			if kb, err := strconv.ParseInt(strings.Fields(procRSS(pid) + " 0")[0], 10, 64); err == nil && kb > 0 {
				rss = append(rss, kb)
			}
			time.Sleep(5 * time.Second)
		}
		f := faults[rng.IntN(len(faults))]
		switch f {
		case "kill -9 lookout":
			stopSvc(syscall.SIGKILL)
			time.Sleep(2 * time.Second)
			startSvc()
		case "SIGTERM lookout":
			stopSvc(syscall.SIGTERM)
			startSvc()
		case "freeze redis 20s":
			rs.Stop()
			time.Sleep(20 * time.Second)
			rs.Continue()
		case "kill -9 redis":
			rs.Kill()
			time.Sleep(3 * time.Second)
			rs.Restart()
		case "restart broker":
			kmu.Lock()
			kc.Close()
			time.Sleep(3 * time.Second)
			kc, err = kfake.NewCluster(kopts...)
			kmu.Unlock()
			if err != nil {
				t.Fatalf("restart broker: %v", err)
			}
		}
		rec, ok := caughtUp(90 * time.Second)
		report = append(report, fmt.Sprintf("%-18s recovered in %v", f, rec.Round(100*time.Millisecond)))
		if !ok {
			t.Errorf("no recovery within 90 s after %s", f)
		}
	}
	stopLoad()
	wg.Wait()
	if _, ok := caughtUp(2 * time.Minute); !ok {
		t.Error("did not catch up at the end")
	}
	stopSvc(syscall.SIGTERM)
	for _, line := range report {
		t.Log(line)
	}
	if len(rss) >= 8 {
		// The second quarter is the baseline: the first is warm-up.
		q := len(rss) / 4
		first, last := mean(rss[q:2*q]), mean(rss[len(rss)-q:])
		t.Logf("memory: second quarter %.0f kB, last quarter %.0f kB (samples %d)", first, last, len(rss))
		if last > 1.5*first+20000 {
			t.Errorf("memory grew from %.0f to %.0f kB", first, last)
		}
	}
	lmu.Lock()
	defer lmu.Unlock()
	checkLedger(t, rs.Client, l)
	if n := len(dlqRecords(t, brokers)); n < l.badCount() {
		t.Errorf("dead-letter records %d, want at least %d", n, l.badCount())
	}
	t.Logf("soak %v: %d posts produced, %d faults, ledger holds", d, produced.Load(), len(report))
}

func mean(v []int64) float64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return float64(s) / float64(len(v))
}
