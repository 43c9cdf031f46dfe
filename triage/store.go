// Package triage owns cases: their storage in Redis, the volunteer queue,
// leases, outcomes, accounts, the audit log, and the HTTP API and web UI
// that volunteers, supervisors and moderators use.
//
// Every state change is one Lua script that checks the current state and
// the caller's lease token, applies the change and appends the audit
// entry. Lease deadlines come from Redis TIME, never the app clock.
package triage

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"lookout/classifier"
)

var (
	//go:embed lua/prelude.lua
	luaPrelude string
	//go:embed lua/ingest.lua
	luaIngest string
	//go:embed lua/claim.lua
	luaClaim string
	//go:embed lua/transition.lua
	luaTransition string
	//go:embed lua/sweep.lua
	luaSweep string
	//go:embed lua/audit.lua
	luaAudit string
	//go:embed lua/repair.lua
	luaRepair string
	//go:embed lua/forget.lua
	luaForget string
	//go:embed lua/archive.lua
	luaArchive string
	//go:embed lua/rekey.lua
	luaRekey string
)

// Errors of case operations. The HTTP layer maps them to status codes.
var (
	ErrNotFound     = errors.New("case not found")
	ErrStaleToken   = errors.New("lease token is stale: the case was released, expired or claimed by someone else")
	ErrNotClaimed   = errors.New("case is not claimed")
	ErrTaken        = errors.New("case is held by another volunteer")
	ErrCap          = errors.New("claim cap reached: resolve or release a case first")
	ErrNotClaimable = errors.New("case cannot be claimed in its current state")
	ErrNone         = errors.New("no case to claim")
	ErrAlreadyYours = errors.New("you already hold this case")
	ErrNeverHeld    = errors.New("only a volunteer who has held this case, or a supervisor, may add a note to it")
)

var scriptErrors = map[string]error{
	"not_found": ErrNotFound, "stale_token": ErrStaleToken, "not_claimed": ErrNotClaimed,
	"taken": ErrTaken, "cap": ErrCap, "not_claimable": ErrNotClaimable, "none": ErrNone,
	"already_yours": ErrAlreadyYours, "disabled": ErrNoSession, "never_held": ErrNeverHeld,
}

// Routing decides what a score becomes.
type Routing struct {
	WatchLevel int // from this level a post opens or joins a watch-list case; default 5
	QueueLevel int // from this level a case is in the volunteer queue; default 6
	// EmergencyLevel is where the emergency route starts (default 9):
	// supervisors see these cases at once, and CapHigh counts them.
	EmergencyLevel int
	PHigh          float64       // a post with p_high at or above this is queued even at a lower level; default 0.9
	Lease          time.Duration // claim lease; default 15 min
	// Hold is how long a holder may keep a case while they wait for the
	// person's reply in another app, where the page cannot renew the lease
	// (a phone suspends it); default 1 h. Under Lease it adds nothing.
	Hold time.Duration
	// HoldEmergency caps Hold for a case at or above EmergencyLevel,
	// also when a held case rises to it while its holder awaits a reply;
	// default 20 min: a life may be at stake, and a case its holder does
	// not come back to returns to the top of the queue.
	HoldEmergency time.Duration
	CapTotal      int           // cases one volunteer may hold; default 3
	CapHigh       int           // cases at level 9-10 one volunteer may hold; default 2
	Retention     time.Duration // how long a resolved case keeps its text; default 30 days
	// ClaimTargets is the time from post to claim per level (index 0-10); zero: none.
	ClaimTargets [11]time.Duration
}

// DefaultRouting is TRIAGE.md's default routing.
func DefaultRouting() Routing {
	r := Routing{WatchLevel: 5, QueueLevel: 6, EmergencyLevel: 9, PHigh: 0.9, Lease: 15 * time.Minute,
		Hold: time.Hour, HoldEmergency: 20 * time.Minute, CapTotal: 3, CapHigh: 2, Retention: 30 * 24 * time.Hour}
	r.ClaimTargets[10] = 5 * time.Minute
	r.ClaimTargets[9] = 10 * time.Minute
	r.ClaimTargets[8] = 30 * time.Minute
	r.ClaimTargets[7] = 2 * time.Hour
	r.ClaimTargets[6] = 12 * time.Hour
	r.ClaimTargets[5] = 24 * time.Hour
	return r
}

// HoldAt is how long awaiting a reply keeps a case at level: Hold, or at
// the emergency level no more than HoldEmergency, and never less than a
// lease (awaiting a reply does not shorten the lease a renewal gives).
func (r Routing) HoldAt(level int) time.Duration {
	h := r.Hold
	if level >= r.EmergencyLevel {
		h = min(h, r.HoldEmergency)
	}
	return max(h, r.Lease)
}

