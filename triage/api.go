package triage

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// APIOptions configures the HTTP API.
type APIOptions struct {
	Store  *Store
	Logger *slog.Logger
	// Registerer receives the HTTP metrics; nil registers none.
	Registerer prometheus.Registerer
	// InsecureCookies drops the Secure attribute of the session cookie,
	// for plain-HTTP development on a non-localhost address.
	InsecureCookies bool
	// Location is the zone whose Mondays begin the weeks of the precision
	// by week, and whose midnight begins an export's date (default: the
	// machine's), as on the moderators' page.
	Location *time.Location
	// ExportText lets moderators download the labeled export with the
	// posts' text (where retention keeps it); off, the labels alone.
	ExportText bool
}

// route is one entry of the API's access table. Every route is in the
// table with the lowest role that may call it; anything else is denied.
type route struct {
	Method, Pattern string
	Min             Role // "" = anyone, logged in or not
	handle          func(w http.ResponseWriter, r *http.Request, u User)
}

// API serves /api/v1.
type API struct {
	store   *Store
	log     *slog.Logger
	secure  bool
	loc     *time.Location
	text    bool // ExportText
	routes  []route
	metrics *httpMetrics
}

const sessionCookie = "lookout_session"

// maxBodyBytes caps every request body.
const maxBodyBytes = 64 << 10

// NewAPI returns the API handler.
func NewAPI(o APIOptions) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	a := &API{store: o.Store, log: o.Logger.With("component", "triage.api"), secure: !o.InsecureCookies, loc: o.Location,
		text: o.ExportText, metrics: newHTTPMetrics(o.Registerer)}
	a.routes = []route{
		{"POST", "/api/v1/login", "", a.login},
		{"POST", "/api/v1/logout", RoleVolunteer, a.logout},
		{"GET", "/api/v1/me", RoleVolunteer, a.me},
		{"GET", "/api/v1/cases", RoleVolunteer, a.listCases},
		{"POST", "/api/v1/cases/next", RoleVolunteer, a.next},
		{"GET", "/api/v1/cases/{id}", RoleVolunteer, a.getCase},
		{"POST", "/api/v1/cases/{id}/claim", RoleVolunteer, a.claimCase},
		{"POST", "/api/v1/cases/{id}/renew", RoleVolunteer, a.renew},
		{"POST", "/api/v1/cases/{id}/await", RoleVolunteer, a.awaitReply},
		{"POST", "/api/v1/cases/{id}/release", RoleVolunteer, a.release},
		{"POST", "/api/v1/cases/{id}/escalate", RoleVolunteer, a.escalate},
		{"POST", "/api/v1/cases/{id}/resolve", RoleVolunteer, a.resolve},
		{"POST", "/api/v1/cases/{id}/notes", RoleVolunteer, a.addNote},
		{"POST", "/api/v1/cases/{id}/assign", RoleSupervisor, a.assign},
		{"GET", "/api/v1/audit", RoleSupervisor, a.audit},
		{"GET", "/api/v1/settings", RoleModerator, a.getSettings},
		{"PUT", "/api/v1/settings", RoleModerator, a.putSettings},
		{"POST", "/api/v1/settings/preview", RoleModerator, a.previewSettings},
		{"GET", "/api/v1/settings/history", RoleModerator, a.settingsHistory},
		{"POST", "/api/v1/settings/rollback", RoleModerator, a.rollbackSettings},
		{"PUT", "/api/v1/settings/shadow", RoleModerator, a.putShadow},
		{"DELETE", "/api/v1/settings/shadow", RoleModerator, a.deleteShadow},
		{"GET", "/api/v1/stats/precision", RoleModerator, a.precision},
		{"GET", "/api/v1/export/labels", RoleModerator, a.exportLabels},
		{"POST", "/api/v1/authors/erase", RoleAdmin, a.eraseAuthor},
		{"GET", "/api/v1/users", RoleAdmin, a.listUsers},
		{"POST", "/api/v1/users", RoleAdmin, a.addUser},
		{"PATCH", "/api/v1/users/{name}", RoleAdmin, a.updateUser},
		{"POST", "/api/v1/users/{name}/password", RoleAdmin, a.resetPassword},
		{"POST", "/api/v1/me/password", RoleVolunteer, a.changePassword},
		{"POST", "/api/v1/me/release-all", RoleVolunteer, a.releaseAll},
	}
	return a
}

