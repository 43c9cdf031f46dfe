package triage

import (
	"errors"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestAccountLifecycle: a user changes their own password (the current
// one checked; every other session ends, the caller gets a new one); an
// admin resets it (every session ends), changes the role (in force at the
// next request) and disables the account (sessions end at once and the
// cases it held go back where they waited, not after their leases run
// out); enabled again, it logs in. The last active admin can be neither
// disabled nor demoted. Every change is audited.
func TestAccountLifecycle(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	addUser(t, s, "root", RoleAdmin)
	addUser(t, s, "vol", RoleVolunteer)
	login := func(name, pw string) (string, error) {
		t.Helper()
		tok, _, err := s.Login(ctx, name, pw, "10.0.0.1")
		return tok, err
	}
	alive := func(tok string) bool {
		t.Helper()
		_, err := s.Session(ctx, tok)
		if err != nil && !errors.Is(err, ErrNoSession) {
			t.Fatal(err)
		}
		return err == nil
	}
	phone, err := login("vol", "password-vol")
	if err != nil {
		t.Fatal(err)
	}
	laptop, _ := login("vol", "password-vol")

	// A change of one's own password.
	if _, err := s.ChangePassword(ctx, "vol", "password-vol", "short", "10.0.0.1"); !isField(err, "new") {
		t.Fatalf("a short new password: %v", err)
	}
	if _, err := s.ChangePassword(ctx, "vol", "wrong-password", "a-new-password-1", "10.0.0.1"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("a wrong current password: %v", err)
	}
	if !alive(phone) || !alive(laptop) {
		t.Fatal("a refused change ended sessions")
	}
	fresh, err := s.ChangePassword(ctx, "vol", "password-vol", "a-new-password-1", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if alive(phone) || alive(laptop) || !alive(fresh) {
		t.Fatalf("after a change: old sessions alive %v %v, the new one %v", alive(phone), alive(laptop), alive(fresh))
	}
	if _, err := login("vol", "password-vol"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("the old password still works: %v", err)
	}

	// An admin's reset.
	if err := s.SetPassword(ctx, "root", "vol", "a-new-password-2"); err != nil {
		t.Fatal(err)
	}
	if alive(fresh) {
		t.Fatal("a session outlived a reset")
	}
	tok, err := login("vol", "a-new-password-2")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(ctx, "root", "nobody", "a-new-password-2"); !errors.Is(err, ErrNoUser) {
		t.Fatalf("reset of an unknown account: %v", err)
	}

	// A new role, in force at once.
	if err := s.SetRole(ctx, "root", "vol", RoleSupervisor); err != nil {
		t.Fatal(err)
	}
	if u, err := s.Session(ctx, tok); err != nil || u.Role != RoleSupervisor {
		t.Fatalf("after the role change: %+v %v", u, err)
	}
	if err := s.SetRole(ctx, "root", "vol", "captain"); !isField(err, "role") {
		t.Fatalf("an unknown role: %v", err)
	}

	// Disabled while holding an emergency and a watch-list case.
	emergency, watch := seed(t, s, "lifecycle-1", 9), seed(t, s, "lifecycle-2", 5)
	for _, id := range []string{emergency, watch} {
		if _, err := s.Claim(ctx, "vol", RoleSupervisor, id); err != nil {
			t.Fatal(err)
		}
	}
	back, err := s.DisableUser(ctx, "root", "vol")
	if err != nil || back != 2 {
		t.Fatalf("disable: %d cases back, %v", back, err)
	}
	if alive(tok) {
		t.Fatal("a disabled account's session is alive")
	}
	// Done again (as after an error midway): nothing more to take back,
	// and the disable is audited once (counted below).
	if back, err := s.DisableUser(ctx, "root", "vol"); err != nil || back != 0 {
		t.Fatalf("disabled again: %d cases back, %v", back, err)
	}
	for id, want := range map[string]string{emergency: "pending", watch: "watch"} {
		if c, _ := s.peek(ctx, id); c.State != want || c.Owner != "" {
			t.Errorf("case %s after its holder was disabled: %s held by %q, want %s", id, c.State, c.Owner, want)
		}
	}
	if held, _ := s.Held(ctx, "vol"); len(held) != 0 {
		t.Fatalf("a disabled account still holds %v", held)
	}
	if _, err := login("vol", "a-new-password-2"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("a disabled account logged in: %v", err)
	}
	// A claim already on its way when the account was disabled takes nothing.
	if _, err := s.Claim(ctx, "vol", RoleSupervisor, emergency); !errors.Is(err, ErrNoSession) {
		t.Fatalf("a disabled account's claim: %v", err)
	}
	for range 2 { // audited once
		if err := s.EnableUser(ctx, "root", "vol"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := login("vol", "a-new-password-2"); err != nil {
		t.Fatalf("enabled again: %v", err)
	}

	// The last active admin stays one.
	if _, err := s.DisableUser(ctx, "root", "root"); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("disabling the last admin: %v", err)
	}
	if err := s.SetRole(ctx, "root", "root", RoleModerator); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("demoting the last admin: %v", err)
	}
	if err := s.SetRole(ctx, "root", "vol", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRole(ctx, "vol", "root", RoleModerator); err != nil {
		t.Fatalf("demoting one of two admins: %v", err)
	}
	if _, err := s.DisableUser(ctx, "root", "vol"); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("disabling the admin left: %v", err)
	}

	want := map[string]int{"password_changed": 1, "password_reset": 1, "user_role_set": 3, "user_disabled": 1, "user_enabled": 1}
	got := map[string]int{}
	auditCount(t, s, "", 1000, func(e AuditEvent) bool { got[e.Action]++; return false })
	for action, n := range want {
		if got[action] != n {
			t.Errorf("%d %s events, want %d (%v)", got[action], action, n, got)
		}
	}
	reassigned := auditCount(t, s, emergency, 100, func(e AuditEvent) bool {
		return e.Action == "reassigned" && e.Actor == "root"
	}) + auditCount(t, s, watch, 100, func(e AuditEvent) bool { return e.Action == "reassigned" && e.Actor == "root" })
	if reassigned != 2 {
		t.Fatalf("%d returns audited as the admin's, want 2", reassigned)
	}
}

func isField(err error, field string) bool {
	var ve *ValidationError
	return errors.As(err, &ve) && ve.Field == field
}

// TestAccountsOverTheAPI: the admin's account calls and the user's own
// password change, with their errors.
func TestAccountsOverTheAPI(t *testing.T) {
	e := newAPIEnv(t)
	code, body := e.do(t, "admin", "POST", "/api/v1/users", map[string]any{"name": "new.vol", "role": "volunteer"})
	pw, _ := body["password"].(string)
	if code != 201 || len(pw) < 10 {
		t.Fatalf("add without a password: %d %v", code, body)
	}
	if _, _, err := e.s.Login(ctxT(), "new.vol", pw, "127.0.0.9"); err != nil {
		t.Fatalf("the generated password: %v", err)
	}
	if code, body = e.do(t, "admin", "POST", "/api/v1/users", map[string]any{"name": "new.vol", "role": "volunteer"}); code != 409 {
		t.Fatalf("added twice: %d %v", code, body)
	}
	for _, c := range []struct {
		path string
		body map[string]any
		code int
		says string
	}{
		{"/api/v1/users/volunteer2", map[string]any{}, 400, "role or disabled"},
		{"/api/v1/users/volunteer2", map[string]any{"role": "captain"}, 400, "role"},
		{"/api/v1/users/nobody", map[string]any{"disabled": true}, 404, "no such user"},
		{"/api/v1/users/admin", map[string]any{"disabled": true}, 409, "last active admin"},
		{"/api/v1/users/volunteer2", map[string]any{"role": "supervisor"}, 200, ""},
	} {
		code, body := e.do(t, "admin", "PATCH", c.path, c.body)
		msg, _ := body["error"].(string)
		if code != c.code || !strings.Contains(msg, c.says) {
			t.Errorf("PATCH %s %v: %d %v, want %d %q", c.path, c.body, code, body, c.code, c.says)
		}
	}
	id := seed(t, e.s, "api-held", 8)
	claim(t, e.s, "volunteer2", RoleSupervisor, id)
	code, body = e.do(t, "admin", "PATCH", "/api/v1/users/volunteer2", map[string]any{"disabled": true})
	if code != 200 || body["cases_returned"] != float64(1) || body["user"].(map[string]any)["disabled"] != true {
		t.Fatalf("disable: %d %v", code, body)
	}
	if code, _ := e.do(t, "volunteer2", "GET", "/api/v1/me", nil); code != 401 {
		t.Fatalf("a disabled account's session: %d", code)
	}

	// The user's own change: a wrong current password is 403, a short new
	// one 400; a good one ends the old session and returns a new one.
	if code, body = e.do(t, "volunteer", "POST", "/api/v1/me/password", map[string]any{"current": "nope-nope-nope", "new": "a-new-password-9"}); code != 403 {
		t.Fatalf("wrong current: %d %v", code, body)
	}
	if code, body = e.do(t, "volunteer", "POST", "/api/v1/me/password", map[string]any{"current": "password-volunteer", "new": "short"}); code != 400 || !strings.Contains(body["error"].(string), "new") {
		t.Fatalf("short new: %d %v", code, body)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/me/password",
		strings.NewReader(`{"current":"password-volunteer","new":"a-new-password-9"}`))
	req.Header.Set("Authorization", "Bearer "+e.tokens["volunteer"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if resp.StatusCode != 200 || cookie == nil || !cookie.HttpOnly || cookie.Value == e.tokens["volunteer"] {
		t.Fatalf("change: %d, cookie %+v", resp.StatusCode, cookie)
	}
	if code, _ := e.do(t, "volunteer", "GET", "/api/v1/me", nil); code != 401 {
		t.Fatalf("the old session after a change: %d", code)
	}
	e.tokens["volunteer"] = cookie.Value
	if code, _ := e.do(t, "volunteer", "GET", "/api/v1/me", nil); code != 200 {
		t.Fatalf("the new session: %d", code)
	}

	// An admin's reset returns a generated password once.
	code, body = e.do(t, "admin", "POST", "/api/v1/users/volunteer/password", map[string]any{})
	if pw, _ = body["password"].(string); code != 200 || len(pw) < 10 {
		t.Fatalf("reset: %d %v", code, body)
	}
	if code, _ := e.do(t, "volunteer", "GET", "/api/v1/me", nil); code != 401 {
		t.Fatalf("a session after a reset: %d", code)
	}
	if _, _, err := e.s.Login(ctxT(), "volunteer", pw, "127.0.0.9"); err != nil {
		t.Fatalf("the reset password: %v", err)
	}

	// The admin's changes, found in the audit log by who and what.
	code, body = e.do(t, "supervisor", "GET", "/api/v1/audit?actor=admin&action=user_disabled", nil)
	events, _ := body["events"].([]any)
	if code != 200 || len(events) != 1 || body["next"] != "" ||
		events[0].(map[string]any)["detail"] != "user=volunteer2" {
		t.Fatalf("the audit search: %d %v", code, body)
	}
	if code, body = e.do(t, "supervisor", "GET", "/api/v1/audit?before=x", nil); code != 400 || !strings.Contains(body["error"].(string), "before") {
		t.Fatalf("a bad cursor: %d %v", code, body)
	}
}

// TestSearchAudit: the audit log is searched by actor, action and case,
// newest first, a page at a time: the pages follow each other without a
// gap or an overlap, across the reads of a thousand entries the search
// makes. Each search is audited as the reader's, in the case's log too
// when it names one; an unknown case or a bad cursor is refused.
func TestSearchAudit(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	for i := 0; i < 1500; i++ {
		who := "a"
		if i%3 == 0 {
			who = "b"
		}
		if err := s.auditEvent(ctx, "", who, "login", ""); err != nil {
			t.Fatal(err)
		}
	}
	id := seed(t, s, "audit-search", 7)
	if _, err := s.Claim(ctx, "a", RoleVolunteer, id); err != nil {
		t.Fatal(err)
	}
	var all []AuditEvent
	before, pages := "", 0
	for {
		ev, next, err := s.SearchAudit(ctx, "auditor", AuditQuery{Actor: "a", Action: "login", Before: before, Limit: 400})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ev...)
		pages++
		if next == "" {
			break
		}
		if next != ev[len(ev)-1].ID {
			t.Fatalf("page %d: cursor %s, last event %s", pages, next, ev[len(ev)-1].ID)
		}
		before = next
	}
	if len(all) != 1000 || pages != 3 {
		t.Fatalf("%d events in %d pages, want 1000 in 3", len(all), pages)
	}
	for i, e := range all {
		if e.Actor != "a" || e.Action != "login" || (i > 0 && !streamLess(e.ID, all[i-1].ID)) {
			t.Fatalf("event %d: %+v after %+v", i, e, all[max(i-1, 0)])
		}
	}
	ev, _, err := s.SearchAudit(ctx, "auditor", AuditQuery{Case: id, Limit: 10})
	if err != nil || len(ev) != 3 || ev[0].Action != "audit_read" || ev[1].Action != "claimed" || ev[2].Action != "created" {
		t.Fatalf("the case's log, newest first: %+v %v", ev, err)
	}
	if ev, _, _ := s.SearchAudit(ctx, "auditor", AuditQuery{Case: id, Actor: "a", Limit: 10}); len(ev) != 1 || ev[0].Action != "claimed" {
		t.Fatalf("the case's log by actor: %+v", ev)
	}
	if _, _, err := s.SearchAudit(ctx, "auditor", AuditQuery{Case: "no-such-case", Limit: 10}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown case: %v", err)
	}
	if _, _, err := s.SearchAudit(ctx, "auditor", AuditQuery{Before: "yesterday", Limit: 10}); !isField(err, "before") {
		t.Fatalf("a bad cursor: %v", err)
	}
	reads, _, _ := s.SearchAudit(ctx, "x", AuditQuery{Actor: "auditor", Action: "audit_read", Limit: 100})
	if len(reads) != 5 || reads[len(reads)-1].Detail != "actor=a action=login" {
		t.Fatalf("the searches were audited as %+v", reads)
	}
}

// streamLess reports whether stream id a comes before b.
func streamLess(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	if len(am) != len(bm) {
		return len(am) < len(bm)
	}
	if am != bm {
		return am < bm
	}
	if len(as) != len(bs) {
		return len(as) < len(bs)
	}
	return as < bs
}

func TestStreamIDBefore(t *testing.T) {
	for in, want := range map[string]string{"5-3": "5-2", "5-0": "4-18446744073709551615", "0-0": "0-0"} {
		if got, ok := streamIDBefore(in); !ok || got != want {
			t.Errorf("streamIDBefore(%s) = %s %v, want %s", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "5", "x-1", "5-x", "-1-2"} {
		if _, ok := streamIDBefore(bad); ok {
			t.Errorf("streamIDBefore(%q) accepted", bad)
		}
	}
}

// TestOnDutyCounted: the accounts that made a request in the last 15
// minutes are counted by role, for the gauge behind the "nobody on duty"
// alert; a disabled account, or one last seen earlier, is not.
func TestOnDutyCounted(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	for _, u := range []struct {
		name string
		role Role
		seen time.Duration // ago; 0: never
	}{{"v1", RoleVolunteer, time.Minute}, {"v2", RoleVolunteer, 14 * time.Minute}, {"v3", RoleVolunteer, 16 * time.Minute},
		{"gone", RoleVolunteer, time.Minute}, {"sup", RoleSupervisor, 0}, {"boss", RoleAdmin, 2 * time.Minute}} {
		addUser(t, s, u.name, u.role)
		if u.seen > 0 {
			s.rdb.HSet(ctx, keyUser(u.name), "seen_ms", time.Now().Add(-u.seen).UnixMilli())
		}
	}
	if _, err := s.DisableUser(ctx, "test", "gone"); err != nil {
		t.Fatal(err)
	}
	all := gauges(t, s)
	got := map[string]float64{}
	for k, v := range all {
		if role, ok := strings.CutPrefix(k, "lookout_triage_on_duty_users{"); ok {
			got[strings.TrimSuffix(role, "}")] = v
		}
	}
	want := map[string]float64{"volunteer": 2, "supervisor": 0, "moderator": 0, "admin": 1}
	if !maps.Equal(got, want) {
		t.Fatalf("on duty %v, want %v", got, want)
	}
}

// TestLastAdminUnderRace: two admins who disable each other, or demote
// each other, at the same moment never both succeed: one active admin is
// always left.
func TestLastAdminUnderRace(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	for _, n := range []string{"a1", "a2", "vol"} {
		role := RoleAdmin
		if n == "vol" {
			role = RoleVolunteer
		}
		addUser(t, s, n, role)
	}
	for round := 0; round < 40; round++ {
		errs := make(chan error, 2)
		for _, pair := range [][2]string{{"a1", "a2"}, {"a2", "a1"}} {
			go func() {
				if round%2 == 0 {
					_, err := s.DisableUser(ctx, pair[0], pair[1])
					errs <- err
				} else {
					errs <- s.SetRole(ctx, pair[0], pair[1], RoleVolunteer)
				}
			}()
		}
		refused := 0
		for range 2 {
			if err := <-errs; errors.Is(err, ErrLastAdmin) {
				refused++
			} else if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		active := 0
		users, _ := s.Users(ctx)
		for _, u := range users {
			if u.Role == RoleAdmin && !u.Disabled {
				active++
			}
		}
		if active != 1 || refused != 1 {
			t.Fatalf("round %d: %d active admins, %d refused; want 1 and 1", round, active, refused)
		}
		for _, n := range []string{"a1", "a2"} { // both admins again
			if err := s.EnableUser(ctx, "test", n); err != nil {
				t.Fatal(err)
			}
			s.rdb.HSet(ctx, keyUser(n), "role", string(RoleAdmin))
		}
	}
}

// TestUnknownNameCostsAsMuch: a login under a name that does not exist
// fails as a wrong password does, after comparing with a hash of the
// same bcrypt cost as real ones, so that how long it takes does not tell
// which names exist.
func TestUnknownNameCostsAsMuch(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	addUser(t, s, "vol", RoleVolunteer)
	hash, err := s.rdb.HGet(ctx, keyUser("vol"), "hash").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	real, err1 := bcrypt.Cost(hash)
	dummy, err2 := bcrypt.Cost(dummyHash())
	if err1 != nil || err2 != nil || real != dummy {
		t.Fatalf("a real hash costs %d (%v), the unknown names' %d (%v)", real, err1, dummy, err2)
	}
	for _, name := range []string{"vol", "nobody"} {
		if _, _, err := s.Login(ctx, name, "wrong-password", "10.0.0.2"); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("login as %s with a wrong password: %v", name, err)
		}
	}
}