// Validate names the first bad setting.
func (r Routing) Validate() error {
	switch {
	case r.WatchLevel < 1 || r.WatchLevel > 10:
		return fmt.Errorf("watch_level: %d is outside 1-10", r.WatchLevel)
	case r.QueueLevel < r.WatchLevel || r.QueueLevel > 10:
		return fmt.Errorf("queue_level: %d must be between watch_level (%d) and 10", r.QueueLevel, r.WatchLevel)
	case r.EmergencyLevel < r.QueueLevel || r.EmergencyLevel > 10:
		return fmt.Errorf("emergency_level: %d must be between queue_level (%d) and 10", r.EmergencyLevel, r.QueueLevel)
	case r.PHigh <= 0 || r.PHigh > 1:
		return fmt.Errorf("p_high: %v is outside (0, 1]", r.PHigh)
	case r.Lease < time.Minute || r.Lease > 24*time.Hour:
		return fmt.Errorf("lease: %v is outside 1m-24h", r.Lease)
	case r.Hold < 0 || r.Hold > 24*time.Hour:
		return fmt.Errorf("hold: %v is outside 0-24h", r.Hold)
	case r.HoldEmergency < 0 || r.HoldEmergency > 24*time.Hour:
		return fmt.Errorf("hold_emergency: %v is outside 0-24h", r.HoldEmergency)
	case r.CapTotal < 1 || r.CapTotal > 50:
		return fmt.Errorf("cap_total: %d is outside 1-50", r.CapTotal)
	case r.CapHigh < 1 || r.CapHigh > r.CapTotal:
		return fmt.Errorf("cap_high: %d must be between 1 and cap_total (%d)", r.CapHigh, r.CapTotal)
	case r.Retention < time.Hour:
		return fmt.Errorf("retention: %v is under 1h", r.Retention)
	}
	return nil
}

// Store is the Redis case store.
type Store struct {
	rdb        redis.UniversalClient
	routing    atomic.Pointer[Routing]
	ingest     *redis.Script
	claim      *redis.Script
	transition *redis.Script
	sweep      *redis.Script
	audit      *redis.Script
	repair     *redis.Script
	forget     *redis.Script
	archive    *redis.Script
	rekey      *redis.Script
	timeout    time.Duration
	metrics    *storeMetrics
	// now is the app clock. Leases and every state change use Redis
	// TIME, so app clock skew cannot shorten or lengthen a lease; what the
	// app compares with their times reads clock, the app clock corrected
	// by skew (Redis's clock less the app's, as the last sweep measured).
	now  func() time.Time
	skew atomic.Int64 // nanoseconds
	ids  Pseudonyms
}

// clock is the time by Redis's clock, as the last sweep measured it
// against the app's (the app's clock until the first sweep): the time to
// compare with case times (claim targets, waits), which Redis stamps.
func (s *Store) clock() time.Time { return s.now().Add(time.Duration(s.skew.Load())) }

// NewStore returns a Store on rdb.
func NewStore(rdb redis.UniversalClient, routing Routing, ids Pseudonyms) (*Store, error) {
	if err := routing.Validate(); err != nil {
		return nil, err
	}
	script := func(body string) *redis.Script { return redis.NewScript(luaPrelude + "\n" + body) }
	st := &Store{
		rdb: rdb, timeout: 5 * time.Second, now: time.Now, metrics: newStoreMetrics(),
		ingest: script(luaIngest), claim: script(luaClaim),
		transition: script(luaTransition), sweep: script(luaSweep), audit: script(luaAudit),
		repair: script(luaRepair), forget: script(luaForget), archive: script(luaArchive), rekey: script(luaRekey),
		ids: ids,
	}
	st.setRouting(routing)
	return st, nil
}

func (s *Store) setRouting(r Routing) { s.routing.Store(&r) }

// Routing returns the routing in force.
func (s *Store) Routing() Routing { return *s.routing.Load() }

