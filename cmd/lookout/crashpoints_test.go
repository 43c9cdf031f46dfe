package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lookout/internal/redistest"
)

// TestCrashAtNamedPoints (R1): the service kills itself (SIGKILL) right
// after a post is fetched, after it is scored, and after its outcome is
// written to Redis but before the offset is committed, 20 times at each
// point, at a random post each time. Then a clean run finishes: no post
// lost, none in two cases.
func TestCrashAtNamedPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("60 crashes of a subprocess")
	}
	cycles := 20
	if n, err := strconv.Atoi(os.Getenv("LOOKOUT_CRASH_CYCLES")); err == nil {
		cycles = n
	}
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	bin := lookoutBinary(t)
	l := mixPosts(t, 31, 4000, 20, 0.15, "crashpt")
	produce(t, brokers, l.messages)
	run := func(crashAt string) *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--brokers", strings.Join(brokers, ","), "--redis-url", rs.URL(), "--pseudonym-key", testPseudonymKey,
			"--listen", "127.0.0.1:0", "--model", "", "--group", "crashpt", "--session-timeout", "1s", "--log-level", "error")
		cmd.Env = append(os.Environ(), crashEnv+"="+crashAt)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// waitGone lets kfake evict the dead member before the next start (see
	// TestCrashRecovery).
	waitGone := func() {
		until := time.Now().Add(15 * time.Second)
		for gi := kc.GroupInfo("crashpt"); gi != nil && len(gi.Members) > 0 && time.Now().Before(until); gi = kc.GroupInfo("crashpt") {
			time.Sleep(100 * time.Millisecond)
		}
	}
	rng := rand.New(rand.NewPCG(31, 1))
	crashed := map[string]int{}
	for _, point := range []string{"fetched", "scored", "recorded"} {
		for i := 0; i < cycles; i++ {
			cmd := run(fmt.Sprintf("%s:%d", point, 1+rng.IntN(40)))
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
					crashed[point]++
				} else {
					t.Fatalf("%s: the service exited without crashing: %v", point, err)
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill() // nothing left to reach the point with
				<-exited
			}
			waitGone()
		}
	}
	cmd := run("")
	waitCommitted(t, brokers, "crashpt", 90*time.Second)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	for _, point := range []string{"fetched", "scored", "recorded"} {
		if crashed[point] < cycles/2 {
			t.Errorf("only %d of %d runs crashed at %s", crashed[point], cycles, point)
		}
	}
	t.Logf("crashes: %v", crashed)
	checkLedger(t, rs.Client, l)
}
