package triage

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"lookout/classifier"
)

//go:embed web/templates/*.html
var templateFS embed.FS

//go:embed web/static
var staticFS embed.FS

// UIOptions configures the web UI.
type UIOptions struct {
	Store  *Store
	Logger *slog.Logger
	// Hotline and Emergency are shown on every case page.
	Hotline, Emergency string
	InsecureCookies    bool
	// Location is the time zone pages show times in (default: the
	// machine's). Volunteers read times by their own clocks, and a server
	// in a container usually runs in UTC.
	Location *time.Location
	// ExportText says whether the moderators' page offers the labeled
	// export with the posts' text (the API decides; APIOptions.ExportText).
	ExportText bool
}

// UI serves the volunteer web UI: server-rendered pages over the same
// store the API uses, with a little JavaScript for the countdowns, the
// queue refresh and the lease renewal.
type UI struct {
	store              *Store
	log                *slog.Logger
	pages              map[string]*template.Template
	hotline, emergency string
	secure             bool
	loc                *time.Location
	exportText         bool
	routes             []route
}

// clock writes a time as the pages do, in their zone.
func (u *UI) clock(t time.Time) string { return t.In(u.loc).Format("01-02 15:04") }

// cspPolicy allows nothing inline and nothing from elsewhere.
const cspPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; manifest-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// NewUI parses the templates and returns the UI.
func NewUI(o UIOptions) (*UI, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Hotline == "" {
		o.Hotline = "400-161-9995"
	}
	if o.Emergency == "" {
		o.Emergency = "110 / 120"
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	u := &UI{store: o.Store, log: o.Logger.With("component", "triage.ui"), pages: map[string]*template.Template{},
		hotline: o.Hotline, emergency: o.Emergency, secure: !o.InsecureCookies, loc: o.Location,
		exportText: o.ExportText}
	funcs := template.FuncMap{
		"t":        func(l Lang, key string) string { return T(l, key) },
		"flashok":  func(key string) bool { return okMessages[key] },
		"levelkey": func(l int) string { return "lvl_" + strconv.Itoa(l) },
		"ms": func(t *time.Time) int64 {
			if t == nil {
				return 0
			}
			return t.UnixMilli()
		},
		"clock": u.clock,
		"clockp": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return u.clock(*t)
		},
		"since":    func(l Lang, t time.Time) string { return sinceText(l, u.store.clock().Sub(t)) },
		"band":     levelBand,
		"segments": segmentsOf,
		"ts":       func(ms int64) string { return time.UnixMilli(ms).In(u.loc).Format("01-02 15:04:05") },
		"clean":    stripBidi,
		// shortid is the start of a case id, for a narrow column; the link
		// it labels carries the whole id.
		"shortid": func(id string) string {
			if len(id) <= 9 {
				return id
			}
			return id[:9] + "…"
		},
		"pct": func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" },
		"dur": func(d time.Duration) string {
			if d == 0 {
				return ""
			}
			return spanText(d)
		},
	}
	for _, page := range []string{"login", "queue", "case", "mine", "supervisor", "moderator", "account", "users", "audit"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "web/templates/layout.html", "web/templates/rows.html", "web/templates/"+page+".html")
		if err != nil {
			return nil, err
		}
		u.pages[page] = t
	}
	u.routes = []route{
		{"GET", "/login", "", u.loginPage},
		{"POST", "/login", "", u.loginPost},
		{"POST", "/lang", "", u.setLang},
		{"POST", "/logout", RoleVolunteer, u.logoutPost},
		{"GET", "/{$}", RoleVolunteer, u.queuePage},
		{"GET", "/queue/rows", RoleVolunteer, u.queueRows},
		{"POST", "/next", RoleVolunteer, u.nextPost},
		{"GET", "/cases/{id}", RoleVolunteer, u.casePage},
		{"POST", "/cases/{id}/claim", RoleVolunteer, u.claimPost},
		{"POST", "/cases/{id}/release", RoleVolunteer, u.actionPost},
		{"POST", "/cases/{id}/escalate", RoleVolunteer, u.actionPost},
		{"POST", "/cases/{id}/resolve", RoleVolunteer, u.actionPost},
		{"POST", "/cases/{id}/notes", RoleVolunteer, u.actionPost},
		{"POST", "/cases/{id}/await", RoleVolunteer, u.actionPost},
		{"POST", "/cases/{id}/reassign", RoleSupervisor, u.reassignPost},
		{"POST", "/cases/{id}/assign", RoleSupervisor, u.assignPost},
		{"GET", "/mine", RoleVolunteer, u.minePage},
		{"POST", "/mine/release-all", RoleVolunteer, u.releaseAllPost},
		{"GET", "/supervisor", RoleSupervisor, u.supervisorPage},
		{"GET", "/supervisor/rows", RoleSupervisor, u.supervisorRows},
		{"GET", "/audit", RoleSupervisor, u.auditPage},
		{"GET", "/account", RoleVolunteer, u.accountPage},
		{"POST", "/account/password", RoleVolunteer, u.passwordPost},
		{"GET", "/admin/users", RoleAdmin, u.usersPage},
		{"POST", "/admin/users", RoleAdmin, u.userAddPost},
		{"POST", "/admin/users/{name}/role", RoleAdmin, u.userRolePost},
		{"POST", "/admin/users/{name}/disable", RoleAdmin, u.userDisablePost},
		{"POST", "/admin/users/{name}/enable", RoleAdmin, u.userEnablePost},
		{"POST", "/admin/users/{name}/password", RoleAdmin, u.userPasswordPost},
		{"GET", "/moderator", RoleModerator, u.moderatorPage},
		{"POST", "/moderator/preview", RoleModerator, u.moderatorPost},
		{"POST", "/moderator/settings", RoleModerator, u.moderatorPost},
		{"POST", "/moderator/shadow", RoleModerator, u.moderatorPost},
		{"POST", "/moderator/stop-shadow", RoleModerator, u.moderatorPost},
		{"POST", "/moderator/rollback", RoleModerator, u.moderatorPost},
	}
	return u, nil
}