// Post is a post as triage records it.
type Post struct {
	ID        string    `json:"id"`
	AuthorID  string    `json:"-"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
	Source    string    `json:"source,omitempty"`
	URL       string    `json:"url,omitempty"`
	ThreadID  string    `json:"thread_id,omitempty"`
}

// postEntry is one post in a case's timeline, as stored.
type postEntry struct {
	ID           string                `json:"id"`
	Text         string                `json:"text"`
	CreatedAt    time.Time             `json:"created_at"`
	Source       string                `json:"source,omitempty"`
	URL          string                `json:"url,omitempty"`
	ThreadID     string                `json:"thread_id,omitempty"`
	Level        int                   `json:"level"`
	PHigh        float64               `json:"p_high"`
	Evidence     []classifier.Evidence `json:"evidence"`
	Model        string                `json:"model"`
	Unclassified bool                  `json:"unclassified,omitempty"`
}

// Outcome of recording one scored post.
type Outcome string

// Outcomes of Record.
const (
	OutcomeNotFlagged Outcome = "not_flagged"
	OutcomeCreated    Outcome = "created"
	OutcomeJoined     Outcome = "joined"
	OutcomeDuplicate  Outcome = "duplicate"
)

// Flagged reports whether a score opens or joins a case, and whether the
// case belongs in the volunteer queue.
func (r Routing) Flagged(level int, pHigh float64) (flagged, queue bool) {
	queue = level >= r.QueueLevel || pHigh >= r.PHigh
	return queue || level >= r.WatchLevel, queue
}

// Record makes the outcome of one scored post durable: a case (new or
// joined) when it is flagged, and an entry in the score record. unclassified
// marks a post the classifier failed on: it is queued for human review
// whatever its score.
func (s *Store) Record(ctx context.Context, p Post, res classifier.Result, unclassified bool) (Outcome, string, error) {
	out, err := s.RecordBatch(ctx, []Scored{{Post: p, Result: res, Unclassified: unclassified}}, nil)
	if err != nil {
		return "", "", err
	}
	return out[0].Outcome, out[0].CaseID, nil
}

// Scored is a post and its score, to record.
type Scored struct {
	Post         Post
	Result       classifier.Result
	Unclassified bool // the classifier failed: queued for review whatever the score
}

// Recorded is what became of one recorded post.
type Recorded struct {
	Outcome Outcome
	CaseID  string // "" when not flagged
}

// RecordBatch records each post as Record does, in one round trip to
// Redis, and appends the outcomes, in order, to out. On an error none of
// the outcomes is known, though some may be durable: recording again is
// safe (idempotent on the post id; the score record may then hold a post
// twice, which Preview and the shadow report count once).
func (s *Store) RecordBatch(ctx context.Context, posts []Scored, out []Recorded) ([]Recorded, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	routing := s.Routing()
	// The emergency hold, boxed once a batch rather than once a post.
	emergencyHold := any(routing.HoldAt(routing.EmergencyLevel).Milliseconds())
	pipe := s.rdb.Pipeline()
	scripts := make([]*redis.Cmd, len(posts)) // nil: not flagged
	var args [][]any
	lines := make([]byte, 0, 48*len(posts))
	for i, sp := range posts {
		res := sp.Result
		flagged, queue := routing.Flagged(res.Level, res.PHigh)
		if sp.Unclassified {
			flagged, queue = true, true
		}
		if flagged {
			a, err := s.ingestArgs(sp, routing, queue, emergencyHold)
			if err != nil {
				return out, err
			}
			if args == nil {
				args = make([][]any, len(posts))
			}
			args[i] = a
			scripts[i] = s.ingest.EvalSha(ctx, pipe, []string{keyQueue}, a...)
		}
		lines = s.appendScoreLine(lines, sp.Post.ID, res.Level, res.PHigh, flagged, queue)
	}
	if len(lines) > 0 {
		addScores(ctx, pipe, lines)
	}
	_, err := pipe.Exec(ctx)
	if err != nil && noScript(scripts) {
		// Redis lost its script cache (a restart): load the script and run
		// again only what did not run.
		if err := s.ingest.Load(ctx, s.rdb).Err(); err != nil {
			return out, fmt.Errorf("load ingest script: %w", err)
		}
		again := s.rdb.Pipeline()
		for i, c := range scripts {
			if c != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
				scripts[i] = s.ingest.EvalSha(ctx, again, []string{keyQueue}, args[i]...)
			}
		}
		_, err = again.Exec(ctx)
	}
	if err != nil {
		return out, fmt.Errorf("record posts: %w", err)
	}
	for _, c := range scripts {
		if c == nil {
			out = append(out, Recorded{Outcome: OutcomeNotFlagged})
			continue
		}
		r, err := c.StringSlice()
		if err != nil || len(r) < 2 {
			return out, fmt.Errorf("ingest script: unexpected reply %v: %w", len(r), err)
		}
		out = append(out, Recorded{Outcome: Outcome(r[1]), CaseID: r[0]})
	}
	return out, nil
}

func noScript(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if c != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// ingestArgs are the ingest script's arguments for one flagged post;
// emergencyHold is the routing's emergency hold in ms.
func (s *Store) ingestArgs(sp Scored, routing Routing, queue bool, emergencyHold any) ([]any, error) {
	p, res := sp.Post, sp.Result
	entry, err := json.Marshal(postEntry{ID: p.ID, Text: p.Text, CreatedAt: p.CreatedAt, Source: p.Source,
		URL: p.URL, ThreadID: p.ThreadID, Level: res.Level, PHigh: res.PHigh, Evidence: res.Evidence,
		Model: res.Model, Unclassified: sp.Unclassified})
	if err != nil {
		return nil, fmt.Errorf("encode post entry: %w", err)
	}
	level := res.Level
	if queue && level < routing.QueueLevel {
		level = routing.QueueLevel // queued on p_high or for review: sorts as the lowest queued level
	}
	uc := "0"
	if sp.Unclassified {
		uc = "1"
	}
	return []any{tag, p.ID, s.ids.Author(p.AuthorID), p.AuthorID, s.ids.Case(p.AuthorID, p.ID), level,
		strconv.FormatFloat(res.PHigh, 'f', 4, 64), entry, routing.QueueLevel, uc, p.CreatedAt.UnixMilli(),
		routing.EmergencyLevel, emergencyHold, s.ids.Post(p.ID), s.ids.legacyAuthor(p.AuthorID), s.ids.check()}, nil
}

func scriptResult(out []string) error {
	if len(out) == 1 {
		if e, ok := scriptErrors[out[0]]; ok {
			return e
		}
		return fmt.Errorf("unexpected script reply %q", out[0])
	}
	return nil
}

// Lease is a volunteer's claim on a case.
type Lease struct {
	CaseID   string    `json:"case_id"`
	Token    string    `json:"token"`
	Deadline time.Time `json:"deadline"`
}

// Claim leases caseID to actor; with caseID empty, the most urgent
// pending case actor may take. Supervisors may also claim escalated cases.
func (s *Store) Claim(ctx context.Context, actor string, role Role, caseID string) (Lease, error) {
	return s.claimFor(ctx, actor, role, caseID, "")
}

// Assign is a supervisor's hand-over: caseID is leased to the user to,
// from the queue, the watch list, the escalated cases or whoever holds it
// (whose token goes stale), within to's caps. The lease is renewed while
// to has the case open; left unopened, it runs out and the case goes back
// to where it waited.
func (s *Store) Assign(ctx context.Context, supervisor, caseID, to string) (Lease, error) {
	u, err := s.user(ctx, to)
	if errors.Is(err, ErrNoUser) || (err == nil && u.Disabled) {
		return Lease{}, &ValidationError{Field: "to", Msg: "not an active user"}
	}
	if err != nil {
		return Lease{}, err
	}
	if caseID == "" {
		return Lease{}, ErrNotFound
	}
	return s.claimFor(ctx, to, u.Role, caseID, supervisor)
}

func (s *Store) claimFor(ctx context.Context, actor string, role Role, caseID, assigner string) (Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	sup := "0"
	if role.AtLeast(RoleSupervisor) {
		sup = "1"
	}
	routing := s.Routing()
	out, err := s.claim.Run(ctx, s.rdb, []string{keyQueue}, tag, actor, caseID,
		routing.Lease.Milliseconds(), routing.CapTotal, routing.CapHigh, sup, routing.EmergencyLevel, assigner).StringSlice()
	if err != nil {
		return Lease{}, fmt.Errorf("claim script: %w", err)
	}
	if err := scriptResult(out); err != nil {
		return Lease{}, err
	}
	ms, _ := strconv.ParseInt(out[2], 10, 64)
	if level, err := strconv.Atoi(out[3]); err == nil && level >= 0 && level <= 10 {
		waited, _ := strconv.ParseInt(out[4], 10, 64)
		s.metrics.timeToClaim.WithLabelValues(out[3]).Observe(float64(waited) / 1000)
		if t := routing.ClaimTargets[level]; t > 0 && time.Duration(waited)*time.Millisecond > t {
			s.metrics.targetMissed.WithLabelValues(out[3]).Inc()
		}
	}
	return Lease{CaseID: out[0], Token: out[1], Deadline: time.UnixMilli(ms)}, nil
}

// OutcomeCodes are the outcomes a resolve must name (TRIAGE.md).
var OutcomeCodes = []string{
	"reached_safe", "reached_referred", "emergency_confirmed", "emergency_unconfirmed",
	"family_contacted", "no_response", "false_positive", "duplicate", "other",
}

// Resolution is what a volunteer records when resolving.
type Resolution struct {
	Outcome        string     `json:"outcome"`
	CorrectedLevel *int       `json:"corrected_level,omitempty"`
	FollowUp       *time.Time `json:"follow_up,omitempty"`
	Note           string     `json:"note,omitempty"`
	// Tries is how many times the volunteer tried to reach the person:
	// required with no_response ("no response after N tries"), optional
	// with any other outcome.
	Tries *int `json:"tries,omitempty"`
}

// maxTries bounds Resolution.Tries.
const maxTries = 50

// validate names the first bad field; now is the app clock.
func (r Resolution) validate(now time.Time) error {
	ok := false
	for _, c := range OutcomeCodes {
		ok = ok || c == r.Outcome
	}
	switch {
	case !ok:
		return fmt.Errorf("outcome: must be one of %s", strings.Join(OutcomeCodes, ", "))
	case r.Outcome == "false_positive" && r.CorrectedLevel == nil:
		return errors.New("corrected_level: required with outcome false_positive")
	case r.CorrectedLevel != nil && (*r.CorrectedLevel < 0 || *r.CorrectedLevel > 10):
		return errors.New("corrected_level: must be 0-10")
	case r.Outcome == "no_response" && r.Tries == nil:
		return errors.New("tries: required with outcome no_response")
	case r.Tries != nil && (*r.Tries < 1 || *r.Tries > maxTries):
		return fmt.Errorf("tries: must be 1-%d", maxTries)
	case r.Outcome == "other" && strings.TrimSpace(r.Note) == "":
		return errors.New("note: required with outcome other")
	case r.FollowUp != nil && r.FollowUp.Before(now.Add(-time.Minute)):
		return errors.New("follow_up: must be in the future")
	case len(r.Note) > maxNoteBytes:
		return fmt.Errorf("note: at most %d bytes", maxNoteBytes)
	}
	return nil
}

const maxNoteBytes = 8 << 10

// run applies a holder's action (or a supervisor's take-back) in the
// transition script and returns the script's reply, which starts with
// "ok" (see transition.lua).
func (s *Store) run(ctx context.Context, actor, caseID, token, action string, args ...string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	a := [5]string{}
	copy(a[:], args)
	routing := s.Routing()
	out, err := s.transition.Run(ctx, s.rdb, []string{keyQueue}, tag, actor, caseID, token, action,
		routing.Lease.Milliseconds(), a[0], a[1], a[2], routing.Retention.Milliseconds(), routing.EmergencyLevel, a[3], a[4]).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("%s script: %w", action, err)
	}
	if out[0] != "ok" {
		return nil, scriptResult(out)
	}
	switch action {
	case "resolve":
		s.metrics.outcomes.WithLabelValues(a[0]).Inc()
		if len(out) >= 4 {
			age, _ := strconv.ParseInt(out[3], 10, 64)
			s.metrics.timeToResolve.WithLabelValues(out[2]).Observe(float64(age) / 1000)
		}
	case "escalate":
		s.metrics.escalations.WithLabelValues(a[0]).Inc()
	}
	return out, nil
}

// Renew extends a lease (never shortening it). The renewal carries its
// new deadline and the case's level and numbers of posts and notes now.
func (s *Store) Renew(ctx context.Context, actor, caseID, token string) (Renewal, error) {
	out, err := s.run(ctx, actor, caseID, token, "renew")
	if err != nil {
		return Renewal{}, err
	}
	ms, _ := strconv.ParseInt(out[1], 10, 64)
	r := Renewal{Deadline: time.UnixMilli(ms)}
	r.Level, _ = strconv.Atoi(out[2])
	r.Posts, _ = strconv.Atoi(out[3])
	r.Notes, _ = strconv.Atoi(out[4])
	return r, nil
}

// AwaitReply keeps a held case for the routing's hold from now (never
// shortening its lease): the holder has written to the person and waits
// for the reply in another app, where their page cannot renew the lease.
// At the emergency level the hold is shorter (Routing.HoldAt); the script
// reads the case's level. It returns the lease's new end.
func (s *Store) AwaitReply(ctx context.Context, actor, caseID, token string) (time.Time, error) {
	rt := s.Routing()
	below, at := rt.HoldAt(rt.EmergencyLevel-1), rt.HoldAt(rt.EmergencyLevel)
	out, err := s.run(ctx, actor, caseID, token, "await",
		strconv.FormatInt(below.Milliseconds(), 10), strconv.FormatInt(at.Milliseconds(), 10))
	if err != nil {
		return time.Time{}, err
	}
	ms, _ := strconv.ParseInt(out[1], 10, 64)
	return time.UnixMilli(ms), nil
}

// Renewal is a renewed lease, with the case's level and numbers of posts
// and notes now: the holder's page compares them with what it shows, to
// say that the person has posted again, or that someone (a volunteer who
// held the case before, a supervisor) added a note, since it was loaded.
type Renewal struct {
	Deadline time.Time `json:"deadline"`
	Level    int       `json:"level"`
	Posts    int       `json:"posts"`
	Notes    int       `json:"notes"`
}

// Release lets go of a held case. It goes back where it waited: the
// queue, the watch list, or the supervisors' escalations for a case a
// supervisor took or handed on from there. It returns that state.
func (s *Store) Release(ctx context.Context, actor, caseID, token string) (string, error) {
	return backState(s.run(ctx, actor, caseID, token, "release"))
}

// ReleaseAll lets go of every case actor holds, each back where it
// waited (the end of a shift): one release per case, with the case's own
// lease token, so a case claimed away meanwhile is left alone (and leaves
// the actor's held set). It returns how many went back.
func (s *Store) ReleaseAll(ctx context.Context, actor string) (int, error) {
	// First drop from the held set what the actor no longer holds.
	if err := s.repair.Run(ctx, s.rdb, []string{keyQueue}, tag, actor).Err(); err != nil {
		return 0, fmt.Errorf("release all: %w", err)
	}
	ids, err := s.Held(ctx, actor)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		token, err := s.rdb.HGet(ctx, keyCase(id), "token").Result()
		if err != nil && err != redis.Nil {
			return n, fmt.Errorf("release all: %w", err)
		}
		_, err = s.Release(ctx, actor, id, token)
		switch {
		case err == nil:
			n++
		case errors.Is(err, ErrStaleToken), errors.Is(err, ErrNotClaimed), errors.Is(err, ErrNotFound):
			// resolved, lapsed or taken meanwhile
		default:
			return n, err
		}
	}
	return n, nil
}

// Reassign takes a claimed case back on a supervisor's word (the
// volunteer is unreachable or needs relief) to where it waited, as
// Release does, and returns that state. The caller checks the role; the
// old holder's token stops working.
func (s *Store) Reassign(ctx context.Context, supervisor, caseID string) (string, error) {
	return backState(s.run(ctx, supervisor, caseID, "", "reassign"))
}

// backState reads the state a released case went back to from the
// script's reply.
func backState(out []string, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if len(out) < 3 {
		return "", fmt.Errorf("transition script: reply %q lacks the new state", out)
	}
	return out[2], nil
}

// EscalateReasons are the reasons a volunteer may give for escalating.
var EscalateReasons = []string{"imminent_danger", "needs_emergency", "beyond_my_training", "needs_handover", "other"}

// Escalate hands a held case to the supervisors, with the holder's note
// for them when note is not blank (added with the escalation, or not at
// all).
func (s *Store) Escalate(ctx context.Context, actor, caseID, token, reason, note string) error {
	if !slices.Contains(EscalateReasons, reason) {
		return &ValidationError{Field: "reason", Msg: "must be one of " + strings.Join(EscalateReasons, ", ")}
	}
	if len(note) > maxNoteBytes {
		return &ValidationError{Field: "note", Msg: fmt.Sprintf("at most %d bytes", maxNoteBytes)}
	}
	_, err := s.run(ctx, actor, caseID, token, "escalate", reason, "", "", "", s.noteJSON(actor, note))
	return err
}

// ValidationError is a bad request field.
type ValidationError struct{ Field, Msg string }

func (e *ValidationError) Error() string { return e.Field + ": " + e.Msg }

// Resolve closes a held case with an outcome.
func (s *Store) Resolve(ctx context.Context, actor, caseID, token string, r Resolution) error {
	if err := r.validate(s.clock()); err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		return &ValidationError{Field: field, Msg: msg}
	}
	corrected, follow, tries := "", "", ""
	if r.CorrectedLevel != nil {
		corrected = strconv.Itoa(*r.CorrectedLevel)
	}
	if r.Tries != nil {
		tries = strconv.Itoa(*r.Tries)
	}
	if r.FollowUp != nil {
		follow = strconv.FormatInt(r.FollowUp.UnixMilli(), 10)
	}
	_, err := s.run(ctx, actor, caseID, token, "resolve", r.Outcome, corrected, follow, tries, s.noteJSON(actor, r.Note))
	return err
}

// Note is an internal note on a case.
type Note struct {
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// AddNote adds an attributed, timestamped note to a case: by its holder
// (with the lease token) or, while the case is open, by whoever held it
// before (their lease ran out while they wrote to the person) or by a
// supervisor and up. A resolved or erased case takes no note.
func (s *Store) AddNote(ctx context.Context, actor string, role Role, caseID, token, text string) error {
	if role.AtLeast(RoleSupervisor) {
		return s.note(ctx, actor, caseID, token, text, noteBySupervisor)
	}
	return s.note(ctx, actor, caseID, token, text, noteByFormerHolder)
}

// Who may add a note besides the holder (transition.lua): whoever held
// the case before, or also a supervisor, on an open case.
const (
	noteByFormerHolder = "former_holder"
	noteBySupervisor   = "supervisor"
)

func (s *Store) note(ctx context.Context, actor, caseID, token, text, may string) error {
	if strings.TrimSpace(text) == "" {
		return &ValidationError{Field: "text", Msg: "required"}
	}
	if len(text) > maxNoteBytes {
		return &ValidationError{Field: "text", Msg: fmt.Sprintf("at most %d bytes", maxNoteBytes)}
	}
	_, err := s.run(ctx, actor, caseID, token, "note", s.noteJSON(actor, text), may)
	return err
}

// noteJSON is a note by actor, now, as stored; "" for blank text.
func (s *Store) noteJSON(actor, text string) string {
	if strings.TrimSpace(text) == "" {
		return ""
	}
	b, _ := json.Marshal(Note{By: actor, At: s.clock().UTC(), Text: text})
	return string(b)
}

// Sweep returns expired leases to where their cases waited, brings due
// follow-ups back, and moves cases past their claim target up (before
// every case of their tier, below the emergency level or at it, that is
// not past its target). It is
// safe to run concurrently from many instances.
func (s *Store) Sweep(ctx context.Context) (expired, followups int, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	routing := s.Routing()
	args := []any{tag, 200}
	for _, t := range routing.ClaimTargets {
		args = append(args, t.Milliseconds())
	}
	args = append(args, routing.EmergencyLevel)
	sent := s.now()
	out, err := s.sweep.Run(ctx, s.rdb, []string{keyQueue}, args...).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("sweep script: %w", err)
	}
	// Redis's time (out[3]) against the middle of the round trip.
	mid := sent.Add(s.now().Sub(sent) / 2)
	s.skew.Store(int64(time.UnixMilli(out[3]).Sub(mid)))
	if out[2] > 0 {
		s.metrics.overdueEscalated.Add(float64(out[2]))
	}
	return int(out[0]), int(out[1]), nil
}

// Repair makes every volunteer's held set and the lease index agree with
// the cases (a case claimed without a lease entry is put back in the
// index, so it can expire). Safe to run at any time, from any instance.
func (s *Store) Repair(ctx context.Context) (int, error) {
	fixed := 0
	iter := s.rdb.Scan(ctx, 0, keyHeldPattern, 200).Iterator()
	for iter.Next(ctx) {
		user := strings.TrimPrefix(iter.Val(), tag+"held:")
		n, err := s.repair.Run(ctx, s.rdb, []string{keyQueue}, tag, user).Int()
		if err != nil {
			return fixed, fmt.Errorf("repair: %w", err)
		}
		fixed += n
	}
	if err := iter.Err(); err != nil {
		return fixed, fmt.Errorf("repair: %w", err)
	}
	return fixed, nil
}

// CheckPseudonyms makes sure that ids in this Redis are pseudonymised
// with this store's key (see Pseudonyms): two keys would split a person's
// posts into two cases and hide earlier ones from a deletion request. The
// first keyed store records its key's check; a Redis written without a key
// before takes it: the post ids it still holds (open cases' posts) give
// way to their keys, and every case whose author is known (its identity
// not yet expired) moves to the keyed author key. A store without a key
// is refused on a keyed Redis, and a store with another key on any keyed
// one.
func (s *Store) CheckPseudonyms(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 4*s.timeout)
	defer cancel()
	want := s.ids.check()
	for {
		have, err := s.rdb.Get(ctx, keyPseudonym).Result()
		if err != nil && err != redis.Nil {
			return fmt.Errorf("pseudonym key: %w", err)
		}
		switch {
		case have == want:
			return nil
		case want == "":
			return errors.New("pseudonym-key: this Redis's ids are keyed: set the key its other instances use")
		case have != "":
			return errors.New("pseudonym-key: not the key this Redis's ids are keyed with: every instance needs the same key")
		}
		// Keys first, then the check: a crash between leaves the check
		// unwritten, and the next start moves what is left.
		if err := s.movePostIDs(ctx, func(string) bool { return true }); err != nil {
			return fmt.Errorf("pseudonym key: %w", err)
		}
		if err := s.rekeyAuthors(ctx); err != nil {
			return fmt.Errorf("pseudonym key: %w", err)
		}
		ok, err := s.rdb.SetNX(ctx, keyPseudonym, want, 0).Result()
		if err != nil {
			return fmt.Errorf("pseudonym key: %w", err)
		}
		if ok {
			return nil
		}
		// Another instance wrote its check first: compare with it.
	}
}

// rekeyAuthors moves every case whose identity Redis still holds from the
// plain hash of its author to the keyed one, a page of the key space at a
// time: one round trip reads the page's identities, one moves its cases.
// Cases whose identity has expired move as their author next posts
// (ingest).
func (s *Store) rekeyAuthors(ctx context.Context) error {
	if err := s.rekey.Load(ctx, s.rdb).Err(); err != nil {
		return fmt.Errorf("authors: %w", err)
	}
	var plain Pseudonyms
	var cursor uint64
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, tag+"case:*:pii", 1000).Result()
		if err != nil {
			return fmt.Errorf("authors: %w", err)
		}
		authors := make([]*redis.StringCmd, len(keys))
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				authors[i] = p.HGet(ctx, k, "author")
			}
			return nil
		}); err != nil && err != redis.Nil {
			return fmt.Errorf("authors: %w", err)
		}
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				if a := authors[i].Val(); a != "" {
					id := strings.TrimSuffix(strings.TrimPrefix(k, tag+"case:"), ":pii")
					s.rekey.EvalSha(ctx, p, []string{keyOpen}, tag, id, plain.Author(a), s.ids.Author(a))
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("authors: %w", err)
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// ForgetAuthor erases every case of an author on a deletion request:
// post text, notes and identity are deleted, and the cases leave every
// queue and index, keeping only ids, levels and outcomes under no author.
// Each erasure is audited without content. Returns the cases erased.
func (s *Store) ForgetAuthor(ctx context.Context, actor, authorID string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*s.timeout)
	defer cancel()
	seen := map[string]bool{}
	var start []string
	// Cases written before the deployment had a pseudonym key whose
	// identity had expired when it came are indexed by the plain hash
	// until the author posts again (see ingest).
	for _, akey := range []string{s.ids.Author(authorID), s.ids.legacyAuthor(authorID)} {
		if akey == "" {
			continue
		}
		for _, k := range []string{keyOpen, keyLast} {
			id, err := s.rdb.HGet(ctx, k, akey).Result()
			if err != nil && err != redis.Nil {
				return 0, fmt.Errorf("forget author: %w", err)
			}
			if id != "" {
				start = append(start, id)
			}
		}
	}
	n := 0
	for _, id := range start {
		// Each case links the author's previous one: follow the chain.
		for id != "" && !seen[id] {
			seen[id] = true
			prev, err := s.forget.Run(ctx, s.rdb, []string{keyQueue}, tag, id, actor).Text()
			if err == redis.Nil { // archived: it and the cases before it left Redis
				break
			}
			if err != nil {
				return n, fmt.Errorf("forget author: %w", err)
			}
			n++
			id = prev
		}
	}
	if err := s.hashPostIDs(ctx, seen); err != nil {
		return n, fmt.Errorf("forget author: %w", err)
	}
	if err := s.auditEvent(ctx, "", actor, "author_erased", "cases="+strconv.Itoa(n)); err != nil {
		return n, err
	}
	return n, nil
}

// hashPostIDs replaces the post ids that name the given cases in the old
// post index (ids indexed before ingest wrote their keys) by their keys
// (Pseudonyms.Post) in the new, as resolving a case does: the ids, which
// lead to the author, go, and a post delivered again still opens nothing.
// For cases erased or archived.
func (s *Store) hashPostIDs(ctx context.Context, cases map[string]bool) error {
	if len(cases) == 0 {
		return nil
	}
	return s.movePostIDs(ctx, func(cid string) bool { return cases[cid] })
}

// movePostIDs moves the ids in the old post index whose case the filter
// takes to their keys in the new.
func (s *Store) movePostIDs(ctx context.Context, take func(caseID string) bool) error {
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, keyPostCase, cursor, "", 1000).Result()
		if err != nil {
			return fmt.Errorf("posts: %w", err)
		}
		pipe := s.rdb.TxPipeline()
		moved := false
		for i := 0; i+1 < len(kv); i += 2 {
			post, cid := kv[i], kv[i+1]
			if !take(cid) {
				continue
			}
			pipe.HSet(ctx, keyPostHash, s.ids.Post(post), cid)
			pipe.HDel(ctx, keyPostCase, post)
			moved = true
		}
		if moved {
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("posts: %w", err)
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}
