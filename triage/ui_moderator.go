package triage

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type moderatorData struct {
	InForce   Routing
	Form      Routing // what the form shows: in force, or the proposal being previewed
	Why       string
	Preview   *Preview
	History   []SettingsVersion
	Shadow    ShadowReport
	Precision Precision
	Levels    []int
	Error     string
	// ExportText says whether the labeled export may carry the posts' text.
	ExportText bool
}

// routingFromForm reads the settings form over the settings in force.
func (u *UI) routingFromForm(r *http.Request) (Routing, error) {
	j := map[string]any{}
	for _, f := range []string{"watch_level", "queue_level", "emergency_level", "cap_total", "cap_high"} {
		if v := strings.TrimSpace(r.PostFormValue(f)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return Routing{}, &ValidationError{Field: f, Msg: "a whole number"}
			}
			j[f] = n
		}
	}
	if v := strings.TrimSpace(r.PostFormValue("p_high")); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return Routing{}, &ValidationError{Field: "p_high", Msg: "a number"}
		}
		j["p_high"] = f
	}
	for _, f := range []string{"lease", "hold", "hold_emergency", "retention"} {
		if v := strings.TrimSpace(r.PostFormValue(f)); v != "" {
			j[f] = v
		}
	}
	targets := map[string]string{}
	for l := 5; l <= 10; l++ {
		if v := strings.TrimSpace(r.PostFormValue("target_" + strconv.Itoa(l))); v != "" {
			targets[strconv.Itoa(l)] = v
		}
	}
	j["claim_targets"] = targets
	b, _ := json.Marshal(j)
	return ParseRouting(b, u.store.Routing())
}

func (u *UI) moderatorData(r *http.Request) (moderatorData, error) {
	d := moderatorData{InForce: u.store.Routing(), Levels: []int{5, 6, 7, 8, 9, 10}, ExportText: u.exportText}
	d.Form = d.InForce
	var err error
	if d.History, err = u.store.SettingsHistory(r.Context()); err != nil {
		return d, err
	}
	if d.Shadow, err = u.store.Shadow(r.Context()); err != nil {
		return d, err
	}
	if d.Precision, err = u.store.Precision(r.Context(), u.store.clock().AddDate(0, 0, -PrecisionDays), u.loc); err != nil {
		return d, err
	}
	return d, nil
}

func (u *UI) moderatorPage(w http.ResponseWriter, r *http.Request, user User) {
	d, err := u.moderatorData(r)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, "moderator", user, T(langOf(r), "moderation"), d)
}

// moderatorPost handles preview, save, shadow start and stop, rollback.
func (u *UI) moderatorPost(w http.ResponseWriter, r *http.Request, user User) {
	d, err := u.moderatorData(r)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	action := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	var ve *ValidationError
	switch action {
	case "stop-shadow":
		err = u.store.ClearShadow(r.Context(), user.Name)
		u.back(w, r, "/moderator", err, "msg_shadow_stopped")
		return
	case "rollback":
		v, perr := strconv.ParseInt(r.PostFormValue("version"), 10, 64)
		if perr != nil {
			err = &ValidationError{Field: "version", Msg: "a version number"}
		} else {
			_, err = u.store.Rollback(r.Context(), user.Name, v, r.PostFormValue("why"))
		}
		u.back(w, r, "/moderator", err, "msg_settings_saved")
		return
	}
	rt, err := u.routingFromForm(r)
	d.Why = r.PostFormValue("why")
	if err == nil {
		d.Form = rt
		switch action {
		case "preview":
			var pv Preview
			pv, err = u.store.Preview(r.Context(), rt, u.store.clock().Add(-24*time.Hour))
			d.Preview = &pv
		case "settings":
			if _, err = u.store.SaveSettings(r.Context(), user.Name, d.Why, rt); err == nil {
				http.Redirect(w, r, "/moderator?msg=msg_settings_saved", http.StatusSeeOther)
				return
			}
		case "shadow":
			if err = u.store.SetShadow(r.Context(), user.Name, rt); err == nil {
				http.Redirect(w, r, "/moderator?msg=msg_shadow_started", http.StatusSeeOther)
				return
			}
		}
	}
	if err != nil {
		if !errors.As(err, &ve) {
			u.fail(w, r, err)
			return
		}
		d.Error = ve.Error()
		w.WriteHeader(http.StatusBadRequest)
	}
	u.render(w, r, "moderator", user, T(langOf(r), "moderation"), d)
}