// Routes returns the UI's access table: method, pattern, lowest role.
func (u *UI) Routes() [][3]string {
	out := make([][3]string, len(u.routes))
	for i, r := range u.routes {
		out[i] = [3]string{r.Method, r.Pattern, string(r.Min)}
	}
	return out
}

// Register adds the UI's pages and static files to mux.
func (u *UI) Register(mux *http.ServeMux) {
	for _, rt := range u.routes {
		mux.Handle(rt.Method+" "+rt.Pattern, u.wrap(rt))
	}
	static, _ := fs.Sub(staticFS, "web/static")
	files := http.FileServerFS(static)
	// The service worker lives at the root so that it may show
	// notifications for every page; it is public, as the static files are.
	mux.HandleFunc("GET /sw.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeFileFS(w, r, static, "sw.js")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})))
}

func (u *UI) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", cspPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		var user User
		if rt.Min != "" {
			token := ""
			if c, err := r.Cookie(sessionCookie); err == nil {
				token = c.Value
			}
			var err error
			user, err = u.store.authorize(r.Context(), token, rt.Min, rt.Method+" "+rt.Pattern)
			switch {
			case errors.Is(err, ErrForbidden):
				http.Error(w, T(langOf(r), "msg_forbidden"), http.StatusForbidden)
				return
			case err != nil && r.Method == http.MethodGet && !strings.HasSuffix(rt.Pattern, "/rows"):
				// A page goes to the login page; a part that a page
				// refreshes (…/rows) gets 401, and the page says that the
				// session has ended (app.js).
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			case err != nil:
				http.Error(w, T(langOf(r), "login"), http.StatusUnauthorized)
				return
			}
		}
		rt.handle(w, r, user)
	})
}

func langOf(r *http.Request) Lang {
	if c, err := r.Cookie("lookout_lang"); err == nil && c.Value == string(LangEN) {
		return LangEN
	}
	return LangZH
}

// page is what every template gets.
type page struct {
	Lang      Lang
	User      User
	Title     string
	Msg       string // i18n key of a flash message
	MsgDetail string // a field name from validation, never content
	Path      string
	Data      any
	Hotline   string
	Emergency string
	// Now is the time of rendering by Redis's clock, in ms: the page's
	// countdowns count from it, not from the device's clock.
	Now int64
	// Zone names the time zone the page's times are in.
	Zone string
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, name string, user User, title string, data any) {
	u.execute(w, r, name, "layout.html", user, title, data)
}

