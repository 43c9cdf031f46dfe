package triage

import (
	"net/http"
	"net/url"
)

// auditActions are the actions the audit log records, for the audit
// page's filter.
var auditActions = []string{
	"archived", "assigned", "audit_read", "author_erased", "awaiting_reply", "claimed", "created", "denied",
	"escalated", "exported", "follow_up_due", "hold_shortened", "lease_expired", "listed", "login",
	"login_failed", "login_throttled", "logout", "note_added", "overdue", "password_changed", "password_reset",
	"post_added", "reassigned", "rejected", "released", "repaired", "resolved", "settings_changed",
	"shadow_started", "shadow_stopped", "user_added", "user_disabled", "user_enabled", "user_role_set",
	"viewed_redacted", "viewed_revealed",
}

// auditData is the audit page: the filters, the events and the link to
// older ones.
type auditData struct {
	Case, Actor, Action string
	Events              []AuditEvent
	Older               string // the URL of the next, older page, or ""
	Users               []string
	Actions             []string
}

// auditPage lets supervisors and admins read the audit log: who read or
// did what, when, to which case — ids and codes only. Each page read is
// itself audited.
func (u *UI) auditPage(w http.ResponseWriter, r *http.Request, user User) {
	q := r.URL.Query()
	d := auditData{Case: q.Get("case"), Actor: q.Get("actor"), Action: q.Get("action"), Actions: auditActions}
	events, next, err := u.store.SearchAudit(r.Context(), user.Name,
		AuditQuery{Case: d.Case, Actor: d.Actor, Action: d.Action, Before: q.Get("before"), Limit: 200})
	if err != nil {
		if key, _ := msgFor(err); key != "msg_error" {
			u.back(w, r, "/audit", err, "")
			return
		}
		u.fail(w, r, err)
		return
	}
	d.Events = events
	if next != "" {
		v := url.Values{"before": {next}}
		for k, f := range map[string]string{"case": d.Case, "actor": d.Actor, "action": d.Action} {
			if f != "" {
				v.Set(k, f)
			}
		}
		d.Older = "/audit?" + v.Encode()
	}
	users, err := u.store.Users(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	for _, a := range users {
		d.Users = append(d.Users, a.Name)
	}
	u.render(w, r, "audit", user, T(langOf(r), "audit_log"), d)
}