// Routes returns the access table: method, pattern and lowest role.
func (a *API) Routes() [][3]string {
	out := make([][3]string, len(a.routes))
	for i, r := range a.routes {
		out[i] = [3]string{r.Method, r.Pattern, string(r.Min)}
	}
	return out
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.routes {
		mux.Handle(rt.Method+" "+rt.Pattern, a.wrap(rt))
	}
	// Anything else under /api/ is a JSON 404, not the UI.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API route")
	})
}

// statusWriter records the status for metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (a *API) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: 200}
		defer func() {
			a.metrics.observe(rt.Pattern, r.Method, sw.status, time.Since(start))
		}()
		r.Body = http.MaxBytesReader(sw, r.Body, maxBodyBytes)
		w.Header().Set("Cache-Control", "no-store")
		var u User
		if rt.Min != "" {
			var err error
			u, err = a.store.authorize(r.Context(), sessionToken(r), rt.Min, rt.Method+" "+rt.Pattern)
			switch {
			case errors.Is(err, ErrNoSession):
				writeError(sw, http.StatusUnauthorized, "log in first")
				return
			case errors.Is(err, ErrForbidden):
				writeError(sw, http.StatusForbidden, err.Error())
				return
			case err != nil:
				a.internal(sw, err)
				return
			}
		}
		rt.handle(sw, r, u)
	})
}

func sessionToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && h[:7] == "Bearer " {
		return h[7:]
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// internal answers 500 without detail and logs the error (errors here
// carry no post text: store errors name operations, not content).
func (a *API) internal(w http.ResponseWriter, err error) {
	a.log.Error("request failed", "err", err)
	writeError(w, http.StatusInternalServerError, "internal error; try again")
}

// decode reads a JSON body into v, rejecting unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body over 64 KiB")
			return false
		}
		writeError(w, http.StatusBadRequest, "body must be a JSON object of the documented fields ("+
			strings.Join(jsonFields(v), ", ")+"): "+jsonProblem(err))
		return false
	}
	return true
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "field " + strconv.Quote(te.Field) + " has the wrong type"
	}
	// The name of an unknown field is the client's input: not echoed.
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		return "an unknown field"
	}
	return "malformed"
}

// jsonFields lists the JSON field names of the struct v points to.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(reflect.New(f.Type).Interface())...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// caseError maps store errors to statuses.
func (a *API) caseError(w http.ResponseWriter, err error) {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		writeError(w, http.StatusBadRequest, ve.Error())
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoUser):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrNeverHeld):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, ErrNoSession):
		writeError(w, http.StatusUnauthorized, "log in first")
	case errors.Is(err, ErrUserExists), errors.Is(err, ErrLastAdmin):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrStaleToken), errors.Is(err, ErrNotClaimed), errors.Is(err, ErrTaken),
		errors.Is(err, ErrNotClaimable), errors.Is(err, ErrAlreadyYours):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrCap):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "storage is not answering; try again")
	default:
		a.internal(w, err)
	}
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *API) login(w http.ResponseWriter, r *http.Request, _ User) {
	var req struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Name == "" || req.Password == "" {
		writeError(w, http.StatusBadRequest, "name and password are required")
		return
	}
	token, u, err := a.store.Login(r.Context(), req.Name, req.Password, clientAddr(r))
	switch {
	case errors.Is(err, ErrThrottled):
		writeError(w, http.StatusTooManyRequests, err.Error())
		return
	case errors.Is(err, ErrBadLogin):
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	case err != nil:
		a.internal(w, err)
		return
	}
	a.setSession(w, token)
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "user": u})
}

