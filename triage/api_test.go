package triage

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type apiEnv struct {
	s      *Store
	srv    *httptest.Server
	tokens map[string]string // role name -> bearer token
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	s, _ := newTestStore(t)
	mux := http.NewServeMux()
	NewAPI(APIOptions{Store: s}).Register(mux)
	srv := httptest.NewServer(http.NewCrossOriginProtection().Handler(mux))
	t.Cleanup(srv.Close)
	e := &apiEnv{s: s, srv: srv, tokens: map[string]string{}}
	for _, u := range []struct {
		name string
		role Role
	}{{"volunteer", RoleVolunteer}, {"volunteer2", RoleVolunteer}, {"supervisor", RoleSupervisor},
		{"moderator", RoleModerator}, {"admin", RoleAdmin}, {"disabled", RoleAdmin}} {
		addUser(t, s, u.name, u.role)
		tok, _, err := s.Login(ctxT(), u.name, "password-"+u.name, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[u.name] = tok
	}
	if _, err := s.DisableUser(ctxT(), "test", "disabled"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *apiEnv) do(t *testing.T, who, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if tok := e.tokens[who]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestAuthorizationMatrix (S1): every route against every role, anonymous
// and a disabled account. The table below must name every route the API
// serves: a new route without an entry fails the test.
func TestAuthorizationMatrix(t *testing.T) {
	e := newAPIEnv(t)
	caseID := seed(t, e.s, "matrix-author", 7)
	want := map[string]string{ // lowest role allowed; "" = anyone
		"POST /api/v1/login":                 "",
		"POST /api/v1/logout":                "volunteer",
		"GET /api/v1/me":                     "volunteer",
		"GET /api/v1/cases":                  "volunteer",
		"POST /api/v1/cases/next":            "volunteer",
		"GET /api/v1/cases/{id}":             "volunteer",
		"POST /api/v1/cases/{id}/claim":      "volunteer",
		"POST /api/v1/cases/{id}/renew":      "volunteer",
		"POST /api/v1/cases/{id}/await":      "volunteer",
		"POST /api/v1/cases/{id}/release":    "volunteer",
		"POST /api/v1/cases/{id}/escalate":   "volunteer",
		"POST /api/v1/cases/{id}/resolve":    "volunteer",
		"POST /api/v1/cases/{id}/notes":      "volunteer",
		"POST /api/v1/cases/{id}/assign":     "supervisor",
		"GET /api/v1/audit":                  "supervisor",
		"GET /api/v1/settings":               "moderator",
		"PUT /api/v1/settings":               "moderator",
		"POST /api/v1/settings/preview":      "moderator",
		"GET /api/v1/settings/history":       "moderator",
		"POST /api/v1/settings/rollback":     "moderator",
		"PUT /api/v1/settings/shadow":        "moderator",
		"DELETE /api/v1/settings/shadow":     "moderator",
		"GET /api/v1/stats/precision":        "moderator",
		"GET /api/v1/export/labels":          "moderator",
		"POST /api/v1/authors/erase":         "admin",
		"GET /api/v1/users":                  "admin",
		"POST /api/v1/users":                 "admin",
		"PATCH /api/v1/users/{name}":         "admin",
		"POST /api/v1/users/{name}/password": "admin",
		"POST /api/v1/me/release-all":        "volunteer",
		"POST /api/v1/me/password":           "volunteer",
	}
	api := NewAPI(APIOptions{Store: e.s})
	seen := map[string]bool{}
	for _, r := range api.Routes() {
		key := r[0] + " " + r[1]
		seen[key] = true
		w, ok := want[key]
		if !ok {
			t.Errorf("route %s is not in the authorization table of this test", key)
			continue
		}
		if r[2] != w {
			t.Errorf("route %s: lowest role %q, table says %q", key, r[2], w)
		}
	}
	for key := range want {
		if !seen[key] {
			t.Errorf("table names %s, which the API does not serve", key)
		}
	}
	callers := []string{"anonymous", "disabled", "volunteer", "supervisor", "moderator", "admin"}
	for key, min := range want {
		if key == "POST /api/v1/logout" {
			continue // ends the caller's session; checked below
		}
		method, pattern, _ := strings.Cut(key, " ")
		path := strings.NewReplacer("{id}", caseID, "{name}", "nobody").Replace(pattern)
		for _, who := range callers {
			code, _ := e.do(t, who, method, path, map[string]any{})
			allowed := min == "" || (who != "anonymous" && who != "disabled" && Role(who).AtLeast(Role(min)))
			switch {
			case allowed && (code == 401 || code == 403):
				t.Errorf("%s as %s: %d, want allowed", key, who, code)
			case !allowed && who == "anonymous" || !allowed && who == "disabled":
				if code != 401 {
					t.Errorf("%s as %s: %d, want 401", key, who, code)
				}
			case !allowed && code != 403:
				t.Errorf("%s as %s: %d, want 403", key, who, code)
			}
		}
	}
	if code, _ := e.do(t, "volunteer2", "POST", "/api/v1/logout", nil); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := e.do(t, "volunteer2", "GET", "/api/v1/me", nil); code != 401 {
		t.Fatalf("session alive after logout: %d", code)
	}
}

// TestVolunteerSeesOnlyWhatTheyHold: a pending case is redacted for every
// volunteer; once claimed, its holder sees the handle and links and other
// volunteers see nothing; every read is audited.
func TestVolunteerSeesOnlyWhatTheyHold(t *testing.T) {
	e := newAPIEnv(t)
	id := seed(t, e.s, "weibo-user-42", 9)
	code, body := e.do(t, "volunteer", "GET", "/api/v1/cases/"+id, nil)
	if code != 200 || body["author"] != nil || body["redacted"] != true {
		t.Fatalf("pending case for a volunteer: %d %v", code, body)
	}
	text := body["timeline"].([]any)[0].(map[string]any)["text"].(string)
	if strings.Contains(text, "@someone") || strings.Contains(text, "http") {
		t.Fatalf("redacted text still has handle or link: %q", text)
	}
	code, lease := e.do(t, "volunteer", "POST", "/api/v1/cases/"+id+"/claim", nil)
	if code != 200 || lease["token"] == "" {
		t.Fatalf("claim: %d %v", code, lease)
	}
	code, body = e.do(t, "volunteer", "GET", "/api/v1/cases/"+id, nil)
	if code != 200 || body["author"] != "weibo-user-42" || body["redacted"] != false {
		t.Fatalf("holder's view: %d %v", code, body)
	}
	if code, body = e.do(t, "volunteer2", "GET", "/api/v1/cases/"+id, nil); code != 403 {
		t.Fatalf("another volunteer reads a held case: %d %v", code, body)
	}
	if code, _ = e.do(t, "supervisor", "GET", "/api/v1/cases/"+id, nil); code != 200 {
		t.Fatalf("supervisor: %d", code)
	}
	// A stale token: 409 with a message; a note and resolve with the real one.
	code, body = e.do(t, "volunteer", "POST", "/api/v1/cases/"+id+"/resolve", map[string]any{"token": "999999", "outcome": "reached_safe"})
	if code != 409 || !strings.Contains(body["error"].(string), "stale") {
		t.Fatalf("stale token: %d %v", code, body)
	}
	if code, body = e.do(t, "volunteer", "POST", "/api/v1/cases/"+id+"/notes", map[string]any{"token": lease["token"], "text": "联系上了"}); code != 201 {
		t.Fatalf("note: %d %v", code, body)
	}
	if code, body = e.do(t, "volunteer", "POST", "/api/v1/cases/"+id+"/resolve", map[string]any{"token": lease["token"], "outcome": "nope"}); code != 400 || !strings.Contains(body["error"].(string), "outcome") {
		t.Fatalf("bad outcome: %d %v", code, body)
	}
	if code, body = e.do(t, "volunteer", "POST", "/api/v1/cases/"+id+"/resolve", map[string]any{"token": lease["token"], "outcome": "reached_referred"}); code != 200 {
		t.Fatalf("resolve: %d %v", code, body)
	}
	code, body = e.do(t, "supervisor", "GET", "/api/v1/audit?case="+id, nil)
	if code != 200 {
		t.Fatal(code)
	}
	actions := map[string]int{}
	for _, ev := range body["events"].([]any) {
		actions[ev.(map[string]any)["action"].(string)]++
	}
	for _, a := range []string{"created", "viewed_redacted", "claimed", "viewed_revealed", "denied", "note_added", "resolved"} {
		if actions[a] == 0 {
			t.Errorf("no %q in the audit log: %v", a, actions)
		}
	}
	if actions["claimed"] != 1 || actions["resolved"] != 1 || actions["note_added"] != 1 {
		t.Errorf("each action must be audited exactly once: %v", actions)
	}
	// Nothing sensitive in the audit log.
	raw, _ := json.Marshal(body)
	if strings.Contains(string(raw), "weibo-user-42") || strings.Contains(string(raw), "联系上了") {
		t.Fatalf("audit log carries content: %s", raw)
	}
}

func TestHTTPGuards(t *testing.T) {
	e := newAPIEnv(t)
	// Cross-site POST (S2).
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/cases/next", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Cookie", sessionCookie+"="+e.tokens["volunteer"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("cross-site POST: %d, want 403", resp.StatusCode)
	}
	// Body limit (S7).
	big := map[string]any{"token": "1", "text": strings.Repeat("长", 40000)}
	if code, body := e.do(t, "volunteer", "POST", "/api/v1/cases/x/notes", big); code != 413 {
		t.Fatalf("100 KB body: %d %v", code, body)
	}
	// Unknown fields and bad JSON are 400 with a message.
	if code, body := e.do(t, "admin", "POST", "/api/v1/users", map[string]any{"nmae": "x"}); code != 400 ||
		!strings.Contains(body["error"].(string), "name, role, password") || strings.Contains(body["error"].(string), "nmae") {
		t.Fatalf("unknown field: %d %v", code, body)
	}
	// Login: cookie attributes, a new token each time, throttling (S2, S7).
	login := func(pw string) *http.Response {
		b, _ := json.Marshal(map[string]string{"name": "volunteer", "password": pw})
		resp, err := http.Post(e.srv.URL+"/api/v1/login", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	r1, r2 := login("password-volunteer"), login("password-volunteer")
	c1, c2 := r1.Cookies(), r2.Cookies()
	if len(c1) != 1 || !c1[0].HttpOnly || !c1[0].Secure || c1[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v", c1)
	}
	if c1[0].Value == c2[0].Value {
		t.Fatal("login did not rotate the session token")
	}
	for i := 0; i < 5; i++ {
		if r := login("wrong"); r.StatusCode != 401 {
			t.Fatalf("bad password: %d", r.StatusCode)
		}
	}
	if r := login("password-volunteer"); r.StatusCode != 429 {
		t.Fatalf("after 5 failures: %d, want 429", r.StatusCode)
	}
	if code, body := e.do(t, "anonymous", "GET", "/api/v1/nothing", nil); code != 404 || body["error"] == nil {
		t.Fatalf("unknown API route: %d %v", code, body)
	}
}

// TestReleaseSaysWhereTheCaseWent: the API's release answers with the
// state the case went back to (it once said "pending" whatever happened):
// the queue, the watch list, or the escalations for a supervisor's.
func TestReleaseSaysWhereTheCaseWent(t *testing.T) {
	e := newAPIEnv(t)
	release := func(who, id string) string {
		t.Helper()
		code, lease := e.do(t, who, "POST", "/api/v1/cases/"+id+"/claim", nil)
		if code != 200 {
			t.Fatalf("%s claims %s: %d %v", who, id, code, lease)
		}
		code, body := e.do(t, who, "POST", "/api/v1/cases/"+id+"/release", map[string]any{"token": lease["token"]})
		if code != 200 {
			t.Fatalf("%s releases %s: %d %v", who, id, code, body)
		}
		state, _ := body["state"].(string)
		if c, err := e.s.peek(ctxT(), id); err != nil || c.State != state {
			t.Fatalf("release said %q, the case is %+v (%v)", state, c.State, err)
		}
		return state
	}
	if got := release("volunteer", seed(t, e.s, "api-queue", 7)); got != "pending" {
		t.Errorf("a queued case went back to %q", got)
	}
	if got := release("volunteer", seed(t, e.s, "api-watch", 5)); got != "watch" {
		t.Errorf("a watch-list case went back to %q", got)
	}
	id := seed(t, e.s, "api-escalated", 9)
	_, lease := e.do(t, "volunteer", "POST", "/api/v1/cases/"+id+"/claim", nil)
	if code, body := e.do(t, "volunteer", "POST", "/api/v1/cases/"+id+"/escalate",
		map[string]any{"token": lease["token"], "reason": "imminent_danger"}); code != 200 {
		t.Fatalf("escalate: %d %v", code, body)
	}
	if got := release("supervisor", id); got != "escalated" {
		t.Errorf("an escalation a supervisor let go went back to %q", got)
	}
}

// TestRenewSaysThePersonPostedAgain: the renewal answers the case's
// level and numbers of posts and notes now, so the holder's page can say
// that the person has posted again, or that someone added a note, since
// it was loaded.
func TestRenewSaysThePersonPostedAgain(t *testing.T) {
	e := newAPIEnv(t)
	id := seed(t, e.s, "posted-again", 7)
	l := claim(t, e.s, "volunteer", RoleVolunteer, id)
	renew := func() map[string]any {
		t.Helper()
		code, body := e.do(t, "volunteer", "POST", "/api/v1/cases/"+id+"/renew", map[string]any{"token": l.Token})
		if code != 200 {
			t.Fatalf("renew: %d %v", code, body)
		}
		return body
	}
	if b := renew(); b["level"] != 7.0 || b["posts"] != 1.0 || b["deadline"] == nil {
		t.Fatalf("first renewal: %v", b)
	}
	if again := seed(t, e.s, "posted-again", 10); again != id {
		t.Fatalf("the new post opened case %s, not joined %s", again, id)
	}
	if b := renew(); b["level"] != 10.0 || b["posts"] != 2.0 || b["notes"] != 0.0 {
		t.Fatalf("after a new post at level 10: %v, want level 10, 2 posts and no note", b)
	}
	// A supervisor notes the case without holding it: the holder's next
	// renewal counts the note.
	if code, body := e.do(t, "supervisor", "POST", "/api/v1/cases/"+id+"/notes", map[string]any{"text": "已联系家人"}); code != 201 {
		t.Fatalf("a supervisor's note: %d %v", code, body)
	}
	code, body := e.do(t, "volunteer2", "POST", "/api/v1/cases/"+id+"/notes", map[string]any{"text": "我来"})
	if msg, _ := body["error"].(string); code != 403 || !strings.HasPrefix(msg, "only a volunteer who has held this case") {
		t.Fatalf("a note by a volunteer who never held the case: %d %v", code, body)
	}
	if b := renew(); b["notes"] != 1.0 {
		t.Fatalf("after a supervisor's note: %v, want 1 note", b)
	}
}

// TestAwaitReplyOverTheAPI: the holder asks to keep the case while
// awaiting the person's reply and gets the lease's new end; a stale
// token is refused.
func TestAwaitReplyOverTheAPI(t *testing.T) {
	e := newAPIEnv(t)
	id := seed(t, e.s, "awaiting-api", 8)
	l := claim(t, e.s, "volunteer", RoleVolunteer, id)
	code, body := e.do(t, "volunteer", "POST", "/api/v1/cases/"+id+"/await", map[string]any{"token": l.Token})
	if code != 200 {
		t.Fatalf("await: %d %v", code, body)
	}
	until, err := time.Parse(time.RFC3339Nano, body["deadline"].(string))
	if err != nil || time.Until(until) < 59*time.Minute {
		t.Fatalf("await: the lease ends %v (%v), want an hour on", body["deadline"], err)
	}
	if code, body = e.do(t, "volunteer", "POST", "/api/v1/cases/"+id+"/await", map[string]any{"token": "999999"}); code != 409 {
		t.Fatalf("await with a stale token: %d %v", code, body)
	}
}

// TestExportLabelsOverTheAPI: a moderator downloads the labeled export:
// the labels alone by default, from a date in the service's zone; the
// posts' text only where the service allows it (403 otherwise), each
// case whose text is read audited as exported by the moderator; bad
// parameters are refused with the field named.
func TestExportLabelsOverTheAPI(t *testing.T) {
	e := newAPIEnv(t)
	id := seedResolved(t, e.s, "export-api", 8)
	get := func(srv *httptest.Server, query string) (*http.Response, string) {
		t.Helper()
		resp, body, err := getExport(srv, e.tokens["moderator"], query)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	resp, body := get(e.srv, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") || strings.Count(body, "\n") != 1 ||
		!strings.Contains(body, `"level":8`) || strings.Contains(body, "我想死") {
		t.Fatalf("the labels alone: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, body = get(e.srv, "?text=true"); resp.StatusCode != 403 || !strings.Contains(body, "--export-text") {
		t.Fatalf("text where the service exports none: %d %s", resp.StatusCode, body)
	}
	for q, field := range map[string]string{"?since=yesterday": "since", "?text=yes": "text"} {
		if resp, body = get(e.srv, q); resp.StatusCode != 400 || !strings.Contains(body, field+": ") {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
	tomorrow := time.Now().In(time.Local).AddDate(0, 0, 1).Format(time.DateOnly)
	if resp, body = get(e.srv, "?since="+tomorrow); resp.StatusCode != 200 || body != "" {
		t.Fatalf("since tomorrow: %d %q", resp.StatusCode, body)
	}
	if n := auditCount(t, e.s, id, 0, isAction("exported")); n != 0 {
		t.Fatalf("an export without text audited %d reads", n)
	}

	mux := http.NewServeMux()
	NewAPI(APIOptions{Store: e.s, ExportText: true}).Register(mux)
	withText := httptest.NewServer(mux)
	t.Cleanup(withText.Close)
	if resp, body = get(withText, "?text=true"); resp.StatusCode != 200 || !strings.Contains(body, "我想死") {
		t.Fatalf("text where the service allows it: %d %q", resp.StatusCode, body)
	}
	events, err := e.s.Audit(ctxT(), id, 0)
	if err != nil || events[len(events)-1].Action != "exported" || events[len(events)-1].Actor != "moderator" {
		t.Fatalf("the case's text read without an audit by the moderator: %+v, %v", events, err)
	}
}

// getExport asks srv for the labeled export as the holder of token.
func getExport(srv *httptest.Server, token, query string) (*http.Response, string, error) {
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/export/labels"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// TestExportOutlastsTheWriteTimeout: the export sets its own write
// deadline, so a server whose write timeout suits pages (here one that
// has always passed) still delivers it whole.
func TestExportOutlastsTheWriteTimeout(t *testing.T) {
	e := newAPIEnv(t)
	seedResolved(t, e.s, "export-slow", 7)
	mux := http.NewServeMux()
	NewAPI(APIOptions{Store: e.s}).Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.WriteTimeout = time.Nanosecond
	srv.Start()
	t.Cleanup(srv.Close)
	resp, body, err := getExport(srv, e.tokens["moderator"], "")
	if err != nil {
		t.Fatalf("the export under a spent write timeout: %v", err)
	}
	if resp.StatusCode != 200 || !strings.Contains(body, `"outcome":"reached_safe"`) {
		t.Fatalf("the export: %d %q", resp.StatusCode, body)
	}
}
