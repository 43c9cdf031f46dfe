package triage

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// errLost stands for Redis lost between two commands.
var errLost = errors.New("connection lost (injected)")

// auditFault fails, before it reaches Redis, any command or pipeline
// that carries an audit entry of the action it is set to: as if Redis
// were lost between a change and its audit entry.
type auditFault struct{ action atomic.Value }

func (f *auditFault) carries(cmd redis.Cmder) bool {
	action, _ := f.action.Load().(string)
	if n := cmd.Name(); action == "" || (n != "eval" && n != "evalsha") {
		return false
	}
	for _, a := range cmd.Args() {
		if a == action {
			return true
		}
	}
	return false
}

func (f *auditFault) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *auditFault) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if f.carries(cmd) {
			cmd.SetErr(errLost)
			return errLost
		}
		return next(ctx, cmd)
	}
}

func (f *auditFault) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if f.carries(c) {
				return errLost
			}
		}
		return next(ctx, cmds)
	}
}

// TestChangesAndTheirAuditTogether (S5): a change of an account, a
// session, the settings or the shadow test, and its audit entry are written together or not at all. With
// Redis lost where the audit entry would go, the change is not made
// either; done again, it is made and audited once.
func TestChangesAndTheirAuditTogether(t *testing.T) {
	s, rs := newTestStore(t)
	fault := &auditFault{}
	rs.Client.AddHook(fault)
	ctx := ctxT()
	addUser(t, s, "root", RoleAdmin)
	addUser(t, s, "vol", RoleVolunteer)
	addUser(t, s, "off", RoleVolunteer)
	if _, err := s.DisableUser(ctx, "root", "off"); err != nil {
		t.Fatal(err)
	}
	user := func(name string) User {
		u, err := s.user(ctx, name)
		if err != nil && !errors.Is(err, ErrNoUser) {
			t.Fatal(err)
		}
		return u
	}
	var tok string
	candidate := DefaultRouting()
	candidate.QueueLevel = 7
	for _, c := range []struct {
		action string
		do     func() error
		done   func() bool
	}{
		{"login", func() error {
			var err error
			tok, _, err = s.Login(ctx, "vol", "password-vol", "127.0.0.3")
			return err
		},
			func() bool { _, err := s.Session(ctx, tok); return tok != "" && err == nil }},
		{"logout", func() error { return s.Logout(ctx, tok, "vol") },
			func() bool { _, err := s.Session(ctx, tok); return errors.Is(err, ErrNoSession) }},
		{"user_added", func() error { return s.AddUser(ctx, "root", "new.vol", RoleVolunteer, "password-new") },
			func() bool { return user("new.vol").Name != "" }},
		{"user_role_set", func() error { return s.SetRole(ctx, "root", "vol", RoleSupervisor) },
			func() bool { return user("vol").Role == RoleSupervisor }},
		{"password_reset", func() error { return s.SetPassword(ctx, "root", "vol", "another-password") },
			func() bool { _, err := s.checkPassword(ctx, "vol", "another-password", "127.0.0.2"); return err == nil }},
		{"user_disabled", func() error { _, err := s.DisableUser(ctx, "root", "vol"); return err },
			func() bool { return user("vol").Disabled }},
		{"user_enabled", func() error { return s.EnableUser(ctx, "root", "off") },
			func() bool { return !user("off").Disabled }},
		{"settings_changed", func() error { _, err := s.SaveSettings(ctx, "root", "test", candidate); return err },
			func() bool { _, ok, err := s.CurrentSettings(ctx); return err == nil && ok }},
		{"shadow_started", func() error { return s.SetShadow(ctx, "root", candidate) },
			func() bool { return s.rdb.Exists(ctx, keyShadow).Val() == 1 }},
		{"shadow_stopped", func() error { return s.ClearShadow(ctx, "root") },
			func() bool { return s.rdb.Exists(ctx, keyShadow).Val() == 0 }},
	} {
		before := auditCount(t, s, "", 1000, isAction(c.action))
		fault.action.Store(c.action)
		if err := c.do(); !errors.Is(err, errLost) {
			t.Errorf("%s with Redis lost at its audit entry: %v", c.action, err)
		}
		fault.action.Store("")
		if c.done() {
			t.Errorf("%s: the change was made without its audit entry", c.action)
		}
		if n := auditCount(t, s, "", 1000, isAction(c.action)) - before; n != 0 {
			t.Errorf("%s: %d entries of a change that failed", c.action, n)
		}
		if err := c.do(); err != nil {
			t.Fatalf("%s again: %v", c.action, err)
		}
		if !c.done() {
			t.Errorf("%s: not made the second time", c.action)
		}
		if n := auditCount(t, s, "", 1000, isAction(c.action)) - before; n != 1 {
			t.Errorf("%s: %d audit entries, want 1", c.action, n)
		}
	}
}
