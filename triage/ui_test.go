package triage

import (
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
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
	return newUIServerWith(t, UIOptions{Store: s})
}

// newUIServerWith is newUIServer with options (a zone, the export's text).
func newUIServerWith(t *testing.T, o UIOptions) (*UI, *httptest.Server) {
	t.Helper()
	ui, err := NewUI(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ui.Register(mux)
	srv := httptest.NewServer(http.NewCrossOriginProtection().Handler(mux))
	t.Cleanup(srv.Close)
	return ui, srv
}

// uiDo sends a form request to the UI with a session token, without
// following redirects (tests read where the UI sends the browser), and
// returns the response and its body.
func uiDo(t testing.TB, srv *httptest.Server, token, method, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
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
		"POST /cases/{id}/escalate": "volunteer", "POST /cases/{id}/resolve": "volunteer", "POST /cases/{id}/notes": "volunteer", "POST /cases/{id}/await": "volunteer",
		"POST /cases/{id}/reassign": "supervisor", "POST /cases/{id}/assign": "supervisor", "GET /mine": "volunteer", "GET /supervisor": "supervisor", "GET /supervisor/rows": "supervisor",
		"GET /moderator": "moderator", "POST /moderator/preview": "moderator", "POST /moderator/settings": "moderator",
		"POST /moderator/shadow": "moderator", "POST /moderator/stop-shadow": "moderator", "POST /moderator/rollback": "moderator",
		"POST /mine/release-all": "volunteer", "GET /audit": "supervisor", "GET /account": "volunteer", "POST /account/password": "volunteer",
		"GET /admin/users": "admin", "POST /admin/users": "admin", "POST /admin/users/{name}/role": "admin",
		"POST /admin/users/{name}/disable": "admin", "POST /admin/users/{name}/enable": "admin",
		"POST /admin/users/{name}/password": "admin",
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
		path := strings.NewReplacer("{id}", caseID, "{$}", "", "{name}", "volunteer2").Replace(r[1])
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
	lease := claim(t, e.s, "volunteer", RoleVolunteer, id)
	if err := e.s.Escalate(ctxT(), "volunteer", id, lease.Token, "imminent_danger", ""); err != nil {
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
	claim(t, e.s, "volunteer", RoleVolunteer, id)
	do := func(method, path string, form url.Values) (*http.Response, string) {
		return uiDo(t, srv, e.tokens["supervisor"], method, path, form)
	}
	_, rows := do("GET", "/supervisor/rows", nil)
	if !strings.Contains(rows, `action="/cases/`+id+`/assign"`) || !strings.Contains(rows, `<option value="volunteer2">volunteer2`) || strings.Contains(rows, `value="disabled"`) {
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
	l := claim(t, e.s, "volunteer", RoleVolunteer, id)
	if err := e.s.Escalate(ctxT(), "volunteer", id, l.Token, "beyond_my_training", ""); err != nil {
		t.Fatal(err)
	}
	l = claim(t, e.s, "supervisor", RoleSupervisor, id)
	do := func(method, path string, form url.Values) (*http.Response, string) {
		return uiDo(t, srv, e.tokens["supervisor"], method, path, form)
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

// TestAccountPages: a volunteer changes their password on their account
// page (a mismatch or a wrong current password changes nothing; a change
// ends the old session and sets a new cookie); an admin adds an account
// and resets a password, each shown once in the page and never in a URL,
// changes a role, disables an account holding a case (the case goes back
// at once, and the page says how many), enables it again, and cannot
// disable the last admin.
func TestAccountPages(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	do := func(token, method, path string, form url.Values) (*http.Response, string) {
		return uiDo(t, srv, token, method, path, form)
	}
	vol := e.tokens["volunteer"]
	if _, page := do(vol, "GET", "/account", nil); !strings.Contains(page, `action="/account/password"`) || !strings.Contains(page, `href="/account"`) {
		t.Fatalf("no password form or account link:\n%s", page)
	}
	for _, c := range []struct {
		form url.Values
		msg  string
	}{
		{url.Values{"current": {"password-volunteer"}, "new": {"a-new-password-1"}, "again": {"a-new-password-2"}}, "msg_password_mismatch"},
		{url.Values{"current": {"not-my-password"}, "new": {"a-new-password-1"}, "again": {"a-new-password-1"}}, "msg_password_wrong"},
		{url.Values{"current": {"password-volunteer"}, "new": {"short"}, "again": {"short"}}, "msg_invalid&field=new"},
	} {
		if resp, _ := do(vol, "POST", "/account/password", c.form); resp.Header.Get("Location") != "/account?msg="+c.msg {
			t.Errorf("%v: went to %q, want the message %s", c.form, resp.Header.Get("Location"), c.msg)
		}
	}
	resp, _ := do(vol, "POST", "/account/password", url.Values{"current": {"password-volunteer"}, "new": {"a-new-password-1"}, "again": {"a-new-password-1"}})
	var fresh string
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.HttpOnly && c.SameSite == http.SameSiteStrictMode {
			fresh = c.Value
		}
	}
	if resp.Header.Get("Location") != "/account?msg=msg_password_changed" || fresh == "" || fresh == vol {
		t.Fatalf("the change: %s, new cookie %q", resp.Header.Get("Location"), fresh)
	}
	if resp, _ := do(vol, "GET", "/account", nil); resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("the old session after a change: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := do(fresh, "GET", "/account", nil); resp.StatusCode != 200 {
		t.Fatalf("the new session: %d", resp.StatusCode)
	}

	admin := e.tokens["admin"]
	secret := regexp.MustCompile(`<code class="secret">([^<]+)</code>`)
	resp, page := do(admin, "POST", "/admin/users", url.Values{"name": {"night.owl"}, "role": {"supervisor"}})
	m := secret.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("add: %d, Cache-Control %q, no password shown:\n%s", resp.StatusCode, resp.Header.Get("Cache-Control"), page)
	}
	if _, u, err := e.s.Login(ctxT(), "night.owl", html.UnescapeString(m[1]), "10.1.1.1"); err != nil || u.Role != RoleSupervisor {
		t.Fatalf("the shown password: %+v %v", u, err)
	}
	if resp, _ := do(admin, "POST", "/admin/users", url.Values{"name": {"night.owl"}, "role": {"volunteer"}}); resp.Header.Get("Location") != "/admin/users?msg=msg_user_exists" {
		t.Fatalf("added twice: %s", resp.Header.Get("Location"))
	}
	if resp, _ := do(admin, "POST", "/admin/users/night.owl/role", url.Values{"role": {"moderator"}}); resp.Header.Get("Location") != "/admin/users?msg=msg_user_role_set" {
		t.Fatalf("role: %s", resp.Header.Get("Location"))
	}
	id := seed(t, e.s, "held-by-night-owl", 9)
	claim(t, e.s, "night.owl", RoleModerator, id)
	_, page = do(admin, "GET", "/admin/users", nil)
	if !strings.Contains(page, `<option value="moderator" selected>`) || !strings.Contains(page, `action="/admin/users/night.owl/disable"`) {
		t.Fatalf("the list does not show the new role or the disable button:\n%s", page)
	}
	if !strings.Contains(page, `<b class="holder">night.owl</b> · 启用 · 手上个案 1`) {
		t.Fatalf("the list does not count the case night.owl holds:\n%s", page)
	}
	if resp, _ := do(admin, "POST", "/admin/users/night.owl/disable", nil); resp.Header.Get("Location") != "/admin/users?msg=msg_user_disabled&field=1" {
		t.Fatalf("disable: %s", resp.Header.Get("Location"))
	}
	if c, _ := e.s.peek(ctxT(), id); c.State != "pending" || c.Owner != "" {
		t.Fatalf("the disabled account's case: %s held by %q", c.State, c.Owner)
	}
	if resp, _ := do(admin, "POST", "/admin/users/night.owl/enable", nil); resp.Header.Get("Location") != "/admin/users?msg=msg_user_enabled" {
		t.Fatalf("enable: %s", resp.Header.Get("Location"))
	}
	_, page = do(admin, "POST", "/admin/users/night.owl/password", nil)
	if m = secret.FindStringSubmatch(page); m == nil {
		t.Fatalf("reset: no password shown:\n%s", page)
	}
	if _, _, err := e.s.Login(ctxT(), "night.owl", html.UnescapeString(m[1]), "10.1.1.1"); err != nil {
		t.Fatalf("the reset password: %v", err)
	}
	if resp, _ := do(admin, "POST", "/admin/users/admin/disable", nil); resp.Header.Get("Location") != "/admin/users?msg=msg_last_admin" {
		t.Fatalf("disabling the last admin: %s", resp.Header.Get("Location"))
	}
	if resp, _ := do(admin, "POST", "/admin/users/nobody/enable", nil); resp.Header.Get("Location") != "/admin/users?msg=msg_no_user" {
		t.Fatalf("an unknown account: %s", resp.Header.Get("Location"))
	}
}

// TestNoResponseCountsTries: "no response after N tries" records N. The
// resolve form refuses no_response without the number of tries, naming
// the field, and the case's activity shows it once resolved; the outcome
// record carries it.
func TestNoResponseCountsTries(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	id := seed(t, e.s, "tries-author", 7)
	l := claim(t, e.s, "volunteer", RoleVolunteer, id)
	do := func(who, method, path string, form url.Values) (*http.Response, string) {
		return uiDo(t, srv, e.tokens[who], method, path, form)
	}
	if _, page := do("volunteer", "GET", "/cases/"+id, nil); !strings.Contains(page, `name="tries"`) {
		t.Fatalf("no tries field in the resolve form:\n%s", page)
	}
	for _, tries := range []string{"", "0", "lots"} {
		resp, _ := do("volunteer", "POST", "/cases/"+id+"/resolve", url.Values{"token": {l.Token}, "outcome": {"no_response"}, "tries": {tries}})
		if loc := resp.Header.Get("Location"); loc != "/cases/"+id+"?msg=msg_invalid&field=tries" {
			t.Fatalf("no_response with tries %q: went to %s", tries, loc)
		}
	}
	resp, _ := do("volunteer", "POST", "/cases/"+id+"/resolve", url.Values{"token": {l.Token}, "outcome": {"no_response"}, "tries": {"3"}})
	if loc := resp.Header.Get("Location"); loc != "/?msg=msg_resolved" {
		t.Fatalf("no_response after 3 tries: went to %s", loc)
	}
	if _, page := do("supervisor", "GET", "/cases/"+id, nil); !strings.Contains(page, "结案 · 多次尝试无回应 · 尝试联系次数 3") {
		t.Fatalf("the activity does not show the tries:\n%s", page)
	}
	if c, _ := e.s.peek(ctxT(), id); c.Tries == nil || *c.Tries != 3 {
		t.Fatalf("the case records tries %v", c.Tries)
	}
	out, err := e.s.rdb.XRange(ctxT(), keyOutcomes, "-", "+").Result()
	if err != nil || len(out) != 1 || out[0].Values["tries"] != "3" {
		t.Fatalf("the outcome record: %v %v", out, err)
	}
}

// TestAuditPage: supervisors read the audit log on a page, filtered by
// who and what, newest first, 200 a page with a link to older ones; the
// actions are named in words; a bad filter says so.
func TestAuditPage(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	id := seed(t, e.s, "audit-page", 8)
	claim(t, e.s, "volunteer", RoleVolunteer, id)
	for i := 0; i < 250; i++ {
		if err := e.s.auditEvent(ctxT(), "", "volunteer2", "login", ""); err != nil {
			t.Fatal(err)
		}
	}
	get := func(who, path string) (*http.Response, string) {
		return uiDo(t, srv, e.tokens[who], "GET", path, nil)
	}
	_, page := get("supervisor", "/audit?actor=volunteer&action=claimed")
	if !strings.Contains(page, `<td>领取</td><td><a href="/cases/`+id+`">`) || strings.Count(page, "<tr><td>") != 1 {
		t.Fatalf("the volunteer's claim, in words, alone:\n%s", page)
	}
	_, page = get("supervisor", "/audit?actor=volunteer2")
	older := regexp.MustCompile(`<a href="(/audit\?[^"]+)">更早的记录`).FindStringSubmatch(page)
	if strings.Count(page, "<tr><td>") != 200 || older == nil {
		t.Fatalf("a first page of 200 with a link to older ones: %d rows, link %v", strings.Count(page, "<tr><td>"), older)
	}
	_, page = get("supervisor", html.UnescapeString(older[1]))
	if n := strings.Count(page, "<tr><td>"); n != 51 || strings.Contains(page, "更早的记录") {
		t.Fatalf("the second page: %d rows, want the other 51 (with the login at setup) and no link", n)
	}
	if resp, _ := get("supervisor", "/audit?case=no-such-case"); resp.Header.Get("Location") != "/audit?msg=msg_not_found" {
		t.Fatalf("an unknown case: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get("supervisor", "/audit?before=yesterday"); resp.Header.Get("Location") != "/audit?msg=msg_invalid&field=before" {
		t.Fatalf("a bad cursor: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get("volunteer", "/audit"); resp.StatusCode != 403 {
		t.Fatalf("a volunteer: %d", resp.StatusCode)
	}
}

// TestAuditFilterNamesEveryAction: every action the scripts and the store
// write to the audit log by name can be picked in the audit page's filter
// and has words in both languages (the page shows act_<action>), so that
// a new kind of event is not one supervisors cannot search for. The
// actions are read from the sources: the scripts' audit calls and the
// Go calls that name their action.
func TestAuditFilterNamesEveryAction(t *testing.T) {
	listed := map[string]bool{}
	for _, a := range auditActions {
		listed[a] = true
	}
	patterns := map[string]*regexp.Regexp{
		"lua/*.lua": regexp.MustCompile(`audit\(now, [^,]+, [^,]+, '([a-z_]+)'`),
		"*.go":      regexp.MustCompile(`(?:auditEvent\([^,]+, [^,]+, [^,]+|auditIn\([^,]+, [^,]+, [^,]+, [^,]+|audit\.Run\(.*tag, [^,]+, [^,]+), "([a-z_]+)"`),
	}
	found := map[string]bool{}
	for glob, re := range patterns {
		files, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				found[m[1]] = true
				if !listed[m[1]] {
					t.Errorf("%s audits %q, which the audit page's filter does not offer", f, m[1])
				}
			}
		}
	}
	if len(found) < 25 { // the patterns still read the sources
		t.Fatalf("found %d audited actions in the sources, want at least 25: %v", len(found), found)
	}
	for _, a := range auditActions {
		if m, ok := messages["act_"+a]; !ok || m[0] == "" || m[1] == "" {
			t.Errorf("action %q has no words in both languages (act_%s)", a, a)
		}
	}
}

// TestSupervisorSeesWhoIsOnDuty: the supervisors' page lists who has been
// active in the last 15 minutes with the cases each holds (and how many
// of them are emergencies), and the hand-over lists put them first; an
// account's last request is recorded at most once a minute.
func TestSupervisorSeesWhoIsOnDuty(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	get := func(who, path string) string {
		_, page := uiDo(t, srv, e.tokens[who], "GET", path, nil)
		return page
	}
	get("volunteer2", "/") // on duty
	for _, level := range []int{9, 7} {
		claim(t, e.s, "volunteer2", RoleVolunteer, seed(t, e.s, fmt.Sprintf("duty-%d", level), level))
	}
	seen := func(who string) string { return e.s.rdb.HGet(ctxT(), keyUser(who), "seen_ms").Val() }
	first := seen("volunteer2")
	get("volunteer2", "/")
	if first == "" || seen("volunteer2") != first {
		t.Fatalf("last seen %q, then %q: want one write a minute", first, seen("volunteer2"))
	}
	// volunteer was last active 20 minutes ago, and left the queue and a
	// case open: their refreshes and renewals are not requests by hand.
	long := strconv.FormatInt(time.Now().Add(-20*time.Minute).UnixMilli(), 10)
	e.s.rdb.HSet(ctxT(), keyUser("volunteer"), "seen_ms", long)
	get("volunteer", "/queue/rows")
	open := seed(t, e.s, "duty-open", 6)
	l := claim(t, e.s, "volunteer", RoleVolunteer, open)
	if code, body := e.do(t, "volunteer", "POST", "/api/v1/cases/"+open+"/renew", map[string]any{"token": l.Token}); code != 200 {
		t.Fatalf("renew: %d %v", code, body)
	}
	if seen("volunteer") != long {
		t.Fatalf("a refresh or a renewal counted as a request by hand: last seen %s, want %s", seen("volunteer"), long)
	}
	page := get("supervisor", "/supervisor")
	_, duty, _ := strings.Cut(page, `id="on-duty"`)
	duty, _, _ = strings.Cut(duty, "</section>")
	if !strings.Contains(duty, `<td class="holder">volunteer2</td><td>志愿者</td><td class="num">2 (其中紧急 1)</td>`) ||
		!strings.Contains(duty, `<td class="holder">supervisor</td>`) || strings.Contains(duty, `>volunteer<`) {
		t.Fatalf("on duty: want volunteer2 with 2 cases (1 emergency) and the supervisor, not volunteer:\n%s", duty)
	}
	_, options, _ := strings.Cut(page, `<select name="to"`)
	options, _, _ = strings.Cut(options, "</select>")
	if i, j := strings.Index(options, `value="volunteer2">volunteer2 · 在岗 · 持有 2`), strings.Index(options, `value="volunteer">volunteer · 持有 1`); i < 0 || j < 0 || i > j {
		t.Fatalf("the hand-over list does not put who is on duty first:\n%s", options)
	}
}

// TestNotificationHooks: the rows that raise a notification are marked
// (emergency-level cases in the queue; escalations and emergencies for
// supervisors) and carry no text; the pages offer the switch; the service
// worker is served at the root, to anyone, as a script.
func TestNotificationHooks(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	urgent, other := seed(t, e.s, "notify-9", 9), seed(t, e.s, "notify-7", 7)
	_, rows := uiDo(t, srv, e.tokens["volunteer"], "GET", "/queue/rows?state=pending&level_min=0", nil)
	if !strings.Contains(rows, `data-alert="`+urgent+`"`) || strings.Contains(rows, `data-alert="`+other+`"`) {
		t.Fatalf("want the level 9 row marked and the level 7 row not:\n%s", rows)
	}
	l := claim(t, e.s, "volunteer", RoleVolunteer, other)
	if err := e.s.Escalate(ctxT(), "volunteer", other, l.Token, "needs_handover", ""); err != nil {
		t.Fatal(err)
	}
	_, page := uiDo(t, srv, e.tokens["supervisor"], "GET", "/supervisor", nil)
	for _, id := range []string{urgent, other} {
		if !strings.Contains(page, `data-alert="`+id+`"`) {
			t.Errorf("the supervisors' page does not mark %s", id)
		}
	}
	for _, p := range []string{"/", "/supervisor"} {
		who := map[string]string{"/": "volunteer", "/supervisor": "supervisor"}[p]
		if _, page := uiDo(t, srv, e.tokens[who], "GET", p, nil); !strings.Contains(page, `id="notify"`) || !strings.Contains(page, `data-body="等待中的紧急或升级个案：%d`) {
			t.Errorf("%s: no notification switch", p)
		}
	}
	resp, js := uiDo(t, srv, "", "GET", "/sw.js", nil)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") || !strings.Contains(js, "notificationclick") {
		t.Fatalf("/sw.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestInstallableOnAPhone: every page links a web app manifest (an
// iPhone shows a web page's notifications only once it is added to the
// home screen) that the page's policy lets load, and the manifest's
// start page and icons are served, public as the static files are.
func TestInstallableOnAPhone(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	for _, who := range []string{"", "volunteer"} {
		path := map[string]string{"": "/login", "volunteer": "/"}[who]
		resp, page := uiDo(t, srv, e.tokens[who], "GET", path, nil)
		if !strings.Contains(page, `<link rel="manifest" href="/static/manifest.json">`) || !strings.Contains(page, `rel="apple-touch-icon"`) {
			t.Fatalf("%s links no manifest or home-screen icon", path)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "manifest-src 'self'") {
			t.Fatalf("%s: the policy %q blocks the manifest", path, csp)
		}
	}
	resp, body := uiDo(t, srv, "", "GET", "/static/manifest.json", nil)
	var m struct {
		ShortName string `json:"short_name"`
		StartURL  string `json:"start_url"`
		Display   string `json:"display"`
		Icons     []struct {
			Src, Sizes, Type string
		} `json:"icons"`
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &m) != nil {
		t.Fatalf("the manifest: %d %s", resp.StatusCode, body)
	}
	if m.ShortName != "守望" || m.StartURL != "/" || m.Display != "standalone" || len(m.Icons) < 2 {
		t.Fatalf("the manifest names %+v", m)
	}
	for _, ic := range m.Icons {
		resp, img := uiDo(t, srv, "", "GET", ic.Src, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ic.Type || len(img) < 100 {
			t.Errorf("icon %s: %d %s, %d bytes; want %s", ic.Src, resp.StatusCode, resp.Header.Get("Content-Type"), len(img), ic.Type)
		}
		if w, h, ok := strings.Cut(ic.Sizes, "x"); ok && ic.Type == "image/png" {
			cfg, err := png.DecodeConfig(strings.NewReader(img))
			if err != nil || strconv.Itoa(cfg.Width) != w || strconv.Itoa(cfg.Height) != h {
				t.Errorf("icon %s is %dx%d (%v), the manifest says %s", ic.Src, cfg.Width, cfg.Height, err, ic.Sizes)
			}
		}
	}
}

// TestReleaseAll: at the end of a shift a volunteer lets go of every case
// at once, each back where it waited; a case that went to someone else
// meanwhile is left with them; the page says how many went back.
func TestReleaseAll(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	queued, watch, other := seed(t, e.s, "shift-1", 8), seed(t, e.s, "shift-2", 5), seed(t, e.s, "shift-3", 7)
	tokens := map[string]string{}
	for _, id := range []string{queued, watch} {
		l := claim(t, e.s, "volunteer", RoleVolunteer, id)
		tokens[id] = l.Token
	}
	claim(t, e.s, "volunteer2", RoleVolunteer, other)
	e.s.rdb.SAdd(ctxT(), keyHeld("volunteer"), other) // a stale entry: volunteer2 holds it
	_, page := uiDo(t, srv, e.tokens["volunteer"], "GET", "/mine", nil)
	if !strings.Contains(page, `action="/mine/release-all"`) {
		t.Fatalf("no end-of-shift button:\n%s", page)
	}
	// The page keeps the leases of the cases listed: each row carries its
	// case and token; the stale entry is not listed.
	for id, token := range tokens {
		if !strings.Contains(page, `<p data-lease data-case="`+id+`" data-token="`+token+`"`) {
			t.Errorf("My cases does not keep the lease of %s:\n%s", id, page)
		}
	}
	if strings.Contains(page, other) || !strings.Contains(page, `id="idle"`) {
		t.Errorf("want the stale entry left out and the idle question present:\n%s", page)
	}
	resp, _ := uiDo(t, srv, e.tokens["volunteer"], "POST", "/mine/release-all", nil)
	if loc := resp.Header.Get("Location"); loc != "/mine?msg=msg_released_all&field=2" {
		t.Fatalf("release all: %s", loc)
	}
	for id, want := range map[string]string{queued: "pending", watch: "watch", other: "claimed"} {
		if c, _ := e.s.peek(ctxT(), id); c.State != want {
			t.Errorf("case %s is %s, want %s", id, c.State, want)
		}
	}
	if c, _ := e.s.peek(ctxT(), other); c.Owner != "volunteer2" {
		t.Errorf("the other volunteer's case went to %q", c.Owner)
	}
	if code, body := e.do(t, "volunteer", "POST", "/api/v1/me/release-all", nil); code != 200 || body["released"] != float64(0) {
		t.Fatalf("again, through the API: %d %v", code, body)
	}
	if _, page = uiDo(t, srv, e.tokens["volunteer"], "GET", "/mine", nil); strings.Contains(page, `action="/mine/release-all"`) {
		t.Fatal("the button shows with nothing held")
	}
	// The history names each case by the start of its id (a phone's
	// column is narrow), linking the whole id.
	if !strings.Contains(page, `<a href="/cases/`+queued+`" title="`+queued+`">`+queued[:9]+`…</a>`) {
		t.Fatalf("the history does not list %s by its short id:\n%s", queued, page)
	}
}

// TestCasePageNoteForm: the case page offers a note to its holder (with
// the lease token), to whoever held the case before (their lease was lost
// while they wrote to the person) and to supervisors, not to a volunteer
// who never held it; the form works without a lease.
func TestCasePageNoteForm(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	id := seed(t, e.s, "note-form-author", 8)
	page := func(who string) string {
		t.Helper()
		resp, body := uiDo(t, srv, e.tokens[who], "GET", "/cases/"+id, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s's case page: %d", who, resp.StatusCode)
		}
		return body
	}
	form := func(body string) (shown, token bool) {
		_, f, ok := strings.Cut(body, `id="add-note"`)
		f, _, _ = strings.Cut(f, "</form>")
		return ok, strings.Contains(f, `name="token"`)
	}
	if shown, _ := form(page("volunteer2")); shown {
		t.Fatal("a volunteer who never held the case is offered a note")
	}
	resp, _ := uiDo(t, srv, e.tokens["volunteer2"], "POST", "/cases/"+id+"/notes", url.Values{"text": {"我来"}})
	if loc := resp.Header.Get("Location"); loc != "/cases/"+id+"?msg=msg_never_held" {
		t.Fatalf("a note by a volunteer who never held the case: %d %s", resp.StatusCode, loc)
	}
	claim(t, e.s, "volunteer", RoleVolunteer, id)
	if shown, token := form(page("volunteer")); !shown || !token {
		t.Fatalf("the holder's note form: shown %v, with the token %v", shown, token)
	}
	if _, err := e.s.Reassign(ctxT(), "supervisor", id); err != nil {
		t.Fatal(err)
	}
	claim(t, e.s, "volunteer2", RoleVolunteer, id)
	if shown, token := form(page("supervisor")); !shown || token {
		t.Fatalf("a supervisor's note form on a case held by another: shown %v, with a token %v", shown, token)
	}
	for _, who := range []string{"volunteer", "supervisor"} {
		resp, _ := uiDo(t, srv, e.tokens[who], "POST", "/cases/"+id+"/notes", url.Values{"text": {who + " 联系上了"}})
		if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/cases/"+id+"?msg=msg_noted" {
			t.Fatalf("%s's note without the lease: %d %s", who, resp.StatusCode, loc)
		}
	}
	d, err := e.s.Get(ctxT(), "volunteer2", id, true)
	if err != nil || len(d.Notes) != 2 || d.Notes[0].By != "volunteer" || d.Notes[1].By != "supervisor" {
		t.Fatalf("the notes the holder reads: %+v, %v", d.Notes, err)
	}
	if _, err := e.s.Release(ctxT(), "volunteer2", id, d.Token); err != nil {
		t.Fatal(err)
	}
	// Back in the queue: the former holder, who may read it again, may
	// note it from a fresh page.
	if shown, token := form(page("volunteer")); !shown || token {
		t.Fatalf("the former holder's note form on the waiting case: shown %v, with a token %v", shown, token)
	}
}

// TestCasePageAwaitsAReply: the holder's case page offers to keep the
// case while they await the person's reply, says for how long (shorter,
// and to escalate if no reply comes within minutes, at the emergency
// level), and
// stays on the case; the case's activity and the supervisors' list of who
// holds what show the wait. With a hold no longer than the lease the
// offer is not made.
func TestCasePageAwaitsAReply(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	id := seed(t, e.s, "awaiting-ui", 9)
	claim(t, e.s, "volunteer", RoleVolunteer, id)
	_, page := uiDo(t, srv, e.tokens["volunteer"], "GET", "/cases/"+id, nil)
	if !strings.Contains(page, `action="/cases/`+id+`/await"`) || !strings.Contains(page, "个案为你保留 20 分钟") ||
		!strings.Contains(page, "如果对方几分钟内没有回复，请立即升级给督导") {
		t.Fatalf("no offer to keep the case for the emergency hold while awaiting a reply:\n%s", page)
	}
	below := seed(t, e.s, "awaiting-ui-8", 8)
	claim(t, e.s, "volunteer", RoleVolunteer, below)
	if _, page := uiDo(t, srv, e.tokens["volunteer"], "GET", "/cases/"+below, nil); !strings.Contains(page, "个案为你保留 60 分钟") ||
		strings.Contains(page, "如果对方几分钟内没有回复") {
		t.Fatalf("below the emergency level, the offer is not of the hour's hold, without the emergency's warning:\n%s", page)
	}
	d, err := e.s.Get(ctxT(), "volunteer", id, true)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := uiDo(t, srv, e.tokens["volunteer"], "POST", "/cases/"+id+"/await", url.Values{"token": {d.Token}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/cases/"+id+"?msg=msg_awaiting" {
		t.Fatalf("await: %d %s", resp.StatusCode, loc)
	}
	if c, _ := e.s.peek(ctxT(), id); c.LeaseDeadline == nil || time.Until(*c.LeaseDeadline) < 19*time.Minute || time.Until(*c.LeaseDeadline) > 21*time.Minute {
		t.Fatalf("the lease after awaiting a reply: %v", c.LeaseDeadline)
	}
	_, page = uiDo(t, srv, e.tokens["volunteer"], "GET", "/cases/"+id, nil)
	if !strings.Contains(page, "等待对方回复") {
		t.Fatalf("the activity does not list the wait:\n%s", page)
	}
	// The supervisors see the wait and how long it has lasted, marked at
	// the emergency level (here 9).
	if _, rows := uiDo(t, srv, e.tokens["supervisor"], "GET", "/supervisor/rows", nil); !strings.Contains(rows, `<span class="awaiting urgent">等待对方回复 0 分钟</span>`) {
		t.Fatalf("the supervisors do not see that the holder awaits a reply, since when, at the emergency level:\n%s", rows)
	}
	if c, _ := e.s.peek(ctxT(), id); c.AwaitingSince == nil || time.Since(*c.AwaitingSince) > time.Minute {
		t.Fatalf("the case's wait began at %v", c.AwaitingSince)
	}
	r := e.s.Routing()
	r.Hold = r.Lease
	e.s.setRouting(r)
	if _, page = uiDo(t, srv, e.tokens["volunteer"], "GET", "/cases/"+id, nil); strings.Contains(page, `action="/cases/`+id+`/await"`) {
		t.Fatal("offered a hold that adds nothing to the lease")
	}
}

// TestModeratorFormSetsTheEmergencyHold: the moderators' form shows the
// emergency hold in force, saves a new one (a new version, in force at
// once), and refuses a bad one naming the field.
func TestModeratorFormSetsTheEmergencyHold(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	if _, page := uiDo(t, srv, e.tokens["moderator"], "GET", "/moderator", nil); !strings.Contains(page, `<input name="hold_emergency" value="20m">`) {
		t.Fatal("the form does not show the emergency hold in force (20m)")
	}
	resp, _ := uiDo(t, srv, e.tokens["moderator"], "POST", "/moderator/settings", url.Values{"hold_emergency": {"10m"}, "why": {"shorter at 9-10"}})
	if resp.StatusCode != 303 || e.s.Routing().HoldEmergency != 10*time.Minute || e.s.Routing().Hold != time.Hour {
		t.Fatalf("saving an emergency hold of 10m: %d, in force %v (hold %v)", resp.StatusCode, e.s.Routing().HoldEmergency, e.s.Routing().Hold)
	}
	resp, page := uiDo(t, srv, e.tokens["moderator"], "POST", "/moderator/settings", url.Values{"hold_emergency": {"soon"}, "why": {"bad"}})
	if resp.StatusCode != 400 || !strings.Contains(page, "hold_emergency") || e.s.Routing().HoldEmergency != 10*time.Minute {
		t.Fatalf("a bad emergency hold: %d, in force %v", resp.StatusCode, e.s.Routing().HoldEmergency)
	}
}

// TestModeratorPageOffersTheExport: the moderators' page downloads the
// labeled export from the API (the same session), offering the posts'
// text only where the service allows it.
func TestModeratorPageOffersTheExport(t *testing.T) {
	e := newAPIEnv(t)
	for _, allowed := range []bool{false, true} {
		_, srv := newUIServerWith(t, UIOptions{Store: e.s, ExportText: allowed})
		_, page := uiDo(t, srv, e.tokens["moderator"], "GET", "/moderator", nil)
		_, form, _ := strings.Cut(page, `<form method="get" action="/api/v1/export/labels"`)
		form, _, _ = strings.Cut(form, "</form>")
		if form == "" || !strings.Contains(form, `name="since"`) || strings.Contains(form, `name="text"`) != allowed ||
			strings.Contains(form, "此服务不导出帖子文本") == allowed {
			t.Fatalf("text allowed %v: the export form reads\n%s", allowed, form)
		}
	}
}

// TestModeratorPageShowsPrecisionInterval: the precision of a level comes
// with its 95% interval, so one resolution is not read as a level's
// precision.
func TestModeratorPageShowsPrecisionInterval(t *testing.T) {
	e := newAPIEnv(t)
	_, srv := newUIServer(t, e.s)
	_, page := uiDo(t, srv, e.tokens["moderator"], "GET", "/moderator", nil)
	if _, section, _ := strings.Cut(page, `id="precision"`); strings.Count(strings.Split(section, "</section>")[0], T(LangZH, "nothing")) != 2 {
		t.Fatal("with nothing resolved, the precision tables do not say so")
	}
	seedResolved(t, e.s, "precise-one", 9)
	_, page = uiDo(t, srv, e.tokens["moderator"], "GET", "/moderator", nil)
	_, section, _ := strings.Cut(page, `id="precision"`)
	section, _, _ = strings.Cut(section, "</section>")
	for _, want := range []string{"95% 区间", "<td>9</td>", "100.0%", "20.7%–100.0%", "区间越宽"} {
		if !strings.Contains(section, want) {
			t.Fatalf("the precision section lacks %q:\n%s", want, section)
		}
	}
	if strings.Contains(section, T(LangZH, "nothing")) {
		t.Fatal("with a resolution, the precision tables still say there is none")
	}
}

// TestPagesShowTimesInTheirZone: a UI set to a time zone shows the times
// of a case (here a note's) in it, whatever the machine's zone, and says
// which zone that is.
func TestPagesShowTimesInTheirZone(t *testing.T) {
	e := newAPIEnv(t)
	zone := time.FixedZone("UTC+8", 8*3600)
	_, srv := newUIServerWith(t, UIOptions{Store: e.s, Location: zone})
	id := seed(t, e.s, "zoned", 8)
	l := claim(t, e.s, "volunteer", RoleVolunteer, id)
	if err := e.s.AddNote(ctxT(), "volunteer", RoleVolunteer, id, l.Token, "已私信"); err != nil {
		t.Fatal(err)
	}
	d, err := e.s.Get(ctxT(), "volunteer", id, true)
	if err != nil || len(d.Notes) != 1 {
		t.Fatalf("the case: %+v, %v", d.Notes, err)
	}
	_, page := uiDo(t, srv, e.tokens["volunteer"], "GET", "/cases/"+id, nil)
	at := d.Notes[0].At
	if want := at.In(zone).Format("01-02 15:04"); !strings.Contains(page, want) {
		t.Fatalf("the note's time %s is not shown in UTC+8 (%s)", at, want)
	}
	if utc := at.UTC().Format("01-02 15:04"); strings.Contains(page, utc) {
		t.Fatalf("the page shows the note's time in UTC (%s)", utc)
	}
	if !strings.Contains(page, `<footer class="zone">页面时间的时区为 UTC&#43;8</footer>`) { // html/template escapes +
		t.Fatal("the page does not say which zone its times are in")
	}
	// A follow-up time typed into the page is read in the page's zone.
	resp, _ := uiDo(t, srv, e.tokens["volunteer"], "POST", "/cases/"+id+"/resolve",
		url.Values{"token": {l.Token}, "outcome": {"reached_safe"}, "follow_up": {"2030-01-02T09:00"}})
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "msg=msg_resolved") {
		t.Fatalf("resolve with a follow-up: %d %s", resp.StatusCode, loc)
	}
	ms, err := e.s.rdb.HGet(ctxT(), keyCase(id), "follow_up_ms").Int64()
	if want := time.Date(2030, 1, 2, 1, 0, 0, 0, time.UTC); err != nil || !time.UnixMilli(ms).Equal(want) {
		t.Fatalf("follow-up at %v (%v), want %v", time.UnixMilli(ms).UTC(), err, want)
	}
}
