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
}

// Errors of accounts.
var (
	ErrBadLogin   = errors.New("wrong user name or password")
	ErrThrottled  = errors.New("too many failed logins; wait a few minutes")
	ErrNoSession  = errors.New("not logged in or session expired")
	ErrUserExists = errors.New("user already exists")
	ErrNoUser     = errors.New("no such user")
)

var reUserName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,31}$`)

// SessionTTL is how long a session lasts without use.
const SessionTTL = 12 * time.Hour

// AddUser creates an account.
func (s *Store) AddUser(ctx context.Context, actor, name string, role Role, password string) error {
	switch {
	case !reUserName.MatchString(name):
		return &ValidationError{Field: "name", Msg: "2-32 characters of a-z, 0-9, '.', '_' or '-'"}
	case !role.Valid():
		return &ValidationError{Field: "role", Msg: "must be volunteer, supervisor, moderator or admin"}
	case len(password) < 10 || len(password) > 72:
		return &ValidationError{Field: "password", Msg: "10-72 bytes"}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	ok, err := s.rdb.HSetNX(ctx, keyUser(name), "name", name).Result()
	if err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	if !ok {
		return ErrUserExists
	}
	if err := s.rdb.HSet(ctx, keyUser(name), "role", string(role), "hash", hash, "disabled", "0").Err(); err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	if err := s.rdb.SAdd(ctx, keyUsers, name).Err(); err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	return s.auditEvent(ctx, "", actor, "user_added", "user="+name+" role="+string(role))
}

// DisableUser disables an account and ends its sessions at their next use.
func (s *Store) DisableUser(ctx context.Context, actor, name string) error {
	n, err := s.rdb.Exists(ctx, keyUser(name)).Result()
	if err != nil {
		return fmt.Errorf("disable user: %w", err)
	}
	if n == 0 {
		return ErrNoUser
	}
	if err := s.rdb.HSet(ctx, keyUser(name), "disabled", "1").Err(); err != nil {
		return fmt.Errorf("disable user: %w", err)
	}
	return s.auditEvent(ctx, "", actor, "user_disabled", "user="+name)
}

// Users lists the accounts by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	names, err := s.rdb.SMembers(ctx, keyUsers).Result()
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	sort.Strings(names)
	out := make([]User, 0, len(names))
	for _, n := range names {
		u, err := s.user(ctx, n)
		if err == nil {
			out = append(out, u)
		}
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
	return User{Name: name, Role: Role(m["role"]), Disabled: m["disabled"] == "1"}, nil
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
	keys := []string{keyThrottle("u:" + name), keyThrottle("c:" + client)}
	for _, k := range keys {
		n, err := s.rdb.Get(ctx, k).Int()
		if err != nil && err != redis.Nil {
			return "", User{}, fmt.Errorf("login: %w", err)
		}
		if n >= loginLimit {
			_ = s.auditEvent(ctx, "", name, "login_throttled", "")
			return "", User{}, ErrThrottled
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
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || err != nil || u.Disabled {
		for _, k := range keys {
			s.rdb.Incr(ctx, k)
			s.rdb.Expire(ctx, k, loginWindow)
		}
		_ = s.auditEvent(ctx, "", name, "login_failed", "")
		return "", User{}, ErrBadLogin
	}
	token, err := newToken()
	if err != nil {
		return "", User{}, err
	}
	if err := s.rdb.HSet(ctx, keySession(tokenHash(token)), "user", name).Err(); err != nil {
		return "", User{}, fmt.Errorf("login: %w", err)
	}
	s.rdb.Expire(ctx, keySession(tokenHash(token)), SessionTTL)
	s.rdb.Del(ctx, keys[0])
	return token, u, s.auditEvent(ctx, "", name, "login", "")
}

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("lookout-dummy-password"), bcrypt.MinCost)

// Session returns the user of a session token, refreshing its expiry.
// A disabled user has no session.
func (s *Store) Session(ctx context.Context, token string) (User, error) {
	if token == "" {
		return User{}, ErrNoSession
	}
	k := keySession(tokenHash(token))
	name, err := s.rdb.HGet(ctx, k, "user").Result()
	if err == redis.Nil {
		return User{}, ErrNoSession
	}
	if err != nil {
		return User{}, fmt.Errorf("session: %w", err)
	}
	u, err := s.user(ctx, name)
	if err != nil || u.Disabled {
		return User{}, ErrNoSession
	}
	s.rdb.Expire(ctx, k, SessionTTL)
	return u, nil
}

// Logout ends a session.
func (s *Store) Logout(ctx context.Context, token string, actor string) error {
	if err := s.rdb.Del(ctx, keySession(tokenHash(token))).Err(); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return s.auditEvent(ctx, "", actor, "logout", "")
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
// asked for, in the audit entry.
func (s *Store) authorize(ctx context.Context, token string, min Role, route string) (User, error) {
	u, err := s.Session(ctx, token)
	if err != nil {
		return User{}, err
	}
	if !u.Role.AtLeast(min) {
		_ = s.auditEvent(ctx, "", u.Name, "denied", route)
		return User{}, ErrForbidden
	}
	return u, nil
}
