package triage

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Case is one person's case: the summary every role may list.
type Case struct {
	ID           string     `json:"id"`
	State        string     `json:"state"` // watch, pending, claimed, escalated, resolved
	Level        int        `json:"level"`
	PHigh        float64    `json:"p_high"`
	Posts        int        `json:"posts"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	PendingSince time.Time  `json:"pending_since"`
	ClaimTarget  *time.Time `json:"claim_target,omitempty"` // when the case should be held by then
	ClaimedAt    *time.Time `json:"claimed_at,omitempty"`
	// AwaitingReply says that the holder waits for the person's reply
	// elsewhere (they asked to keep the case since they claimed it).
	AwaitingReply  bool       `json:"awaiting_reply,omitempty"`
	AwaitingSince  *time.Time `json:"awaiting_since,omitempty"` // when they asked (set with AwaitingReply)
	Overdue        bool       `json:"overdue"`
	Owner          string     `json:"owner,omitempty"`
	LeaseDeadline  *time.Time `json:"lease_deadline,omitempty"`
	Previous       string     `json:"previous_case,omitempty"`
	Unclassified   bool       `json:"unclassified,omitempty"`
	FollowUp       bool       `json:"follow_up,omitempty"`
	Outcome        string     `json:"outcome,omitempty"`
	CorrectedLevel *int       `json:"corrected_level,omitempty"`
	Tries          *int       `json:"tries,omitempty"` // tries to reach the person, given on resolving
	EscalateReason string     `json:"escalate_reason,omitempty"`
	Excerpt        string     `json:"excerpt,omitempty"` // redacted first line of the newest post
	Claims         int        `json:"claims"`
}

// Detail is a case with its content: the timeline, notes and, for the
// holder and supervisors, the author.
type Detail struct {
	Case
	Author   string      `json:"author,omitempty"` // only for the holder and supervisors
	Timeline []postEntry `json:"timeline"`         // newest first
	Notes    []Note      `json:"notes"`
	Redacted bool        `json:"redacted"` // handles and links removed
	// Token is the holder's lease token, for the holder's own forms; never
	// serialised.
	Token string `json:"-"`
	// HeldBefore says that the reader has held the case (they may add a
	// note while it is open); never serialised.
	HeldBefore bool `json:"-"`
}

// AuditEvent is one entry of the audit log: ids and codes only.
type AuditEvent struct {
	ID     string `json:"id,omitempty"` // its place in the global log, for paging
	TS     int64  `json:"ts"`
	Case   string `json:"case"`
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Detail string `json:"detail"`
}

func (s *Store) parseCase(m map[string]string) Case {
	c := Case{ID: m["id"], State: m["state"], Owner: m["owner"], Previous: m["prev"],
		Outcome: m["outcome"], EscalateReason: m["escalate_reason"]}
	c.Level, _ = strconv.Atoi(m["level"])
	c.PHigh, _ = strconv.ParseFloat(m["p_high"], 64)
	c.Posts, _ = strconv.Atoi(m["posts"])
	c.Claims, _ = strconv.Atoi(m["claims"])
	ms := func(k string) time.Time { v, _ := strconv.ParseInt(m[k], 10, 64); return time.UnixMilli(v).UTC() }
	c.CreatedAt, c.UpdatedAt, c.PendingSince = ms("created_ms"), ms("updated_ms"), ms("pending_ms")
	if c.State == "claimed" {
		d, at := ms("lease_ms"), ms("claimed_ms")
		c.LeaseDeadline, c.ClaimedAt = &d, &at
		if w := ms("awaiting_ms"); m["awaiting_ms"] != "" && !w.Before(at) { // asked since this claim
			c.AwaitingReply, c.AwaitingSince = true, &w
		}
	}
	if v, err := strconv.Atoi(m["corrected_level"]); err == nil {
		c.CorrectedLevel = &v
	}
	if v, err := strconv.Atoi(m["tries"]); err == nil {
		c.Tries = &v
	}
	c.Unclassified = m["unclassified"] == "1"
	c.FollowUp = m["follow_up"] == "1"
	if c.Level >= 0 && c.Level <= 10 {
		if t := s.Routing().ClaimTargets[c.Level]; t > 0 && (c.State == "pending" || c.State == "watch") {
			d := c.PendingSince.Add(t)
			c.ClaimTarget = &d
			c.Overdue = s.clock().After(d)
		}
	}
	return c
}

// List returns cases in one state, most urgent first, with at least
// levelMin, at most limit of them. Each carries a redacted excerpt.
func (s *Store) List(ctx context.Context, state string, levelMin, limit int) ([]Case, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var index string
	switch state {
	case "pending", "":
		index = keyQueue
	case "watch":
		index = keyWatch
	case "claimed":
		index = keyLeases
	case "escalated":
		index = keyEscalated
	default:
		return nil, &ValidationError{Field: "state", Msg: "must be pending, watch, claimed or escalated"}
	}
	ids, err := s.rdb.ZRange(ctx, index, 0, 999).Result()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", state, err)
	}
	if len(ids) == 0 {
		return []Case{}, nil
	}
	pipe := s.rdb.Pipeline()
	hs := make([]*redis.MapStringStringCmd, len(ids))
	last := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		hs[i] = pipe.HGetAll(ctx, keyCase(id))
		last[i] = pipe.LIndex(ctx, keyCasePosts(id), -1)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("list %s: %w", state, err)
	}
	out := make([]Case, 0, min(limit, len(ids)))
	for i := range ids {
		m := hs[i].Val()
		if len(m) == 0 {
			continue
		}
		c := s.parseCase(m)
		if c.Level < levelMin {
			continue
		}
		var e postEntry
		if json.Unmarshal([]byte(last[i].Val()), &e) == nil {
			c.Excerpt = excerpt(e.Text, 40)
		}
		out = append(out, c)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// excerpt returns the first line of text, with handles and links removed,
// cut to n runes.
func excerpt(text string, n int) string {
	t := stripBidi(redactText(text))
	for i, r := range t {
		if r == '\n' {
			t = t[:i]
			break
		}
	}
	if utf8.RuneCountInString(t) > n {
		r := []rune(t)
		t = string(r[:n]) + "…"
	}
	return t
}

// Get returns a case and its content. reveal says whether the author and
// links may be shown (the holder, supervisors and up); otherwise handles
// and links are redacted. Every call is audited as a read of the case.
func (s *Store) Get(ctx context.Context, actor, id string, reveal bool) (Detail, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pipe := s.rdb.Pipeline()
	h := pipe.HGetAll(ctx, keyCase(id))
	posts := pipe.LRange(ctx, keyCasePosts(id), 0, -1)
	notes := pipe.LRange(ctx, keyCaseNotes(id), 0, -1)
	pii := pipe.HGet(ctx, keyCasePII(id), "author")
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return Detail{}, fmt.Errorf("get case: %w", err)
	}
	if len(h.Val()) == 0 {
		return Detail{}, ErrNotFound
	}
	action := "viewed_redacted"
	if reveal {
		action = "viewed_revealed"
	}
	// The read is audited before any content leaves the store.
	if err := s.auditEvent(ctx, id, actor, action, ""); err != nil {
		return Detail{}, err
	}
	d := Detail{Case: s.parseCase(h.Val()), Redacted: !reveal, Timeline: []postEntry{}, Notes: []Note{}}
	raw := posts.Val()
	for i := len(raw) - 1; i >= 0; i-- {
		var e postEntry
		if json.Unmarshal([]byte(raw[i]), &e) != nil {
			continue
		}
		if !reveal {
			e.URL, e.ThreadID = "", ""
			e.Text = redactText(e.Text)
			e.Evidence = redactEvidence(e.Evidence, e.Text)
		}
		d.Timeline = append(d.Timeline, e)
	}
	for _, n := range notes.Val() {
		var note Note
		if json.Unmarshal([]byte(n), &note) == nil {
			if !reveal {
				note.Text = redactText(note.Text) // a handle or link written down while talking to the person
			}
			d.Notes = append(d.Notes, note)
		}
	}
	if reveal {
		d.Author = pii.Val()
	}
	if d.State == "claimed" && d.Owner == actor {
		d.Token = h.Val()["token"]
	}
	d.HeldBefore = h.Val()["held_by:"+actor] != ""
	return d, nil
}

// auditEvent records an action that changes nothing else (a read, a
// denial, a login) in the case's log and the global stream, atomically.
func (s *Store) auditEvent(ctx context.Context, caseID, actor, action, detail string) error {
	if err := s.audit.Run(ctx, s.rdb, []string{keyQueue}, tag, caseID, actor, action, detail).Err(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// auditIn queues an audit entry in a transaction (p from TxPipelined),
// so that the change the transaction makes and its entry are written
// together or not at all. The script is sent whole (EVAL, not EVALSHA):
// a script missing from Redis's cache would fail inside the transaction
// after the change was made.
func (s *Store) auditIn(ctx context.Context, p redis.Pipeliner, caseID, actor, action, detail string) {
	s.audit.Eval(ctx, p, []string{keyQueue}, tag, caseID, actor, action, detail)
}

// listedWindow is how often a list that a page refreshes in place (every
// 10 s) is recorded as read by the same user: each page load, and then a
// refresh once in this window. A tab left open all night would otherwise
// add 8,640 entries a day to a log that is never trimmed.
const listedWindow = 5 * time.Minute

// auditListed records that actor read a list of cases (detail names the
// view); refresh says that the page refreshed it in place.
func (s *Store) auditListed(ctx context.Context, actor, detail string, refresh bool) error {
	mode := ""
	if refresh {
		mode = "refresh"
	}
	err := s.audit.Run(ctx, s.rdb, []string{keyQueue}, tag, "", actor, "listed", detail,
		int(listedWindow/time.Second), mode).Err()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Audit returns a case's audit log, oldest first; with caseID empty, the
// newest limit events of the global log, newest first.
func (s *Store) Audit(ctx context.Context, caseID string, limit int) ([]AuditEvent, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	out := []AuditEvent{}
	if caseID != "" {
		raw, err := s.rdb.LRange(ctx, keyCaseAudit(caseID), 0, -1).Result()
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		for _, r := range raw {
			var e AuditEvent
			if json.Unmarshal([]byte(r), &e) == nil {
				out = append(out, e)
			}
		}
		return out, nil
	}
	msgs, err := s.rdb.XRevRangeN(ctx, keyAudit, "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	for _, m := range msgs {
		out = append(out, auditFromStream(m))
	}
	return out, nil
}

// AuditQuery selects events of the audit log: those of one case, by one
// actor, of one action (each "" for any), older than the event Before (a
// global log id; "" for the newest), at most Limit of them.
type AuditQuery struct {
	Case, Actor, Action, Before string
	Limit                       int
}

// auditScan bounds the global log entries one search reads; a search
// that reaches it returns a cursor to go on from.
const auditScan = 20_000

// SearchAudit returns the events a query selects, newest first, and
// where to go on for older ones ("" when there are no more). A case's own
// log is read whole; the global log is read back from the newest, at
// most auditScan entries a call. The search is itself audited as
// reader's (in the case's log too, when it names one): who looked at
// whose handling is part of the record.
func (s *Store) SearchAudit(ctx context.Context, reader string, q AuditQuery) ([]AuditEvent, string, error) {
	if q.Case != "" {
		n, err := s.rdb.Exists(ctx, keyCase(q.Case)).Result()
		if err != nil {
			return nil, "", fmt.Errorf("audit: %w", err)
		}
		if n == 0 {
			return nil, "", ErrNotFound
		}
	}
	start := "+"
	if q.Before != "" {
		prev, ok := streamIDBefore(q.Before)
		if !ok {
			return nil, "", &ValidationError{Field: "before", Msg: "not an audit log id"}
		}
		start = prev
	}
	var detail []string
	for _, f := range [][2]string{{"actor", q.Actor}, {"action", q.Action}, {"before", q.Before}} {
		if f[1] != "" {
			detail = append(detail, f[0]+"="+f[1])
		}
	}
	if err := s.auditEvent(ctx, q.Case, reader, "audit_read", strings.Join(detail, " ")); err != nil {
		return nil, "", err
	}
	match := func(e AuditEvent) bool {
		return (q.Actor == "" || e.Actor == q.Actor) && (q.Action == "" || e.Action == q.Action)
	}
	if q.Case != "" {
		all, err := s.Audit(ctx, q.Case, 0)
		if err != nil {
			return nil, "", err
		}
		out := []AuditEvent{}
		for i := len(all) - 1; i >= 0 && len(out) < q.Limit; i-- {
			if match(all[i]) {
				out = append(out, all[i])
			}
		}
		return out, "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	out := []AuditEvent{}
	for scanned := 0; scanned < auditScan; {
		msgs, err := s.rdb.XRevRangeN(ctx, keyAudit, start, "-", 1000).Result()
		if err != nil {
			return nil, "", fmt.Errorf("audit: %w", err)
		}
		for _, m := range msgs {
			scanned++
			e := auditFromStream(m)
			if match(e) {
				out = append(out, e)
				if len(out) == q.Limit {
					return out, e.ID, nil
				}
			}
		}
		if len(msgs) < 1000 {
			return out, "", nil
		}
		start, _ = streamIDBefore(msgs[len(msgs)-1].ID)
		if scanned >= auditScan {
			return out, msgs[len(msgs)-1].ID, nil
		}
	}
	return out, "", nil
}

// streamIDBefore returns the greatest stream id below id ("ms-seq"), for
// reading a stream backwards from just before an entry.
func streamIDBefore(id string) (string, bool) {
	msPart, seqPart, ok := strings.Cut(id, "-")
	ms, err1 := strconv.ParseUint(msPart, 10, 64)
	seq, err2 := strconv.ParseUint(seqPart, 10, 64)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return "", false
	case seq > 0:
		return fmt.Sprintf("%d-%d", ms, seq-1), true
	case ms > 0:
		return fmt.Sprintf("%d-%d", ms-1, uint64(math.MaxUint64)), true
	}
	return "0-0", true
}

func auditFromStream(m redis.XMessage) AuditEvent {
	e := AuditEvent{ID: m.ID}
	e.TS, _ = strconv.ParseInt(fmt.Sprint(m.Values["ts"]), 10, 64)
	e.Case, _ = m.Values["case"].(string)
	e.Actor, _ = m.Values["actor"].(string)
	e.Action, _ = m.Values["action"].(string)
	e.Detail, _ = m.Values["detail"].(string)
	return e
}

// QueueStats are the queue figures computed at scrape time.
type QueueStats struct {
	PendingByLevel            [11]int
	OldestPendingAge          [11]time.Duration
	Claimed, Escalated, Watch int
	OverdueByLevel            [11]int
	UsedMemory, MaxMemory     int64
}

// Queue scores, as priority in lua/prelude.lua writes them: a tier (0
// overdue emergency, 1 emergency, 2 overdue, 3 other) times scoreTier,
// plus 10 minus the level times scoreLevel, plus the time the case began
// waiting (Unix ms).
const (
	scoreTier  = 2e14
	scoreLevel = 1e13
)

// Stats computes queue figures from Redis. The figures by level count
// every queued case, however long the queue, from the ranges of queue
// scores that each tier and level occupy.
func (s *Store) Stats(ctx context.Context) (QueueStats, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var st QueueStats
	type band struct {
		level   int
		overdue bool
		lo      float64 // the band's lowest score: since is the rest
		count   *redis.IntCmd
		oldest  *redis.ZSliceCmd
	}
	var bands []band
	pipe := s.rdb.Pipeline()
	for tier := 0; tier < 4; tier++ {
		for l := 0; l <= 10; l++ {
			lo := float64(tier)*scoreTier + float64(10-l)*scoreLevel
			rng := &redis.ZRangeBy{Min: strconv.FormatFloat(lo, 'f', 0, 64), Max: "(" + strconv.FormatFloat(lo+scoreLevel, 'f', 0, 64), Count: 1}
			bands = append(bands, band{level: l, overdue: tier%2 == 0, lo: lo,
				count:  pipe.ZCount(ctx, keyQueue, rng.Min, rng.Max),
				oldest: pipe.ZRangeByScoreWithScores(ctx, keyQueue, rng)})
		}
	}
	cl, es, wa := pipe.ZCard(ctx, keyLeases), pipe.ZCard(ctx, keyEscalated), pipe.ZCard(ctx, keyWatch)
	if _, err := pipe.Exec(ctx); err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	now := s.clock()
	for _, b := range bands {
		n := int(b.count.Val())
		st.PendingByLevel[b.level] += n
		if b.overdue {
			st.OverdueByLevel[b.level] += n
		}
		if z := b.oldest.Val(); len(z) == 1 {
			since := time.UnixMilli(int64(z[0].Score - b.lo))
			if age := now.Sub(since); age > st.OldestPendingAge[b.level] {
				st.OldestPendingAge[b.level] = age
			}
		}
	}
	st.Claimed, st.Escalated, st.Watch = int(cl.Val()), int(es.Val()), int(wa.Val())
	if info, err := s.rdb.Info(ctx, "memory").Result(); err == nil {
		st.UsedMemory, st.MaxMemory = infoInt(info, "used_memory"), infoInt(info, "maxmemory")
	}
	return st, nil
}

// Held returns the ids of the cases actor holds.
func (s *Store) Held(ctx context.Context, actor string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.rdb.SMembers(ctx, keyHeld(actor)).Result()
}

// HeldCase is a case its holder holds, with the lease token for the
// holder's own pages.
type HeldCase struct {
	Case
	Token string
}

// HeldCases returns the cases actor holds now, by id, read in one round
// trip; an entry of the held set whose case has since gone to someone
// else is left out.
func (s *Store) HeldCases(ctx context.Context, actor string) ([]HeldCase, error) {
	ids, err := s.Held(ctx, actor)
	if err != nil {
		return nil, err
	}
	sort.Strings(ids)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, keyCase(id))
	}
	if _, err := pipe.Exec(ctx); err != nil && len(ids) > 0 {
		return nil, fmt.Errorf("held cases: %w", err)
	}
	out := []HeldCase{}
	for _, cmd := range cmds {
		m := cmd.Val()
		if m["state"] == "claimed" && m["owner"] == actor {
			out = append(out, HeldCase{Case: s.parseCase(m), Token: m["token"]})
		}
	}
	return out, nil
}

// peek reads a case's summary without its content (and so without an
// audit entry): for access decisions.
func (s *Store) peek(ctx context.Context, id string) (Case, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	m, err := s.rdb.HGetAll(ctx, keyCase(id)).Result()
	if err != nil {
		return Case{}, fmt.Errorf("read case: %w", err)
	}
	if len(m) == 0 {
		return Case{}, ErrNotFound
	}
	return s.parseCase(m), nil
}

// History returns actor's newest audit events (at most limit, from the
// newest scan events of the global log).
func (s *Store) History(ctx context.Context, actor string, limit, scan int) ([]AuditEvent, error) {
	all, err := s.Audit(ctx, "", scan)
	if err != nil {
		return nil, err
	}
	out := []AuditEvent{}
	for _, e := range all {
		if e.Actor == actor && e.Case != "" {
			out = append(out, e)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// infoInt reads an integer field of Redis INFO output.
func infoInt(info, field string) int64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
