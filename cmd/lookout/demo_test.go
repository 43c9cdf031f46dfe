package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemoCommand runs `lookout demo` as a newcomer does, from the
// repository root with its defaults: the banner names the UI and the
// accounts, posts flow from the embedded broker through the trained model
// into cases a volunteer can list, take and resolve (the scripts run on
// the demo's embedded Redis, whose Lua is not Redis's), and SIGTERM
// stops it.
func TestDemoCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo binary")
	}
	bin := lookoutBinary(t)
	cmd := exec.Command(bin, "demo", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--rate", "50")
	cmd.Dir = filepath.Join("..", "..")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// Read the banner: the base URL and the volunteer's password.
	var base, password string
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	for sc.Scan() && (base == "" || password == "") {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 5 && f[0] == "Web" && f[3] == "API":
			base = strings.TrimSuffix(f[4], "/")
		case len(f) >= 4 && f[0] == "volunteer" && f[2] == "password":
			password = f[3]
		}
	}
	deadline.Stop()
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if base == "" || password == "" {
		t.Fatalf("no banner with the URL and a volunteer account; stderr:\n%s", stderr.String())
	}
	resp, err := http.Post(base+"/api/v1/login", "application/json",
		strings.NewReader(`{"name":"volunteer","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		Token string `json:"token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if login.Token == "" {
		t.Fatalf("login as the demo volunteer: %s", resp.Status)
	}
	// Within a short time the feeder's risky posts are cases at 6 or more.
	var cases struct {
		Cases []struct {
			ID    string `json:"id"`
			Level int    `json:"level"`
		} `json:"cases"`
	}
	end := time.Now().Add(60 * time.Second)
	for len(cases.Cases) == 0 {
		if time.Now().After(end) {
			t.Fatalf("no case at level 6+ after 60 s; stderr:\n%s", stderr.String())
		}
		time.Sleep(500 * time.Millisecond)
		req, _ := http.NewRequestWithContext(context.Background(), "GET", base+"/api/v1/cases?level_min=6", nil)
		req.Header.Set("Authorization", "Bearer "+login.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&cases)
		resp.Body.Close()
	}
	for _, c := range cases.Cases {
		if c.Level < 6 || c.ID == "" {
			t.Fatalf("listed case %+v with level_min=6", c)
		}
	}
	post := func(path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), "POST", base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+login.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := post("/api/v1/cases/next", "")
	var lease struct {
		CaseID string `json:"case_id"`
		Token  string `json:"token"`
	}
	if err := json.Unmarshal(body, &lease); code != http.StatusOK || err != nil || lease.Token == "" {
		t.Fatalf("next case: %d %s", code, body)
	}
	if code, body = post("/api/v1/cases/"+lease.CaseID+"/resolve", `{"token":"`+lease.Token+`","outcome":"reached_safe"}`); code != http.StatusOK {
		t.Fatalf("resolve the demo's case: %d %s", code, body)
	}
	stopWithin(t, cmd, 30*time.Second, stderr)
}