// setSession gives the caller's browser its session cookie (scripts use
// the token in the answer).
func (a *API) setSession(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: a.secure, SameSite: http.SameSiteStrictMode, MaxAge: int(SessionTTL.Seconds())})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request, u User) {
	if err := a.store.Logout(r.Context(), sessionToken(r), u.Name); err != nil {
		a.internal(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: a.secure, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) me(w http.ResponseWriter, r *http.Request, u User) {
	held, err := a.store.Held(r.Context(), u.Name)
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": u, "held": held})
}

func (a *API) listCases(w http.ResponseWriter, r *http.Request, u User) {
	q := r.URL.Query()
	state := q.Get("state")
	levelMin, limit := 0, 200
	if v := q.Get("level_min"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 10 {
			writeError(w, http.StatusBadRequest, "level_min: must be 0-10")
			return
		}
		levelMin = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit: must be 1-1000")
			return
		}
		limit = n
	}
	if !u.Role.AtLeast(RoleSupervisor) && (state == "claimed" || state == "escalated") {
		writeError(w, http.StatusForbidden, "volunteers list pending and watch cases only")
		return
	}
	cases, err := a.store.List(r.Context(), state, levelMin, limit)
	if err != nil {
		a.caseError(w, err)
		return
	}
	_ = a.store.auditEvent(r.Context(), "", u.Name, "listed", "state="+state)
	writeJSON(w, http.StatusOK, map[string]any{"cases": cases})
}

func (a *API) next(w http.ResponseWriter, r *http.Request, u User) {
	lease, err := a.store.Claim(r.Context(), u.Name, u.Role, "")
	if errors.Is(err, ErrNone) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, lease)
}

func (a *API) claimCase(w http.ResponseWriter, r *http.Request, u User) {
	lease, err := a.store.Claim(r.Context(), u.Name, u.Role, r.PathValue("id"))
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, lease)
}

// assign is a supervisor's hand-over of a case to a named user. The
// lease's token is the assignee's, so it is not returned.
func (a *API) assign(w http.ResponseWriter, r *http.Request, u User) {
	var req struct {
		To string `json:"to"`
	}
	if !decode(w, r, &req) {
		return
	}
	lease, err := a.store.Assign(r.Context(), u.Name, r.PathValue("id"), req.To)
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"case_id": lease.CaseID, "to": req.To, "deadline": lease.Deadline})
}

func (a *API) getCase(w http.ResponseWriter, r *http.Request, u User) {
	id := r.PathValue("id")
	// Decide what the caller may see from the summary first.
	cases, err := a.store.peek(r.Context(), id)
	if err != nil {
		a.caseError(w, err)
		return
	}
	reveal := u.Role.AtLeast(RoleSupervisor) || (cases.State == "claimed" && cases.Owner == u.Name)
	if !reveal && cases.State != "pending" && cases.State != "watch" {
		_ = a.store.auditEvent(r.Context(), id, u.Name, "denied", "view")
		writeError(w, http.StatusForbidden, "this case is held by another volunteer or closed")
		return
	}
	d, err := a.store.Get(r.Context(), u.Name, id, reveal)
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

type tokenReq struct {
	Token string `json:"token"`
}

func (a *API) renew(w http.ResponseWriter, r *http.Request, u User) {
	var req tokenReq
	if !decode(w, r, &req) {
		return
	}
	renewal, err := a.store.Renew(r.Context(), u.Name, r.PathValue("id"), req.Token)
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, renewal)
}

// awaitReply keeps the holder's case while they wait for the person's
// reply elsewhere (the routing's hold).
func (a *API) awaitReply(w http.ResponseWriter, r *http.Request, u User) {
	var req tokenReq
	if !decode(w, r, &req) {
		return
	}
	deadline, err := a.store.AwaitReply(r.Context(), u.Name, r.PathValue("id"), req.Token)
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]time.Time{"deadline": deadline})
}

