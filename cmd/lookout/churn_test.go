package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lookout/internal/redistest"
)

// TestThreeConsumersChurn (R2): three `lookout serve` processes in one
// group under load; every few seconds one is stopped and started again.
// Committed offsets never go backwards, and the ledger holds.
func TestThreeConsumersChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs subprocesses for 20 s")
	}
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	bin := lookoutBinary(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--brokers", strings.Join(brokers, ","), "--redis-url", rs.URL(), "--pseudonym-key", testPseudonymKey,
			"--listen", "127.0.0.1:0", "--model", "", "--group", "churn", "--session-timeout", "3s", "--log-level", "error")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	procs := []*exec.Cmd{start(), start(), start()}
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
	}()
	l := mixPosts(t, 21, 3000, 0, 0.1, "churn")
	// Monitor: committed offsets per partition never decrease.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var backwards []string
	wg.Go(func() {
		last := map[int]int64{}
		for ctx.Err() == nil {
			if c, _, err := offsets(ctx, brokers, "churn"); err == nil {
				for p, o := range c {
					prev, seen := last[p]
					if seen && o < prev {
						backwards = append(backwards, fmt.Sprintf("partition %d: %d after %d", p, o, prev))
					}
					if o >= 0 {
						last[p] = max(prev, o)
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	// Load in 20 slices over ~20 s, stopping and restarting one process
	// every 4 s.
	for i := 0; i < 20; i++ {
		produce(t, brokers, l.messages[i*150:(i+1)*150])
		if i%4 == 3 {
			k := (i / 4) % 3
			_ = procs[k].Process.Signal(syscall.SIGTERM)
			_ = procs[k].Wait()
			procs[k] = start()
		}
		time.Sleep(time.Second)
	}
	waitCommitted(t, brokers, "churn", 90*time.Second)
	stop()
	wg.Wait()
	if len(backwards) > 0 {
		t.Fatalf("committed offsets went backwards: %v", backwards)
	}
	checkLedger(t, rs.Client, l)
}
