package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"lookout/internal/redistest"
	"lookout/triage"
)

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCanariesNeverLeak (S4): canary strings in post text, author ids,
// handles and notes never appear in the logs (at debug level), /metrics,
// or any error body, whatever happens to the posts and requests.
func TestCanariesNeverLeak(t *testing.T) {
	const (
		textCanary   = "CANARYTEXT9f3b"
		authorCanary = "CANARYAUTHOR51c"
		noteCanary   = "CANARYNOTE77d2"
	)
	rs := redistest.Start(t)
	kc := startKafka(t)
	brokers := kc.ListenAddrs()
	var msgs []kafka.Message
	for i, text := range []string{
		"今晚就吃掉攒的安眠药，永别了 " + textCanary,
		"笑死我了 " + textCanary,
		"活着好累 " + textCanary,
	} {
		v, _ := json.Marshal(map[string]any{"v": 1, "id": "canary-" + string(rune('a'+i)), "author_id": authorCanary,
			"text": text, "created_at": time.Now().UTC().Format(time.RFC3339), "url": "https://x/" + authorCanary})
		msgs = append(msgs, kafka.Message{Key: []byte(authorCanary), Value: v})
	}
	// Malformed messages that carry the canaries too.
	msgs = append(msgs,
		kafka.Message{Key: []byte(authorCanary), Value: []byte(`{"id":"x","text":"` + textCanary + `"`)},
		kafka.Message{Key: []byte(authorCanary), Value: []byte(`{"v":7,"id":"y","author_id":"` + authorCanary + `","text":"` + textCanary + `","created_at":"2026-01-01T00:00:00Z"}`)},
		kafka.Message{Key: []byte(authorCanary), Value: []byte(`{"id":"z","author_id":"` + authorCanary + `","text":"` + textCanary + `","created_at":"` + textCanary + `"}`)},
	)
	produce(t, brokers, msgs)

	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	base, store, stop := runInProcessWith(t, log, func(c *serveConfig) {
		c.Brokers, c.RedisURL, c.Group, c.Workers, c.LogLevel = strings.Join(brokers, ","), rs.URL(), "canary", 2, "debug"
	})
	waitCommitted(t, brokers, "canary", 30*time.Second)
	if err := store.AddUser(context.Background(), "test", "vol", triage.RoleVolunteer, "canary-password"); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	call := func(method, path, token string, body any) map[string]any {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			bodies = append(bodies, string(b))
		}
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return out
	}
	login := call("POST", "/api/v1/login", "", map[string]string{"name": "vol", "password": "canary-password"})
	token, _ := login["token"].(string)
	lease := call("POST", "/api/v1/cases/next", token, nil)
	caseID, _ := lease["case_id"].(string)
	if caseID == "" {
		t.Fatalf("no case to claim: %v", lease)
	}
	call("POST", "/api/v1/cases/"+caseID+"/notes", token, map[string]any{"token": lease["token"], "text": "打过电话 " + noteCanary})
	// Requests that fail, each carrying canaries.
	call("POST", "/api/v1/cases/"+caseID+"/notes", token, map[string]any{"token": lease["token"], "text": strings.Repeat(noteCanary, 600)}) // over 8 KiB
	call("POST", "/api/v1/cases/"+caseID+"/resolve", token, map[string]any{"token": lease["token"], "outcome": noteCanary})
	call("POST", "/api/v1/cases/"+caseID+"/resolve", token, map[string]any{"token": lease["token"], "outcome": "other", noteCanary: 1})
	call("POST", "/api/v1/login", "", map[string]string{"name": authorCanary, "password": textCanary})
	call("GET", "/api/v1/cases/"+authorCanary, token, nil)
	call("POST", "/api/v1/cases/"+caseID+"/resolve", token, map[string]any{"token": lease["token"], "outcome": "reached_safe", "note": noteCanary})
	if len(bodies) < 5 {
		t.Fatalf("only %d error bodies: the failing requests did not fail", len(bodies))
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_ = stop()
	for _, canary := range []string{textCanary, authorCanary, noteCanary} {
		if strings.Contains(logs.String(), canary) {
			t.Errorf("logs contain %s", canary)
		}
		if strings.Contains(string(metrics), canary) {
			t.Errorf("/metrics contains %s", canary)
		}
		for _, b := range bodies {
			if strings.Contains(b, canary) {
				t.Errorf("an error body contains %s: %s", canary, b)
			}
		}
	}
	if !strings.Contains(logs.String(), `"component"`) {
		t.Fatal("no logs captured: the test would pass vacuously")
	}
}