func (a *API) release(w http.ResponseWriter, r *http.Request, u User) {
	var req tokenReq
	if !decode(w, r, &req) {
		return
	}
	state, err := a.store.Release(r.Context(), u.Name, r.PathValue("id"), req.Token)
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": state})
}

func (a *API) escalate(w http.ResponseWriter, r *http.Request, u User) {
	var req struct {
		Token  string `json:"token"`
		Reason string `json:"reason"`
		Note   string `json:"note"`
	}
	if !decode(w, r, &req) {
		return
	}
	if err := a.store.Escalate(r.Context(), u.Name, r.PathValue("id"), req.Token, req.Reason, req.Note); err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": "escalated"})
}

func (a *API) resolve(w http.ResponseWriter, r *http.Request, u User) {
	var req struct {
		Token string `json:"token"`
		Resolution
	}
	if !decode(w, r, &req) {
		return
	}
	if err := a.store.Resolve(r.Context(), u.Name, r.PathValue("id"), req.Token, req.Resolution); err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": "resolved"})
}

func (a *API) addNote(w http.ResponseWriter, r *http.Request, u User) {
	var req struct {
		Token string `json:"token"`
		Text  string `json:"text"`
	}
	if !decode(w, r, &req) {
		return
	}
	if err := a.store.AddNote(r.Context(), u.Name, u.Role, r.PathValue("id"), req.Token, req.Text); err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"status": "added"})
}

func (a *API) audit(w http.ResponseWriter, r *http.Request, u User) {
	limit := 200
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "limit: must be 1-10000")
			return
		}
		limit = n
	}
	q := r.URL.Query()
	ev, next, err := a.store.SearchAudit(r.Context(), u.Name, AuditQuery{Case: q.Get("case"), Actor: q.Get("actor"),
		Action: q.Get("action"), Before: q.Get("before"), Limit: limit})
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": ev, "next": next})
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, u User) {
	us, err := a.store.Users(r.Context())
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": us})
}

func (a *API) addUser(w http.ResponseWriter, r *http.Request, u User) {
	var req struct {
		Name     string `json:"name"`
		Role     Role   `json:"role"`
		Password string `json:"password"`
	}
	if !decode(w, r, &req) {
		return
	}
	var generated bool
	req.Password, generated = passwordOrGenerated(req.Password)
	if err := a.store.AddUser(r.Context(), u.Name, req.Name, req.Role, req.Password); err != nil {
		a.caseError(w, err)
		return
	}
	writeAccount(w, http.StatusCreated, map[string]any{"name": req.Name, "role": req.Role, "disabled": false}, req.Password, generated)
}

// passwordOrGenerated returns pw, or a generated password when pw is
// empty, and whether it was generated.
func passwordOrGenerated(pw string) (string, bool) {
	if pw == "" {
		return GeneratePassword(), true
	}
	return pw, false
}

// writeAccount answers an account call, with the password only when it
// was generated (shown once, to the admin who asked), kept out of caches.
func writeAccount(w http.ResponseWriter, status int, out map[string]any, password string, generated bool) {
	if generated {
		out["password"] = password
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, out)
}

