// Package redistest starts real redis-server processes for tests, each on
// a free loopback port with its own data directory, and stops them when
// the test ends.
package redistest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process owned by a test.
type Server struct {
	t      testing.TB
	Addr   string
	Dir    string
	args   []string
	cmd    *exec.Cmd
	Client *redis.Client
}

// Start starts redis-server with AOF on (appendfsync always) and
// noeviction, plus extra config arguments such as "--maxmemory-policy",
// "allkeys-lru". Without redis-server on PATH the test is skipped, except
// under CI (CI=true), where it fails: CI must install it.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found; .ci/run must install it (apt-get install -y redis-server)")
		}
		t.Skip("redis-server not found on PATH; install it (apt-get install -y redis-server) or run `make test`")
	}
	port := freePort(t)
	dir := t.TempDir()
	s := &Server{t: t, Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir}
	s.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--maxmemory-policy", "noeviction", "--protected-mode", "no"}, extra...)
	s.args = append([]string{bin}, s.args...)
	s.start()
	s.Client = redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	t.Cleanup(func() {
		s.Client.Close()
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(syscall.SIGCONT)
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
	})
	return s
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			cl := redis.NewClient(&redis.Options{Addr: s.Addr})
			err = cl.Ping(context.Background()).Err()
			cl.Close()
			if err == nil {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("redis-server on %s did not become ready", s.Addr)
}

// Kill sends SIGKILL and waits for the process to exit.
func (s *Server) Kill() {
	s.t.Helper()
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// Restart starts the server again on the same port and data directory
// (so the AOF is replayed).
func (s *Server) Restart() { s.t.Helper(); s.start() }

// Stop freezes the process (SIGSTOP); Continue thaws it.
func (s *Server) Stop() { _ = s.cmd.Process.Signal(syscall.SIGSTOP) }

// Continue resumes a stopped process.
func (s *Server) Continue() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
