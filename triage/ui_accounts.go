package triage

import (
	"net/http"
	"strconv"
)

// The account pages: every user's own password, and the admins' list of
// accounts (add, role, disable, enable, reset a password).

func (u *UI) accountPage(w http.ResponseWriter, r *http.Request, user User) {
	u.render(w, r, "account", user, T(langOf(r), "account"), nil)
}

// passwordPost changes the caller's own password. Every session of the
// account ends; the caller's browser gets a new one.
func (u *UI) passwordPost(w http.ResponseWriter, r *http.Request, user User) {
	next := r.PostFormValue("new")
	if next != r.PostFormValue("again") {
		u.back(w, r, "/account", nil, "msg_password_mismatch")
		return
	}
	token, err := u.store.ChangePassword(r.Context(), user.Name, r.PostFormValue("current"), next, clientAddr(r))
	if err != nil {
		u.back(w, r, "/account", err, "")
		return
	}
	u.setSession(w, token)
	http.Redirect(w, r, "/account?msg=msg_password_changed", http.StatusSeeOther)
}

// usersData is the admins' page: the accounts, the cases each holds, and
// a password just generated, shown once.
type usersData struct {
	Users []User
	Held  map[string]int
	Roles []Role
	Once  *oncePassword
}

type oncePassword struct{ Name, Password string }

func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, user User) {
	u.renderUsers(w, r, user, nil)
}

// renderUsers renders the admins' page, with a generated password when
// once is set: it is in this response only (pages are not cached), never
// in a URL or a log.
func (u *UI) renderUsers(w http.ResponseWriter, r *http.Request, user User, once *oncePassword) {
	users, err := u.store.Users(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	names := make([]string, len(users))
	for i, a := range users {
		names[i] = a.Name
	}
	held, err := u.store.HeldCounts(r.Context(), names)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, "users", user, T(langOf(r), "users"), usersData{Users: users, Held: held, Roles: Roles, Once: once})
}

func (u *UI) userAddPost(w http.ResponseWriter, r *http.Request, user User) {
	name, pw := r.PostFormValue("name"), GeneratePassword()
	if err := u.store.AddUser(r.Context(), user.Name, name, Role(r.PostFormValue("role")), pw); err != nil {
		u.back(w, r, "/admin/users", err, "")
		return
	}
	u.renderUsers(w, r, user, &oncePassword{Name: name, Password: pw})
}

func (u *UI) userRolePost(w http.ResponseWriter, r *http.Request, user User) {
	err := u.store.SetRole(r.Context(), user.Name, r.PathValue("name"), Role(r.PostFormValue("role")))
	u.back(w, r, "/admin/users", err, "msg_user_role_set")
}

func (u *UI) userDisablePost(w http.ResponseWriter, r *http.Request, user User) {
	back, err := u.store.DisableUser(r.Context(), user.Name, r.PathValue("name"))
	if err != nil {
		u.back(w, r, "/admin/users", err, "")
		return
	}
	http.Redirect(w, r, "/admin/users?msg=msg_user_disabled&field="+strconv.Itoa(back), http.StatusSeeOther)
}

func (u *UI) userEnablePost(w http.ResponseWriter, r *http.Request, user User) {
	err := u.store.EnableUser(r.Context(), user.Name, r.PathValue("name"))
	u.back(w, r, "/admin/users", err, "msg_user_enabled")
}

func (u *UI) userPasswordPost(w http.ResponseWriter, r *http.Request, user User) {
	name, pw := r.PathValue("name"), GeneratePassword()
	if err := u.store.SetPassword(r.Context(), user.Name, name, pw); err != nil {
		u.back(w, r, "/admin/users", err, "")
		return
	}
	u.renderUsers(w, r, user, &oncePassword{Name: name, Password: pw})
}