// updateUser changes an account's role or disables or enables it. A
// disabled account's sessions end and its held cases go back where they
// waited; the answer counts them.
func (a *API) updateUser(w http.ResponseWriter, r *http.Request, u User) {
	var req struct {
		Role     *Role `json:"role"`
		Disabled *bool `json:"disabled"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Role == nil && req.Disabled == nil {
		writeError(w, http.StatusBadRequest, "role or disabled: give at least one")
		return
	}
	name := r.PathValue("name")
	back := 0
	var err error
	if req.Role != nil {
		err = a.store.SetRole(r.Context(), u.Name, name, *req.Role)
	}
	if err == nil && req.Disabled != nil {
		if *req.Disabled {
			back, err = a.store.DisableUser(r.Context(), u.Name, name)
		} else {
			err = a.store.EnableUser(r.Context(), u.Name, name)
		}
	}
	if err != nil {
		a.caseError(w, err)
		return
	}
	us, err := a.store.user(r.Context(), name)
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": us, "cases_returned": back})
}

// resetPassword sets an account's password (generated when none is
// given, and then returned once) and ends its sessions.
func (a *API) resetPassword(w http.ResponseWriter, r *http.Request, u User) {
	var req struct {
		Password string `json:"password"`
	}
	if !decode(w, r, &req) {
		return
	}
	var generated bool
	req.Password, generated = passwordOrGenerated(req.Password)
	name := r.PathValue("name")
	if err := a.store.SetPassword(r.Context(), u.Name, name, req.Password); err != nil {
		a.caseError(w, err)
		return
	}
	writeAccount(w, http.StatusOK, map[string]any{"name": name}, req.Password, generated)
}

// releaseAll lets go of every case the caller holds (the end of a shift).
func (a *API) releaseAll(w http.ResponseWriter, r *http.Request, u User) {
	n, err := a.store.ReleaseAll(r.Context(), u.Name)
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"released": n})
}

// changePassword is the caller's change of their own password: every
// session of the account ends, and the caller gets a new one.
func (a *API) changePassword(w http.ResponseWriter, r *http.Request, u User) {
	var req struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if !decode(w, r, &req) {
		return
	}
	token, err := a.store.ChangePassword(r.Context(), u.Name, req.Current, req.New, clientAddr(r))
	switch {
	case errors.Is(err, ErrThrottled):
		writeError(w, http.StatusTooManyRequests, err.Error())
		return
	case errors.Is(err, ErrBadLogin):
		writeError(w, http.StatusForbidden, "current: the password is wrong")
		return
	case err != nil:
		a.caseError(w, err)
		return
	}
	a.setSession(w, token)
	writeJSON(w, http.StatusOK, map[string]string{"token": token})
}

type settingsReq struct {
	Why     string          `json:"why"`
	Routing json.RawMessage `json:"routing"`
	Hours   int             `json:"hours"`
	Version int64           `json:"version"`
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request, u User) {
	cur, ok, err := a.store.CurrentSettings(r.Context())
	if err != nil {
		a.internal(w, err)
		return
	}
	sh, err := a.store.Shadow(r.Context())
	if err != nil {
		a.internal(w, err)
		return
	}
	if !ok {
		cur = SettingsVersion{Routing: a.store.Routing()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"current": cur, "in_force": a.store.Routing(), "shadow": sh})
}

// routingFrom parses a request's routing over the settings in force.
func (a *API) routingFrom(w http.ResponseWriter, raw json.RawMessage) (Routing, bool) {
	if len(raw) == 0 {
		writeError(w, http.StatusBadRequest, "routing: required")
		return Routing{}, false
	}
	rt, err := ParseRouting(raw, a.store.Routing())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return Routing{}, false
	}
	return rt, true
}

func (a *API) putSettings(w http.ResponseWriter, r *http.Request, u User) {
	var req settingsReq
	if !decode(w, r, &req) {
		return
	}
	rt, ok := a.routingFrom(w, req.Routing)
	if !ok {
		return
	}
	sv, err := a.store.SaveSettings(r.Context(), u.Name, req.Why, rt)
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sv)
}

func (a *API) previewSettings(w http.ResponseWriter, r *http.Request, u User) {
	var req settingsReq
	if !decode(w, r, &req) {
		return
	}
	rt, ok := a.routingFrom(w, req.Routing)
	if !ok {
		return
	}
	hours := req.Hours
	if hours == 0 {
		hours = 24
	}
	if hours < 1 || hours > 24*7 {
		writeError(w, http.StatusBadRequest, "hours: 1-168")
		return
	}
	pv, err := a.store.Preview(r.Context(), rt, a.store.clock().Add(-time.Duration(hours)*time.Hour))
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, pv)
}

func (a *API) settingsHistory(w http.ResponseWriter, r *http.Request, u User) {
	h, err := a.store.SettingsHistory(r.Context())
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": h})
}

func (a *API) rollbackSettings(w http.ResponseWriter, r *http.Request, u User) {
	var req settingsReq
	if !decode(w, r, &req) {
		return
	}
	sv, err := a.store.Rollback(r.Context(), u.Name, req.Version, req.Why)
	if err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sv)
}

func (a *API) putShadow(w http.ResponseWriter, r *http.Request, u User) {
	var req settingsReq
	if !decode(w, r, &req) {
		return
	}
	rt, ok := a.routingFrom(w, req.Routing)
	if !ok {
		return
	}
	if err := a.store.SetShadow(r.Context(), u.Name, rt); err != nil {
		a.caseError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"shadow": "started"})
}

func (a *API) deleteShadow(w http.ResponseWriter, r *http.Request, u User) {
	if err := a.store.ClearShadow(r.Context(), u.Name); err != nil {
		a.internal(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) precision(w http.ResponseWriter, r *http.Request, u User) {
	days := PrecisionDays
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 366 {
			writeError(w, http.StatusBadRequest, "days: 1-366")
			return
		}
		days = n
	}
	p, err := a.store.Precision(r.Context(), a.store.clock().AddDate(0, 0, -days), a.loc)
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// exportLabels downloads the outcome-labeled export (as export-labels
// writes it): ?since= a date or time, ?text=true for the posts' text,
// which the service must allow (APIOptions.ExportText). Each case whose
// text is read is audited as exported by the moderator. A failure once
// the download has begun aborts it, so that a cut file is not taken for
// a whole one.
func (a *API) exportLabels(w http.ResponseWriter, r *http.Request, u User) {
	q := r.URL.Query()
	o := ExportOptions{Actor: u.Name, NoText: true}
	if v := q.Get("since"); v != "" {
		t, err := ParseDateTime(v, a.loc)
		if err != nil {
			writeError(w, http.StatusBadRequest, "since: "+err.Error())
			return
		}
		o.Since = t
	}
	switch q.Get("text") {
	case "", "false":
	case "true":
		if !a.text {
			writeError(w, http.StatusForbidden, "this service exports no post text (serve --export-text); ask without text=true for the labels alone")
			return
		}
		o.NoText = false
	default:
		writeError(w, http.StatusBadRequest, "text: true or false")
		return
	}
	// A large export outlasts the server's write timeout, made for pages.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(exportWriteTime))
	w.Header().Set("Content-Type", "application/x-ndjson; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="lookout-labels.jsonl"`)
	out := &countingWriter{w: w}
	bw := bufio.NewWriter(out)
	lines, withText, err := a.store.ExportLabels(r.Context(), o, bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		if out.n == 0 {
			w.Header().Del("Content-Disposition")
			a.internal(w, err)
			return
		}
		a.log.Error("label export cut off", "err", err, "lines", lines)
		panic(http.ErrAbortHandler)
	}
	a.log.Info("labels exported", "lines", lines, "with_text", withText)
}

// exportWriteTime bounds writing one labeled export.
const exportWriteTime = 10 * time.Minute

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// eraseAuthor handles a deletion request: every record of the author goes.
// The author id is taken from the body, never from the URL (URLs are logged
// by proxies).
func (a *API) eraseAuthor(w http.ResponseWriter, r *http.Request, u User) {
	var req struct {
		AuthorID string `json:"author_id"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.AuthorID == "" {
		writeError(w, http.StatusBadRequest, "author_id: required")
		return
	}
	n, err := a.store.ForgetAuthor(r.Context(), u.Name, req.AuthorID)
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"cases_erased": n})
}
