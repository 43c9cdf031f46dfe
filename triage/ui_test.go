package triage

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMessagesComplete: every key a template names exists, in both
// languages, and no string is empty.
func TestMessagesComplete(t *testing.T) {
	for k, v := range messages {
		if strings.TrimSpace(v[0]) == "" || strings.TrimSpace(v[1]) == "" {
			t.Errorf("message %q lacks a language: %q", k, v)
		}
	}
	re := regexp.MustCompile(`\bt \$?[.\w]+ "([a-z_0-9]+)"`)
	err := fs.WalkDir(templateFS, "web/templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(templateFS, path)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if _, ok := messages[m[1]]; !ok {
				t.Errorf("%s uses message %q, which does not exist", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Keys built from codes: every outcome, reason, state and level.
	for _, c := range OutcomeCodes {
		if _, ok := messages["out_"+c]; !ok {
			t.Errorf("no message for outcome %s", c)
		}
	}
	for _, c := range EscalateReasons {
		if _, ok := messages["esc_"+c]; !ok {
			t.Errorf("no message for reason %s", c)
		}
	}
	for _, st := range []string{"watch", "pending", "claimed", "escalated", "resolved"} {
		if _, ok := messages["state_"+st]; !ok {
			t.Errorf("no message for state %s", st)
		}
	}
	for l := 0; l <= 10; l++ {
		if _, ok := messages["lvl_"+strconv.Itoa(l)]; !ok {
			t.Errorf("no message for level %d", l)
		}
	}
}

// newUIServer serves s's UI (pages, no API) until the test ends.
func newUIServer(t *testing.T, s *Store) (*UI, *httptest.Server) {
	t.Helper()
	ui, err := NewUI(UIOptions{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ui.Register(mux)
	srv := httptest.NewServer(http.NewCrossOriginProtection().Handler(mux))
	t.Cleanup(srv.Close)
	return ui, srv
}

// TestUIAccess: the UI's pages by role; anonymous GETs go to the login
// page, anonymous POSTs are refused, and every page has the CSP.
func TestUIAccess(t *testing.T) {
	e := newAPIEnv(t)
	ui, srv := newUIServer(t, e.s)
	caseID := seed(t, e.s, "ui-author", 8)
	want := map[string]string{
		"GET /login": "", "POST /login": "", "POST /lang": "", "POST /logout": "volunteer",
		"GET /{$}": "volunteer", "GET /queue/rows": "volunteer", "POST /next": "volunteer",
		"GET /cases/{id}": "volunteer", "POST /cases/{id}/claim": "volunteer", "POST /cases/{id}/release": "volunteer",
		"POST /cases/{id}/escalate": "volunteer", "POST /cases/{id}/resolve": "volunteer", "POST /cases/{id}/notes": "volunteer",
		"POST /cases/{id}/reassign": "supervisor", "POST /cases/{id}/assign": "supervisor", "GET /mine": "volunteer", "GET /supervisor": "supervisor", "GET /supervisor/rows": "supervisor",
		"GET /moderator": "moderator", "POST /moderator/preview": "moderator", "POST /moderator/settings": "moderator",
		"POST /moderator/shadow": "moderator", "POST /moderator/stop-shadow": "moderator", "POST /moderator/rollback": "moderator",
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, r := range ui.Routes() {
		key := r[0] + " " + r[1]
		min, ok := want[key]
		if !ok {
			t.Errorf("UI route %s is not in this test's table", key)
			continue
		}
		if r[2] != min {
			t.Errorf("UI route %s: lowest role %q, table says %q", key, r[2], min)
		}
		if key == "POST /logout" {
			continue
		}
		path := strings.ReplaceAll(strings.ReplaceAll(r[1], "{id}", caseID), "{$}", "")
		for _, who := range []string{"anonymous", "volunteer", "supervisor"} {
			req, _ := http.NewRequest(r[0], srv.URL+path, strings.NewReader(url.Values{"next": {"/"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tok := e.tokens[who]; tok != "" {
				req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			allowed := min == "" || (who != "anonymous" && Role(who).AtLeast(Role(min)))
			switch {
			case !allowed && who == "anonymous" && r[0] == "GET" && !strings.HasSuffix(r[1], "/rows"):
				if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
					t.Errorf("%s anonymous: %d %s, want a redirect to /login", key, resp.StatusCode, resp.Header.Get("Location"))
				}
			case !allowed && who == "anonymous":
				if resp.StatusCode != 401 {
					t.Errorf("%s anonymous: %d, want 401", key, resp.StatusCode)
				}
			case !allowed:
				if resp.StatusCode != 403 {
					t.Errorf("%s as %s: %d, want 403", key, who, resp.StatusCode)
				}
			default:
				if resp.StatusCode == 401 || resp.StatusCode == 403 {
					t.Errorf("%s as %s: %d, want allowed", key, who, resp.StatusCode)
				}
			}
			if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("%s: no strict CSP", key)
			}
		}
	}
	// The login page's next parameter never leaves the site.
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil"} {
		if got := safeNext(next); got != "/" {
			t.Errorf("safeNext(%q) = %q", next, got)
		}
	}
}

// TestCasePageListsActivity: the case page lists who did what to the case
// (created, claimed, escalated with its reason, a new post's level),
// newest first, and not who read it.
func TestCasePageListsActivity(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	id := seed(t, e.s, "activity-author", 7)
	lease, err := e.s.Claim(ctxT(), "volunteer", RoleVolunteer, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.Escalate(ctxT(), "volunteer", id, lease.Token, "imminent_danger"); err != nil {
		t.Fatal(err)
	}
	if again := seed(t, e.s, "activity-author", 9); again != id {
		t.Fatalf("the second post opened case %s, not %s", again, id)
	}
	get := func(lang string) string {
		req, _ := http.NewRequest("GET", srv.URL+"/cases/"+id, nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.tokens["supervisor"]})
		if lang != "" {
			req.AddCookie(&http.Cookie{Name: "lookout_lang", Value: lang})
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("case page: %d", resp.StatusCode)
		}
		_, list, ok := strings.Cut(string(b), `<ol class="activity">`)
		if !ok {
			t.Fatal("no activity list on the case page")
		}
		list, _, _ = strings.Cut(list, "</ol>")
		return list
	}
	zh := get("")
	steps := []string{"新帖子", "升级 · 生命危险迫在眉睫", "领取", "创建 · 等级 7"}
	last := -1
	for _, s := range steps {
		i := strings.Index(zh, s)
		if i < 0 {
			t.Fatalf("activity lacks %q:\n%s", s, zh)
		}
		if i < last {
			t.Errorf("%q out of order (newest first):\n%s", s, zh)
		}
		last = i
	}
	if !strings.Contains(zh, "新帖子 · 等级 9") {
		t.Errorf("the new post's level is not shown:\n%s", zh)
	}
	if strings.Count(zh, "volunteer") != 2 || strings.Count(zh, "系统") != 2 {
		t.Errorf("actors: want volunteer twice and the system twice:\n%s", zh)
	}
	if strings.Contains(zh, "查看") || strings.Contains(zh, "token") {
		t.Errorf("reads or tokens listed:\n%s", zh)
	}
	if en := get("en"); !strings.Contains(en, "escalated · Life in imminent danger") || !strings.Contains(en, "system") {
		t.Errorf("English activity:\n%s", en)
	}
}

// TestSupervisorSeesOverdueWatchReviews: a watch-list case past its 24 h
// review target is on the supervisors' overdue list, as overdue queue
// cases are; one within its target is not.
func TestSupervisorSeesOverdueWatchReviews(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	late := seed(t, e.s, "watch-late", 5)
	fresh := seed(t, e.s, "watch-fresh", 5)
	e.s.rdb.HSet(ctxT(), keyCase(late), "pending_ms", time.Now().Add(-25*time.Hour).UnixMilli())
	req, _ := http.NewRequest("GET", srv.URL+"/supervisor/rows", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.tokens["supervisor"]})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	rows := string(b)
	if !strings.Contains(rows, `<tr class="overdue"><td><span class="level lv-watch">5</span></td><td><a href="/cases/`+late) {
		t.Fatalf("the overdue watch case is not on the overdue list:\n%s", rows)
	}
	if strings.Contains(rows, fresh) {
		t.Fatalf("a watch case within its target is listed:\n%s", rows)
	}
}

// TestSupervisorAssigns: the supervisors' page offers the active accounts
// to hand a held case to; handing it on redirects with the outcome in
// words, and the case's activity says to whom.
func TestSupervisorAssigns(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	id := seed(t, e.s, "assign-ui", 8)
	if _, err := e.s.Claim(ctxT(), "volunteer", RoleVolunteer, id); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values) (*http.Response, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.tokens["supervisor"]})
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	_, rows := do("GET", "/supervisor/rows", nil)
	if !strings.Contains(rows, `action="/cases/`+id+`/assign"`) || !strings.Contains(rows, "<option>volunteer2</option>") || strings.Contains(rows, "<option>disabled</option>") {
		t.Fatalf("no assign form with the active accounts:\n%s", rows)
	}
	resp, _ := do("POST", "/cases/"+id+"/assign", url.Values{"to": {"volunteer2"}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/supervisor?msg=msg_assigned" {
		t.Fatalf("assign: %d %s", resp.StatusCode, loc)
	}
	if c, _ := e.s.peek(ctxT(), id); c.Owner != "volunteer2" {
		t.Fatalf("owner after the hand-over: %q", c.Owner)
	}
	_, page := do("GET", "/cases/"+id, nil)
	if !strings.Contains(page, "supervisor</span> 指派 → volunteer2") {
		t.Fatalf("the activity does not say to whom:\n%s", page)
	}
	resp, _ = do("POST", "/cases/"+id+"/assign", url.Values{"to": {"nobody"}})
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "msg=msg_invalid") || !strings.Contains(loc, "field=to") {
		t.Fatalf("assign to nobody: %s", loc)
	}
}

// TestSupervisorReleasesAnEscalation: a supervisor who took an escalated
// case and lets it go through the case page is told that it went back to
// the escalations, and the case's activity says so.
func TestSupervisorReleasesAnEscalation(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	id := seed(t, e.s, "release-escalated-ui", 9)
	l, err := e.s.Claim(ctxT(), "volunteer", RoleVolunteer, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.Escalate(ctxT(), "volunteer", id, l.Token, "beyond_my_training"); err != nil {
		t.Fatal(err)
	}
	if l, err = e.s.Claim(ctxT(), "supervisor", RoleSupervisor, id); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values) (*http.Response, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.tokens["supervisor"]})
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, _ := do("POST", "/cases/"+id+"/release", url.Values{"token": {l.Token}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 303 || loc != "/?msg=msg_released_escalated" {
		t.Fatalf("release: %d %s", resp.StatusCode, loc)
	}
	if _, page := do("GET", loc, nil); !strings.Contains(page, `class="flash ok" role="status">已放回督导的升级列表。`) {
		t.Fatalf("no word of where the case went:\n%s", page)
	}
	if _, page := do("GET", "/cases/"+id, nil); !strings.Contains(page, "supervisor</span> 放回 · 回到升级列表") {
		t.Fatalf("the activity does not say where the case went:\n%s", page)
	}
}

// TestRefreshedListsAuditedOncePerWindow: a page's own load is always
// audited as a read of the list; the refreshes that follow every 10 s are
// audited once a window (listedWindow), not each time, so that a tab left
// open all night does not fill the never-trimmed log. A refresh after the
// window is audited again.
func TestRefreshedListsAuditedOncePerWindow(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	seed(t, e.s, "listed-author", 7)
	get := func(who, path string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: e.tokens[who]})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	listed := func(who, detail string) int {
		return auditCount(t, e.s, "", 10000, func(ev AuditEvent) bool {
			return ev.Action == "listed" && ev.Actor == who && ev.Detail == detail
		})
	}
	for _, c := range []struct{ who, page, rows, detail string }{
		{"volunteer", "/", "/queue/rows?state=pending&level_min=0", "state=pending"},
		{"supervisor", "/supervisor", "/supervisor/rows", "supervisor"},
	} {
		get(c.who, c.page)
		for i := 0; i < 5; i++ {
			get(c.who, c.rows)
		}
		if n := listed(c.who, c.detail); n != 1 {
			t.Fatalf("%s: a page and five refreshes audited %d times, want once", c.page, n)
		}
		get(c.who, c.page)                                    // a page load is always audited
		e.s.rdb.Del(ctxT(), tag+"listed:"+c.who+":"+c.detail) // the window has passed
		get(c.who, c.rows)
		get(c.who, c.rows)
		if n := listed(c.who, c.detail); n != 3 {
			t.Fatalf("%s: after the window, %d entries, want 3", c.page, n)
		}
	}
}
