package triage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
)

// Role is what an account may do. Each role may do all that the roles
// below it may.
type Role string

// The roles, lowest first.
const (
	RoleVolunteer  Role = "volunteer"
	RoleSupervisor Role = "supervisor"
	RoleModerator  Role = "moderator"
	RoleAdmin      Role = "admin"
)

var roleRank = map[Role]int{RoleVolunteer: 1, RoleSupervisor: 2, RoleModerator: 3, RoleAdmin: 4}

// Roles lists the roles, lowest first.
var Roles = []Role{RoleVolunteer, RoleSupervisor, RoleModerator, RoleAdmin}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return roleRank[r] > 0 }

// AtLeast reports whether r includes the powers of min.
func (r Role) AtLeast(min Role) bool { return roleRank[r] >= roleRank[min] && roleRank[r] > 0 }

// User is an account.
type User struct {
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Disabled bool   `json:"disabled"`
	// LastSeen is when the account last made a request (to a minute).
	LastSeen *time.Time `json:"last_seen,omitempty"`
	// epoch changes when the account's sessions must end (a new password,
	// the account disabled); a session opened under another epoch is void.
	epoch string
}

// Errors of accounts.
var (
	ErrBadLogin   = errors.New("wrong user name or password")
	ErrThrottled  = errors.New("too many failed logins; wait a few minutes")
	ErrNoSession  = errors.New("not logged in or session expired")
	ErrUserExists = errors.New("user already exists")
	ErrNoUser     = errors.New("no such user")
	ErrLastAdmin  = errors.New("the last active admin cannot be disabled or given another role")
)