// renderPart writes only the template part of page name: a part of the
// page that refreshes itself in place (the queue's rows, the supervisors'
// lists).
func (u *UI) renderPart(w http.ResponseWriter, r *http.Request, name, part string, user User, data any) {
	u.execute(w, r, name, part, user, "", data)
}

func (u *UI) execute(w http.ResponseWriter, r *http.Request, name, tmpl string, user User, title string, data any) {
	p := page{Lang: langOf(r), User: user, Title: title, Data: data, Path: r.URL.RequestURI(),
		Hotline: u.hotline, Emergency: u.emergency, Now: u.store.clock().UnixMilli(), Zone: u.loc.String()}
	if m := r.URL.Query().Get("msg"); strings.HasPrefix(m, "msg_") {
		if _, ok := messages[m]; ok {
			p.Msg = m
		}
	}
	if d := r.URL.Query().Get("field"); d != "" && len(d) < 32 {
		p.MsgDetail = d
	}
	var buf bytes.Buffer
	if err := u.pages[name].ExecuteTemplate(&buf, tmpl, p); err != nil {
		u.log.Error("render", "page", name, "err", err)
		http.Error(w, T(p.Lang, "msg_error"), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request, _ User) {
	u.render(w, r, "login", User{}, T(langOf(r), "login"), map[string]string{"Next": safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps a redirect target on this site.
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.HasPrefix(n, "/\\") {
		return "/"
	}
	return n
}

func (u *UI) loginPost(w http.ResponseWriter, r *http.Request, _ User) {
	name, pw := r.PostFormValue("name"), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	token, _, err := u.store.Login(r.Context(), name, pw, clientAddr(r))
	switch {
	case errors.Is(err, ErrThrottled):
		http.Redirect(w, r, "/login?msg=msg_throttled", http.StatusSeeOther)
		return
	case err != nil:
		if !errors.Is(err, ErrBadLogin) {
			u.log.Error("login", "err", err)
		}
		http.Redirect(w, r, "/login?msg=msg_bad_login&next="+url.QueryEscape(next), http.StatusSeeOther)
		return
	}
	u.setSession(w, token)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// setSession gives the browser its session cookie.
func (u *UI) setSession(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: u.secure, SameSite: http.SameSiteStrictMode, MaxAge: int(SessionTTL.Seconds())})
}

func (u *UI) logoutPost(w http.ResponseWriter, r *http.Request, user User) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		_ = u.store.Logout(r.Context(), c.Value, user.Name)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: u.secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (u *UI) setLang(w http.ResponseWriter, r *http.Request, _ User) {
	l := LangZH
	if r.PostFormValue("lang") == string(LangEN) {
		l = LangEN
	}
	http.SetCookie(w, &http.Cookie{Name: "lookout_lang", Value: string(l), Path: "/", MaxAge: 365 * 24 * 3600,
		Secure: u.secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

type queueData struct {
	Cases        []Case
	LevelMin     int
	State        string
	LevelOptions []int
	Emergency    int // the emergency level: its rows raise notifications
}

func (u *UI) queueData(r *http.Request, user User, refresh bool) (queueData, error) {
	q := r.URL.Query()
	d := queueData{State: q.Get("state"), LevelOptions: []int{5, 6, 7, 8, 9, 10},
		Emergency: u.store.Routing().EmergencyLevel}
	if d.State != "watch" {
		d.State = "pending"
	}
	if n, err := strconv.Atoi(q.Get("level_min")); err == nil && n >= 0 && n <= 10 {
		d.LevelMin = n
	}
	cases, err := u.store.List(r.Context(), d.State, d.LevelMin, 200)
	if err != nil {
		return d, err
	}
	d.Cases = cases
	_ = u.store.auditListed(r.Context(), user.Name, "state="+d.State, refresh)
	return d, nil
}

func (u *UI) queuePage(w http.ResponseWriter, r *http.Request, user User) {
	d, err := u.queueData(r, user, false)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, "queue", user, T(langOf(r), "queue"), d)
}

// queueRows is the queue's table body, for the page's periodic refresh.
func (u *UI) queueRows(w http.ResponseWriter, r *http.Request, user User) {
	d, err := u.queueData(r, user, true)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.renderPart(w, r, "queue", "rows", user, d)
}

func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	u.log.Error("ui request failed", "err", err)
	http.Error(w, T(langOf(r), "msg_error"), http.StatusInternalServerError)
}

// msgFor maps a store error to a flash message key.
func msgFor(err error) (key, field string) {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		return "msg_invalid", ve.Field
	case errors.Is(err, ErrNone):
		return "msg_none", ""
	case errors.Is(err, ErrCap):
		return "msg_cap", ""
	case errors.Is(err, ErrTaken), errors.Is(err, ErrNotClaimable):
		return "msg_taken", ""
	case errors.Is(err, ErrStaleToken), errors.Is(err, ErrNotClaimed):
		return "msg_stale", ""
	case errors.Is(err, ErrNeverHeld):
		return "msg_never_held", ""
	case errors.Is(err, ErrNotFound):
		return "msg_not_found", ""
	case errors.Is(err, ErrNoUser):
		return "msg_no_user", ""
	case errors.Is(err, ErrNoSession):
		return "msg_session_ended", ""
	case errors.Is(err, ErrUserExists):
		return "msg_user_exists", ""
	case errors.Is(err, ErrLastAdmin):
		return "msg_last_admin", ""
	case errors.Is(err, ErrThrottled):
		return "msg_throttled", ""
	case errors.Is(err, ErrBadLogin):
		return "msg_password_wrong", ""
	}
	return "msg_error", ""
}

func (u *UI) back(w http.ResponseWriter, r *http.Request, path string, err error, ok string) {
	key, field := ok, ""
	if err != nil {
		key, field = msgFor(err)
		if key == "msg_error" {
			u.log.Error("ui action failed", "err", err)
		}
	}
	target := path + "?msg=" + key
	if field != "" {
		target += "&field=" + url.QueryEscape(field)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (u *UI) nextPost(w http.ResponseWriter, r *http.Request, user User) {
	l, err := u.store.Claim(r.Context(), user.Name, user.Role, "")
	if err != nil {
		u.back(w, r, "/", err, "")
		return
	}
	http.Redirect(w, r, "/cases/"+l.CaseID+"?msg=msg_claimed", http.StatusSeeOther)
}

func (u *UI) claimPost(w http.ResponseWriter, r *http.Request, user User) {
	id := r.PathValue("id")
	_, err := u.store.Claim(r.Context(), user.Name, user.Role, id)
	u.back(w, r, "/cases/"+id, err, "msg_claimed")
}

// actionPost handles the holder's forms: release, escalate, resolve,
// await a reply, note.
// The form carries the lease token rendered with the page, so a page left
// open after the lease was lost cannot act.
func (u *UI) actionPost(w http.ResponseWriter, r *http.Request, user User) {
	id := r.PathValue("id")
	token := r.PostFormValue("token")
	var err error
	var ok string
	switch action := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]; action {
	case "release":
		var to string
		to, err = u.store.Release(r.Context(), user.Name, id, token)
		ok = "msg_released_" + to
	case "escalate":
		err = u.store.Escalate(r.Context(), user.Name, id, token, r.PostFormValue("reason"), r.PostFormValue("note"))
		ok = "msg_escalated"
	case "await":
		_, err = u.store.AwaitReply(r.Context(), user.Name, id, token)
		ok = "msg_awaiting"
	case "notes":
		err, ok = u.store.AddNote(r.Context(), user.Name, user.Role, id, token, r.PostFormValue("text")), "msg_noted"
	case "resolve":
		res := Resolution{Outcome: r.PostFormValue("outcome"), Note: strings.TrimSpace(r.PostFormValue("note"))}
		if v := r.PostFormValue("corrected_level"); v != "" {
			if n, e := strconv.Atoi(v); e == nil {
				res.CorrectedLevel = &n
			} else {
				err = &ValidationError{Field: "corrected_level", Msg: "0-10"}
			}
		}
		if v := r.PostFormValue("tries"); v != "" && err == nil {
			if n, e := strconv.Atoi(v); e == nil {
				res.Tries = &n
			} else {
				err = &ValidationError{Field: "tries", Msg: "a number"}
			}
		}
		if v := r.PostFormValue("follow_up"); v != "" && err == nil {
			if t, e := time.ParseInLocation("2006-01-02T15:04", v, u.loc); e == nil {
				res.FollowUp = &t
			} else {
				err = &ValidationError{Field: "follow_up", Msg: "date and time"}
			}
		}
		if err == nil {
			err = u.store.Resolve(r.Context(), user.Name, id, token, res)
		}
		ok = "msg_resolved"
	}
	// After letting go of the case, the volunteer goes back to the queue:
	// they may no longer see the case.
	if err == nil && ok != "msg_noted" && ok != "msg_awaiting" {
		http.Redirect(w, r, "/?msg="+ok, http.StatusSeeOther)
		return
	}
	u.back(w, r, "/cases/"+id, err, ok)
}

func (u *UI) reassignPost(w http.ResponseWriter, r *http.Request, user User) {
	to, err := u.store.Reassign(r.Context(), user.Name, r.PathValue("id"))
	u.back(w, r, "/supervisor", err, "msg_reassigned_"+to)
}

func (u *UI) assignPost(w http.ResponseWriter, r *http.Request, user User) {
	_, err := u.store.Assign(r.Context(), user.Name, r.PathValue("id"), r.PostFormValue("to"))
	if errors.Is(err, ErrCap) {
		u.back(w, r, "/supervisor", nil, "msg_assign_cap")
		return
	}
	u.back(w, r, "/supervisor", err, "msg_assigned")
}

type caseData struct {
	Levels   []int
	D        Detail
	Activity []activity
	Holder   bool
	CanClaim bool
	CanNote  bool // the holder; while the case is open, whoever held it before, and supervisors
	Previous string
	Outcomes []string
	Reasons  []string
	IdleMs   int64 // caseIdle, for the page
	HoldMin  int   // minutes the holder may keep the case while awaiting a reply; 0 when the hold adds nothing to the lease
	Urgent   bool  // the case is at the emergency level
}

// caseIdle is how long the holder's case page renews the lease without
// a touch, a key or a scroll before it stops and asks whether they are
// still on the case; unanswered, the lease runs out by itself and the
// case goes back where it waited. A tab left open on a desk must not
// hold an emergency all night.
const caseIdle = 30 * time.Minute

func (u *UI) casePage(w http.ResponseWriter, r *http.Request, user User) {
	id := r.PathValue("id")
	c, err := u.store.peek(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		http.Error(w, T(langOf(r), "msg_not_found"), http.StatusNotFound)
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	holder := c.State == "claimed" && c.Owner == user.Name
	reveal := holder || user.Role.AtLeast(RoleSupervisor)
	if !reveal && c.State != "pending" && c.State != "watch" {
		_ = u.store.auditEvent(r.Context(), id, user.Name, "denied", "view")
		http.Error(w, T(langOf(r), "msg_forbidden"), http.StatusForbidden)
		return
	}
	d, err := u.store.Get(r.Context(), user.Name, id, reveal)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	events, err := u.store.Audit(r.Context(), id, 0)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	canClaim := c.State == "pending" || c.State == "watch" || (c.State == "escalated" && user.Role.AtLeast(RoleSupervisor))
	open := c.State == "pending" || c.State == "watch" || c.State == "claimed" || c.State == "escalated"
	canNote := holder || (open && (d.HeldBefore || user.Role.AtLeast(RoleSupervisor)))
	rt, holdMin := u.store.Routing(), 0
	if h := rt.HoldAt(d.Level); h > rt.Lease {
		holdMin = int(h.Minutes())
	}
	u.render(w, r, "case", user, T(langOf(r), "case"), caseData{Levels: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, D: d, Activity: caseActivity(events), Holder: holder, CanClaim: canClaim,
		CanNote: canNote, Previous: c.Previous, Outcomes: OutcomeCodes, Reasons: EscalateReasons, IdleMs: caseIdle.Milliseconds(), HoldMin: holdMin,
		Urgent: d.Level >= rt.EmergencyLevel})
}

// okMessages are the flash messages that report a success (shown calm,
// not as a warning).
var okMessages = map[string]bool{
	"msg_claimed": true, "msg_assigned": true, "msg_awaiting": true, "msg_escalated": true, "msg_resolved": true, "msg_noted": true,
	"msg_released_pending": true, "msg_released_watch": true, "msg_released_escalated": true,
	"msg_reassigned_pending": true, "msg_reassigned_watch": true, "msg_reassigned_escalated": true,
	"msg_settings_saved": true, "msg_shadow_started": true, "msg_shadow_stopped": true,
	"msg_password_changed": true, "msg_user_added": true, "msg_user_role_set": true, "msg_user_enabled": true,
	"msg_user_disabled": true, "msg_released_all": true,
}

// activity is one step of a case's handling as its page lists it: who
// did what when, from the case's audit log (ids and codes, no content).
type activity struct {
	TS     int64
	Actor  string
	Action string // the message key of the action: act_…
	Detail string // the message key of its reason or outcome, or ""
	Level  int    // the level a new post brought, or -1
	To     string // whom a supervisor assigned the case to
	Tries  int    // how many times the volunteer tried to reach the person, or 0
}

// activityActions are the audit actions a case page lists: what changed
// the case, not who read it.
var activityActions = map[string]bool{
	"created": true, "post_added": true, "claimed": true, "awaiting_reply": true, "hold_shortened": true, "released": true, "lease_expired": true, "escalated": true,
	"reassigned": true, "assigned": true, "overdue": true, "resolved": true, "follow_up_due": true, "author_erased": true,
}

// caseActivity picks a case's steps from its audit log (oldest first),
// newest first, as the posts are.
func caseActivity(events []AuditEvent) []activity {
	var out []activity
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		if !activityActions[e.Action] {
			continue
		}
		a := activity{TS: e.TS, Actor: e.Actor, Action: "act_" + e.Action, Level: -1}
		for _, f := range strings.Fields(e.Detail) {
			k, v, _ := strings.Cut(f, "=")
			switch {
			case k == "reason" && e.Action == "escalated":
				a.Detail = "esc_" + v
			case k == "outcome" && e.Action == "resolved":
				a.Detail = "out_" + v
			case k == "to" && e.Action == "assigned":
				a.To = v
			case k == "to":
				a.Detail = "to_" + v // where a released case went back
			case k == "tries" && e.Action == "resolved":
				a.Tries, _ = strconv.Atoi(v)
			case k == "level" && e.Action != "overdue":
				a.Level, _ = strconv.Atoi(v)
			}
		}
		if _, ok := messages[a.Detail]; !ok {
			a.Detail = ""
		}
		out = append(out, a)
	}
	return out
}

// releaseAllPost lets go of every case the user holds: the end of a
// shift, or a night that has become too much.
func (u *UI) releaseAllPost(w http.ResponseWriter, r *http.Request, user User) {
	n, err := u.store.ReleaseAll(r.Context(), user.Name)
	if err != nil {
		u.back(w, r, "/mine", err, "")
		return
	}
	http.Redirect(w, r, "/mine?msg=msg_released_all&field="+strconv.Itoa(n), http.StatusSeeOther)
}

type mineData struct {
	Held    []HeldCase
	History []AuditEvent
	IdleMs  int64 // caseIdle: the page keeps every lease it lists, while someone is there
}

func (u *UI) minePage(w http.ResponseWriter, r *http.Request, user User) {
	var d mineData
	var err error
	d.Held, err = u.store.HeldCases(r.Context(), user.Name)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d.IdleMs = caseIdle.Milliseconds()
	d.History, err = u.store.History(r.Context(), user.Name, 30, 5000)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, "mine", user, T(langOf(r), "mine"), d)
}

type supervisorData struct {
	Escalated, Claimed, Overdue, Emergency []Case
	EmergencyLevel                         int
	Users                                  []teamMember // active accounts, to hand a case to: on duty first
	OnDuty                                 []teamMember // those seen within onDutyWindow
}

// teamMember is an active account as supervisors see it: whether they are
// on duty (seen lately) and how many cases they hold.
type teamMember struct {
	Name           string
	Role           Role
	Held, HeldHigh int       // cases held, and of them at the emergency level or up
	LastSeen       time.Time // zero if never
	OnDuty         bool
}

func (u *UI) supervisorPage(w http.ResponseWriter, r *http.Request, user User) {
	if d, err := u.supervisorData(r, user, false); err != nil {
		u.fail(w, r, err)
	} else {
		u.render(w, r, "supervisor", user, T(langOf(r), "supervisor"), d)
	}
}

// supervisorRows is the supervisors' page without its frame: the page
// fetches it every 10 s, so an escalation or a new emergency case shows
// without a reload.
func (u *UI) supervisorRows(w http.ResponseWriter, r *http.Request, user User) {
	if d, err := u.supervisorData(r, user, true); err != nil {
		u.fail(w, r, err)
	} else {
		u.renderPart(w, r, "supervisor", "supervisor-rows", user, d)
	}
}

func (u *UI) supervisorData(r *http.Request, user User, refresh bool) (supervisorData, error) {
	var d supervisorData
	var err error
	if d.Escalated, err = u.store.List(r.Context(), "escalated", 0, 500); err != nil {
		return d, err
	}
	if d.Claimed, err = u.store.List(r.Context(), "claimed", 0, 500); err != nil {
		return d, err
	}
	pending, err := u.store.List(r.Context(), "pending", 0, 1000)
	if err != nil {
		return d, err
	}
	// The watch list's cases past their review target (24 h at level 5)
	// are overdue too: no one has looked at them.
	watch, err := u.store.List(r.Context(), "watch", 0, 1000)
	if err != nil {
		return d, err
	}
	emergency := u.store.Routing().EmergencyLevel
	d.EmergencyLevel = emergency
	for _, c := range append(pending, watch...) {
		if c.Overdue {
			d.Overdue = append(d.Overdue, c)
		}
		if c.Level >= emergency && c.State == "pending" {
			d.Emergency = append(d.Emergency, c)
		}
	}
	users, err := u.store.Users(r.Context())
	if err != nil {
		return d, err
	}
	held, high := map[string]int{}, map[string]int{}
	for _, c := range d.Claimed {
		held[c.Owner]++
		if c.Level >= emergency {
			high[c.Owner]++
		}
	}
	for _, a := range users {
		if a.Disabled {
			continue
		}
		m := teamMember{Name: a.Name, Role: a.Role, Held: held[a.Name], HeldHigh: high[a.Name], OnDuty: a.onDuty(u.store.clock())}
		if a.LastSeen != nil {
			m.LastSeen = *a.LastSeen
		}
		d.Users = append(d.Users, m)
		if m.OnDuty {
			d.OnDuty = append(d.OnDuty, m)
		}
	}
	// On duty first, then by name (Users are sorted by name).
	sort.SliceStable(d.Users, func(i, j int) bool { return d.Users[i].OnDuty && !d.Users[j].OnDuty })
	_ = u.store.auditListed(r.Context(), user.Name, "supervisor", refresh)
	return d, nil
}

// levelBand names the urgency band of a level, for colour (always shown
// with the number and words, never alone).
func levelBand(l int) string {
	switch {
	case l >= 9:
		return "emergency"
	case l >= 7:
		return "high"
	case l >= 6:
		return "queue"
	case l >= 5:
		return "watch"
	}
	return "low"
}

// sinceText says how long d is, to the minute: how long a case has waited
// (by Redis's clock, which stamped when it began to).
func sinceText(l Lang, d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	if l == LangEN {
		if h > 0 {
			return strconv.Itoa(h) + " h " + strconv.Itoa(m) + " min"
		}
		return strconv.Itoa(m) + " min"
	}
	if h > 0 {
		return strconv.Itoa(h) + " 小时 " + strconv.Itoa(m) + " 分"
	}
	return strconv.Itoa(m) + " 分钟"
}

// segment is a run of post text, marked when it is evidence.
type segment struct {
	Text string
	Kind string // "" for plain text
}

// segmentsOf splits a post's text at its evidence spans (rune offsets),
// for highlighting. Overlapping spans keep the first; text is escaped by
// the template, never trusted.
func segmentsOf(text string, ev []classifier.Evidence) []segment {
	r := []rune(text)
	spans := append([]classifier.Evidence(nil), ev...)
	sort.Slice(spans, func(i, j int) bool { return spans[i].Start < spans[j].Start })
	var out []segment
	at := 0
	for _, e := range spans {
		if e.Start < at || e.End > len(r) || e.Start >= e.End {
			continue
		}
		if e.Start > at {
			out = append(out, segment{Text: stripBidi(string(r[at:e.Start]))})
		}
		out = append(out, segment{Text: stripBidi(string(r[e.Start:e.End])), Kind: string(e.Kind)})
		at = e.End
	}
	if at < len(r) {
		out = append(out, segment{Text: stripBidi(string(r[at:]))})
	}
	return out
}
