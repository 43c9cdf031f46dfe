package triage

import (
	"errors"
	"net/http"
	"strings"
	"testing"
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
	for _, u := range []struct {
		name string
		role Role
	}{{"root", RoleAdmin}, {"vol", RoleVolunteer}} {
		if err := s.AddUser(ctx, "test", u.name, u.role, "password-"+u.name); err != nil {
			t.Fatal(err)
		}
	}
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
	if err := s.EnableUser(ctx, "root", "vol"); err != nil {
		t.Fatal(err)
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
	if _, err := e.s.Claim(ctxT(), "volunteer2", RoleSupervisor, id); err != nil {
		t.Fatal(err)
	}
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
}