var reUserName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,31}$`)

// SessionTTL is how long a session lasts without use.
const SessionTTL = 12 * time.Hour

// AddUser creates an account. The account and its audit entry are
// written in one transaction.
func (s *Store) AddUser(ctx context.Context, actor, name string, role Role, password string) error {
	switch {
	case !reUserName.MatchString(name):
		return &ValidationError{Field: "name", Msg: "2-32 characters of a-z, 0-9, '.', '_' or '-'"}
	case !role.Valid():
		return &ValidationError{Field: "role", Msg: "must be volunteer, supervisor, moderator or admin"}
	}
	hash, err := hashPassword("password", password)
	if err != nil {
		return err
	}
	add := func(tx *redis.Tx) error {
		n, err := tx.Exists(ctx, keyUser(name)).Result()
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrUserExists
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, keyUser(name), "name", name, "role", string(role), "hash", hash, "disabled", "0")
			p.SAdd(ctx, keyUsers, name)
			s.auditIn(ctx, p, "", actor, "user_added", "user="+name+" role="+string(role))
			return nil
		})
		return err
	}
	return s.watch(ctx, "add user", add, keyUser(name))
}

// passwordCost is bcrypt's cost for every password hash.
const passwordCost = bcrypt.DefaultCost

// hashPassword checks a new password's length and hashes it; field
// names the request field a bad one came in.
func hashPassword(field, password string) ([]byte, error) {
	if len(password) < 10 || len(password) > 72 {
		return nil, &ValidationError{Field: field, Msg: "10-72 bytes"}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), passwordCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

// GeneratePassword returns a random password of 16 characters, for an
// account an admin adds or resets without choosing one.
func GeneratePassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DisableUser disables an account: its sessions end at once and the
// cases it holds go back to where they waited (the person has left or
// the account is not theirs any more; an emergency must not wait out a
// lease). It returns how many cases went back. The last active admin
// cannot be disabled. The flag, the end of the sessions and the audit
// entry are one transaction; the cases go back after, each in its own
// audited step, so a repeat after a failure finishes them and audits
// the disable once.
func (s *Store) DisableUser(ctx context.Context, actor, name string) (int, error) {
	err := s.changeAccount(ctx, name, func(u User) accountChange {
		if u.Disabled {
			return accountChange{}
		}
		return accountChange{
			fields: []any{"disabled", "1"}, endSessions: true, guard: u.Role == RoleAdmin,
			actor: actor, action: "user_disabled", detail: "user=" + name,
		}
	})
	if err != nil {
		return 0, err
	}
	held, err := s.Held(ctx, name)
	if err != nil {
		return 0, err
	}
	back := 0
	for _, id := range held {
		_, err := s.Reassign(ctx, actor, id)
		switch {
		case err == nil:
			back++
		case errors.Is(err, ErrNotClaimed) || errors.Is(err, ErrNotFound):
			// resolved or let go meanwhile
		default:
			return back, err
		}
	}
	return back, nil
}

// EnableUser lets a disabled account log in again.
func (s *Store) EnableUser(ctx context.Context, actor, name string) error {
	return s.changeAccount(ctx, name, func(u User) accountChange {
		if !u.Disabled {
			return accountChange{}
		}
		return accountChange{fields: []any{"disabled", "0"}, actor: actor, action: "user_enabled", detail: "user=" + name}
	})
}

// SetRole gives an account another role, in force at its next request.
// The last active admin keeps theirs.
func (s *Store) SetRole(ctx context.Context, actor, name string, role Role) error {
	if !role.Valid() {
		return &ValidationError{Field: "role", Msg: "must be volunteer, supervisor, moderator or admin"}
	}
	return s.changeAccount(ctx, name, func(u User) accountChange {
		if u.Role == role {
			return accountChange{}
		}
		return accountChange{
			fields: []any{"role", string(role)}, guard: u.Role == RoleAdmin && !u.Disabled,
			actor: actor, action: "user_role_set", detail: "user=" + name + " role=" + string(role) + " was=" + string(u.Role),
		}
	})
}

// accountChange is what one change of an account writes, in one
// transaction: fields of its hash, the end of its sessions, and its
// audit entry. An empty action changes nothing (the account is as asked
// already). guard says the change takes an active admin away (disabled,
// or given another role): then it is refused with ErrLastAdmin if no
// other active admin would be left (nobody could add, enable or reset
// an account but from the command line).
type accountChange struct {
	fields                []any
	endSessions, guard    bool
	actor, action, detail string
}

// changeAccount reads an account and writes what decide makes of it,
// with its audit entry, in one optimistic transaction over every
// account: two admins who disable each other at the same moment cannot
// both succeed, and no change is made without its audit entry or
// audited without being made.
func (s *Store) changeAccount(ctx context.Context, name string, decide func(User) accountChange) error {
	names, err := s.rdb.SMembers(ctx, keyUsers).Result()
	if err != nil {
		return fmt.Errorf("change account: %w", err)
	}
	keys := []string{keyUsers}
	for _, n := range names {
		keys = append(keys, keyUser(n))
	}
	change := func(tx *redis.Tx) error {
		m, err := tx.HGetAll(ctx, keyUser(name)).Result()
		if err != nil {
			return err
		}
		if len(m) == 0 {
			return ErrNoUser
		}
		c := decide(userFrom(name, m))
		if c.action == "" {
			return nil
		}
		if c.guard {
			left := false
			for _, n := range names {
				if n == name {
					continue
				}
				v, err := tx.HMGet(ctx, keyUser(n), "role", "disabled").Result()
				if err != nil {
					return err
				}
				if v[0] == string(RoleAdmin) && v[1] != "1" {
					left = true
					break
				}
			}
			if !left {
				return ErrLastAdmin
			}
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if len(c.fields) > 0 {
				p.HSet(ctx, keyUser(name), c.fields...)
			}
			if c.endSessions {
				// Every session was opened under the epoch this changes.
				p.HIncrBy(ctx, keyUser(name), "epoch", 1)
			}
			s.auditIn(ctx, p, "", c.actor, c.action, c.detail)
			return nil
		})
		return err
	}
	return s.watch(ctx, "change account", change, keys...)
}

// watch runs an optimistic transaction, again while the watched keys
// change under it. ErrNoUser, ErrUserExists and ErrLastAdmin come back
// as they are; other errors are wrapped with what was being done.
func (s *Store) watch(ctx context.Context, what string, fn func(*redis.Tx) error, keys ...string) error {
	for range 20 {
		err := s.rdb.Watch(ctx, fn, keys...)
		switch {
		case errors.Is(err, redis.TxFailedErr):
			continue
		case err == nil || errors.Is(err, ErrNoUser) || errors.Is(err, ErrUserExists) || errors.Is(err, ErrLastAdmin):
			return err
		default:
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return fmt.Errorf("%s: accounts kept changing; try again", what)
}

// SetPassword gives an account a new password (an admin's reset, or the
// command line) and ends its sessions.
func (s *Store) SetPassword(ctx context.Context, actor, name, password string) error {
	hash, err := hashPassword("password", password)
	if err != nil {
		return err
	}
	return s.changeAccount(ctx, name, func(User) accountChange {
		return accountChange{fields: []any{"hash", hash}, endSessions: true, actor: actor, action: "password_reset", detail: "user=" + name}
	})
}

// ChangePassword is a user's change of their own password: the current
// one is checked (failures count towards the login throttle, so a stolen
// session cannot guess it), every session of the account ends, and a new
// one is opened for the caller. It returns the new session's token.
func (s *Store) ChangePassword(ctx context.Context, name, current, next, client string) (string, error) {
	hash, err := hashPassword("new", next)
	if err != nil {
		return "", err
	}
	if _, err := s.checkPassword(ctx, name, current, client); err != nil {
		return "", err
	}
	err = s.changeAccount(ctx, name, func(User) accountChange {
		return accountChange{fields: []any{"hash", hash}, endSessions: true, actor: name, action: "password_changed"}
	})
	if err != nil {
		return "", err
	}
	u, err := s.user(ctx, name) // under the new epoch
	if err != nil {
		return "", err
	}
	return s.openSession(ctx, u)
}

// Users lists the accounts by name, read in one round trip.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	names, err := s.rdb.SMembers(ctx, keyUsers).Result()
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	sort.Strings(names)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.HGetAll(ctx, keyUser(n))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]User, 0, len(names))
	for i, n := range names {
		if m := cmds[i].Val(); len(m) > 0 {
			out = append(out, userFrom(n, m))
		}
	}
	return out, nil
}

// HeldCounts returns how many cases each named account holds, read in
// one round trip.
func (s *Store) HeldCounts(ctx context.Context, names []string) (map[string]int, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.SCard(ctx, keyHeld(n))
	}
	if _, err := pipe.Exec(ctx); err != nil && len(names) > 0 {
		return nil, fmt.Errorf("held counts: %w", err)
	}
	out := make(map[string]int, len(names))
	for i, n := range names {
		out[n] = int(cmds[i].Val())
	}
	return out, nil
}

func (s *Store) user(ctx context.Context, name string) (User, error) {
	m, err := s.rdb.HGetAll(ctx, keyUser(name)).Result()
	if err != nil {
		return User{}, fmt.Errorf("read user: %w", err)
	}
	if len(m) == 0 {
		return User{}, ErrNoUser
	}
	return userFrom(name, m), nil
}

// userFrom reads an account from its hash.
func userFrom(name string, m map[string]string) User {
	u := User{Name: name, Role: Role(m["role"]), Disabled: m["disabled"] == "1", epoch: m["epoch"]}
	if ms, err := strconv.ParseInt(m["seen_ms"], 10, 64); err == nil {
		t := time.UnixMilli(ms).UTC()
		u.LastSeen = &t
	}
	return u
}

// onDuty reports whether the account is active and made a request
// within onDutyWindow of now.
func (u User) onDuty(now time.Time) bool {
	return !u.Disabled && u.LastSeen != nil && now.Sub(*u.LastSeen) < onDutyWindow
}

// loginLimit is the number of failed logins per user name and per client
// within loginWindow before further attempts are refused.
const (
	loginLimit  = 5
	loginWindow = 5 * time.Minute
)

// Login checks a password and opens a session. client identifies the
// caller (its address) for throttling. It returns the session token.
func (s *Store) Login(ctx context.Context, name, password, client string) (string, User, error) {
	u, err := s.checkPassword(ctx, name, password, client)
	if err != nil {
		return "", User{}, err
	}
	token, err := s.openSession(ctx, u)
	if err != nil {
		return "", User{}, err
	}
	return token, u, nil
}

// checkPassword checks an active account's password, throttled per user
// name and per client: after loginLimit failures within loginWindow,
// further attempts are refused. A failure is audited.
func (s *Store) checkPassword(ctx context.Context, name, password, client string) (User, error) {
	keys := []string{keyThrottle("u:" + name), keyThrottle("c:" + client)}
	for _, k := range keys {
		n, err := s.rdb.Get(ctx, k).Int()
		if err != nil && err != redis.Nil {
			return User{}, fmt.Errorf("login: %w", err)
		}
		if n >= loginLimit {
			_ = s.auditEvent(ctx, "", name, "login_throttled", "")
			return User{}, ErrThrottled
		}
	}
	u, err := s.user(ctx, name)
	var hash []byte
	if err == nil {
		h, _ := s.rdb.HGet(ctx, keyUser(name), "hash").Bytes()
		hash = h
	}
	// Compare against a dummy hash for unknown users, so timing does not
	// say which names exist.
	if hash == nil {
		hash = dummyHash()
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || err != nil || u.Disabled {
		for _, k := range keys {
			s.rdb.Incr(ctx, k)
			s.rdb.Expire(ctx, k, loginWindow)
		}
		_ = s.auditEvent(ctx, "", name, "login_failed", "")
		return User{}, ErrBadLogin
	}
	s.rdb.Del(ctx, keys[0])
	return u, nil
}

// openSession opens a session for u under its current epoch, audited as
// a login in the same transaction.
func (s *Store) openSession(ctx context.Context, u User) (string, error) {
	token, err := newToken()
	if err != nil {
		return "", err
	}
	k := keySession(tokenHash(token))
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "user", u.Name, "epoch", u.epoch)
		p.Expire(ctx, k, SessionTTL)
		s.auditIn(ctx, p, "", u.Name, "login", "")
		return nil
	}); err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	return token, nil
}

// dummyHash is what an unknown name's password is compared with: a hash
// of the cost real ones have, so that the comparison takes as long (at
// bcrypt's lowest cost it took 1.2 ms against 72 ms here, telling which
// names exist). Made once, at the first failed login of an unknown name.
var dummyHash = sync.OnceValue(func() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte("lookout-dummy-password"), passwordCost)
	if err != nil {
		panic(err) // only for a password over 72 bytes or a cost out of range
	}
	return h
})

// Session returns the user of a session token, refreshing its expiry.
// A disabled user has no session, nor has one whose sessions were ended
// (a new password) after it was opened.
func (s *Store) Session(ctx context.Context, token string) (User, error) {
	if token == "" {
		return User{}, ErrNoSession
	}
	k := keySession(tokenHash(token))
	sess, err := s.rdb.HGetAll(ctx, k).Result()
	if err != nil {
		return User{}, fmt.Errorf("session: %w", err)
	}
	if sess["user"] == "" {
		return User{}, ErrNoSession
	}
	u, err := s.user(ctx, sess["user"])
	if errors.Is(err, ErrNoUser) || (err == nil && (u.Disabled || sess["epoch"] != u.epoch)) {
		// Ended by a new password or a disabled account: gone for good.
		s.rdb.Del(ctx, k)
		return User{}, ErrNoSession
	}
	if err != nil {
		return User{}, err
	}
	s.rdb.Expire(ctx, k, SessionTTL)
	return u, nil
}

// seenEvery is how often a user's last request is recorded: at most one
// write a minute per user.
const seenEvery = time.Minute

// onDutyWindow is how recently an account must have made a request by
// hand to count as on duty.
const onDutyWindow = 15 * time.Minute

// byHand reports whether a request to route is one a person made: not
// the in-place refresh of a page's lists (…/rows, every 10 s) nor the
// renewal of a lease (every minute while a case is open), which a tab
// left open on a desk all night goes on sending. Only requests made by
// hand count towards being on duty, so that such a tab does not keep
// the "nobody on duty" page from firing.
func byHand(route string) bool {
	return !strings.HasSuffix(route, "/rows") && !strings.HasSuffix(route, "/renew")
}

// markSeen records that u made a request by hand, at most once every
// seenEvery.
func (s *Store) markSeen(ctx context.Context, u User) {
	if now := s.clock(); u.LastSeen == nil || now.Sub(*u.LastSeen) >= seenEvery {
		s.rdb.HSet(ctx, keyUser(u.Name), "seen_ms", now.UnixMilli())
	}
}

// OnDuty counts the active accounts that made a request within
// onDutyWindow, by role.
func (s *Store) OnDuty(ctx context.Context) (map[Role]int, error) {
	users, err := s.Users(ctx)
	if err != nil {
		return nil, err
	}
	out := map[Role]int{}
	now := s.clock()
	for _, u := range users {
		if u.onDuty(now) {
			out[u.Role]++
		}
	}
	return out, nil
}

// Logout ends a session.
func (s *Store) Logout(ctx context.Context, token string, actor string) error {
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, keySession(tokenHash(token)))
		s.auditIn(ctx, p, "", actor, "logout", "")
		return nil
	}); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// tokenHash is how a session token is stored: a leaked Redis dump holds
// no usable tokens.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// ErrForbidden is a role too low for the route.
var ErrForbidden = errors.New("your role may not do this")

// authorize resolves a session token to its user and checks that the
// user's role is at least min; a denial is audited. route names what was
// asked for ("GET /queue/rows"), in the audit entry; a request made by
// hand (byHand) is recorded as the user's last.
func (s *Store) authorize(ctx context.Context, token string, min Role, route string) (User, error) {
	u, err := s.Session(ctx, token)
	if err != nil {
		return User{}, err
	}
	if byHand(route) {
		s.markSeen(ctx, u)
	}
	if !u.Role.AtLeast(min) {
		_ = s.auditEvent(ctx, "", u.Name, "denied", route)
		return User{}, ErrForbidden
	}
	return u, nil
}
