package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"lookout/internal/redistest"
	"lookout/triage"
)

// TestBrowserUI runs the volunteer UI's end-to-end tests
// (triage/e2e/ui.test.mjs) in headless Chromium via Playwright, against
// lookout with a real Redis and kfake. Screenshots go to
// triage/e2e/screenshots (or $LOOKOUT_ARTIFACTS).
func TestBrowserUI(t *testing.T) {
	e2e, _ := filepath.Abs(filepath.Join("..", "..", "triage", "e2e"))
	chromium := "/usr/bin/chromium"
	missing := ""
	if _, err := os.Stat(chromium); err != nil {
		missing = "Debian's chromium (apt-get install -y chromium)"
	} else if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	} else if _, err := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core")); err != nil {
		missing = "playwright-core (npm ci in triage/e2e)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("browser tests need %s; make test installs it", missing)
		}
		t.Skipf("browser tests need %s; `make test` installs it", missing)
	}
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()

	const password = "browser-test-password"
	store, err := triage.NewStore(rs.Client, triage.DefaultRouting(), testIDs)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name string
		role triage.Role
	}{{"volunteer", triage.RoleVolunteer}, {"volunteer2", triage.RoleVolunteer}, {"supervisor", triage.RoleSupervisor}, {"moderator", triage.RoleModerator}, {"admin", triage.RoleAdmin}} {
		if err := store.AddUser(context.Background(), "test", u.name, u.role, password); err != nil {
			t.Fatal(err)
		}
	}
	var msgs []kafka.Message
	add := func(id, author, text, url string) {
		v, _ := json.Marshal(map[string]any{"v": 1, "id": id, "author_id": author, "text": text,
			"created_at": time.Now().UTC().Format(time.RFC3339), "url": url, "thread_id": "tree-hole"})
		msgs = append(msgs, kafka.Message{Key: []byte(author), Value: v})
	}
	i := 0
	for _, p := range parseDemoPosts() {
		if p.level >= 6 {
			add(fmt.Sprintf("b%d", i), fmt.Sprintf("author-%d", i), p.text, "https://weibo.example/p/"+fmt.Sprint(i))
			i++
		}
	}
	add("hostile", "author-hostile", "hostile <script>window.__pwned=1</script><img src=x onerror=alert(1)> \u202e今晚就从天台跳下去，永别了\u202c",
		"javascript:alert(1)")
	produce(t, brokers, msgs)

	// Listen on a known free port so the browser knows where to go.
	port := freeTCPPort(t)
	runInProcessWith(t, nil, func(c *serveConfig) {
		c.Brokers, c.RedisURL, c.Group = strings.Join(brokers, ","), rs.URL(), "browser"
		c.Listen = fmt.Sprintf("127.0.0.1:%d", port)
	})
	waitCommitted(t, brokers, "browser", 30*time.Second)

	// The browser tests post as a person whose case is open (the person
	// posts again) through this feed: POST {"author","text"} puts a post on
	// the topic.
	feedWriter := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "posts", Balancer: &kafka.Hash{},
		BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	t.Cleanup(func() { _ = feedWriter.Close() })
	feedSeq := 0
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Author, Text string }
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Author == "" || p.Text == "" {
			http.Error(w, "want {author, text}", http.StatusBadRequest)
			return
		}
		feedSeq++
		v, _ := json.Marshal(map[string]any{"v": 1, "id": fmt.Sprintf("feed-%d", feedSeq), "author_id": p.Author, "text": p.Text,
			"created_at": time.Now().UTC().Format(time.RFC3339), "thread_id": "tree-hole"})
		if err := feedWriter.WriteMessages(r.Context(), kafka.Message{Key: []byte(p.Author), Value: v}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(feed.Close)

	shots := os.Getenv("LOOKOUT_ARTIFACTS")
	if shots == "" {
		shots = filepath.Join(e2e, "screenshots")
	}
	tctx, tcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer tcancel()
	cmd := exec.CommandContext(tctx, "node", "--test", "--test-reporter=spec", "ui.test.mjs")
	cmd.Dir = e2e
	cmd.Env = append(os.Environ(), "LOOKOUT_URL="+fmt.Sprintf("http://127.0.0.1:%d", port),
		"LOOKOUT_PASSWORD="+password, "LOOKOUT_FEED="+feed.URL, "SCREENSHOT_DIR="+shots, "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("playwright:\n%s", out)
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
