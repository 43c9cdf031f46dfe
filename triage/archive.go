package triage

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Archived counts what Archive moved out of Redis.
type Archived struct {
	Events   int // events of the global audit log
	Outcomes int // resolutions (the precision figures and the labeled export read them)
	Cases    int // closed cases' records, each with its own audit list
	// Kept counts the cases closed before the cut-off that stay: their
	// text has not yet expired, a follow-up is due, an earlier case of
	// their author stays, or they changed while being archived (written
	// to this file, and again by a later run).
	Kept int
}

// Archive moves out of Redis what the service no longer needs from
// before `before`: it writes to w, as JSON Lines ("kind": "audit",
// "outcome" or "case"), the global audit log's events, the resolutions,
// and the records of the cases closed (resolved or erased) before it
// whose text retention has already removed, for which no follow-up is
// due and whose author's earlier case, if any, goes too; it calls done,
// which must make them durable (flush, fsync, close), and only then
// removes them, and audits the move as archived by actor. A case's
// record is removed only if it is still as written; with it go its own
// audit list, its author's link to it and any post id naming it (for its
// key), so nothing left in Redis ties the case to a person. The events
// and resolutions before a past time are a fixed set (new ones always
// come later), so what is removed from the streams is what was written.
func (s *Store) Archive(ctx context.Context, actor string, before time.Time, w io.Writer, done func() error) (Archived, error) {
	var a Archived
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	err := readStreamBefore(ctx, s.rdb, keyAudit, before, func(m redis.XMessage) error {
		a.Events++
		return enc.Encode(struct {
			Kind string `json:"kind"`
			AuditEvent
		}{"audit", auditFromStream(m)})
	})
	if err != nil {
		return Archived{}, err
	}
	err = readStreamBefore(ctx, s.rdb, keyOutcomes, before, func(m redis.XMessage) error {
		a.Outcomes++
		return enc.Encode(archivedOutcome(m))
	})
	if err != nil {
		return Archived{}, err
	}
	closed, kept, err := s.closedBefore(ctx, before)
	if err != nil {
		return Archived{}, err
	}
	a.Kept = kept
	written, err := s.writeCases(ctx, closed, enc)
	if err != nil {
		return Archived{}, err
	}
	if err := done(); err != nil {
		return Archived{}, fmt.Errorf("archive: nothing removed: %w", err)
	}
	minID := strconv.FormatInt(before.UnixMilli(), 10)
	for _, k := range []struct {
		key string
		n   int
	}{{keyAudit, a.Events}, {keyOutcomes, a.Outcomes}} {
		if k.n == 0 {
			continue
		}
		if err := s.rdb.XTrimMinID(ctx, k.key, minID).Err(); err != nil {
			return Archived{}, fmt.Errorf("archive: written but not removed (run it again): %w", err)
		}
	}
	const batch = 100 // cases a script call: short enough not to stall Redis
	removed := map[string]bool{}
	for i := 0; i < len(written); i += batch {
		args := []any{tag}
		for _, c := range written[i:min(i+batch, len(written))] {
			args = append(args, c.id, c.updated, c.auditLen)
		}
		ids, err := s.archive.Run(ctx, s.rdb, []string{keyQueue}, args...).StringSlice()
		if err != nil {
			return Archived{}, fmt.Errorf("archive: written but not all removed (run it again): %w", err)
		}
		for _, id := range ids {
			removed[id] = true
		}
	}
	// Post ids that still name an archived case (indexed before a
	// resolution hashed them) give way to hashes too.
	if err := s.hashPostIDs(ctx, removed); err != nil {
		return Archived{}, fmt.Errorf("archive: cases removed, post ids left (run it again): %w", err)
	}
	a.Cases = len(removed)
	a.Kept += len(written) - a.Cases
	detail := fmt.Sprintf("events=%d outcomes=%d cases=%d kept=%d before=%d", a.Events, a.Outcomes, a.Cases, a.Kept, before.UnixMilli())
	return a, s.auditEvent(ctx, "", actor, "archived", detail)
}

// readStreamBefore calls each with every entry of a stream from before
// `before`, oldest first.
func readStreamBefore(ctx context.Context, rdb redis.UniversalClient, key string, before time.Time, each func(redis.XMessage) error) error {
	// Every id below before's millisecond: an id without its sequence
	// ends that millisecond when it ends a range, and begins it as MINID.
	end := strconv.FormatInt(before.UnixMilli()-1, 10)
	for start := "-"; ; {
		msgs, err := rdb.XRangeN(ctx, key, start, end, 1000).Result()
		if err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		for _, m := range msgs {
			if err := each(m); err != nil {
				return fmt.Errorf("archive: write: %w", err)
			}
		}
		if len(msgs) < 1000 {
			return nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// outcomeRecord is a resolution as an archive holds it.
type outcomeRecord struct {
	Kind           string `json:"kind"` // "outcome"
	ID             string `json:"id"`   // its place in the resolutions stream
	TS             int64  `json:"ts"`
	Case           string `json:"case"`
	Level          int    `json:"level"`
	Outcome        string `json:"outcome"`
	CorrectedLevel *int   `json:"corrected_level,omitempty"`
	Tries          *int   `json:"tries,omitempty"`
}

func archivedOutcome(m redis.XMessage) outcomeRecord {
	r := outcomeRecord{Kind: "outcome", ID: m.ID, TS: streamMillis(m.ID)}
	r.Case, _ = m.Values["case"].(string)
	r.Outcome, _ = m.Values["outcome"].(string)
	r.Level, _ = strconv.Atoi(fmt.Sprint(m.Values["level"]))
	if v, err := strconv.Atoi(fmt.Sprint(m.Values["corrected"])); err == nil {
		r.CorrectedLevel = &v
	}
	if v, err := strconv.Atoi(fmt.Sprint(m.Values["tries"])); err == nil {
		r.Tries = &v
	}
	return r
}

// caseRecord is a closed case as an archive holds it: its summary (the
// API's case form, without the author's key) and its own audit list.
type caseRecord struct {
	Kind string `json:"kind"` // "case"
	Case
	ResolvedAt *time.Time   `json:"resolved_at,omitempty"`
	ResolvedBy string       `json:"resolved_by,omitempty"`
	Audit      []AuditEvent `json:"audit"`
}

// archivedCase names a case written to an archive as it was written.
type archivedCase struct {
	id, updated string
	auditLen    int
	created     int64
}

// closedBefore finds the cases closed (resolved, or erased on a deletion
// request) before `before` that may leave Redis: no text left, no
// follow-up due, and the author's earlier case (which the case names as
// previous) gone or leaving too. It counts those closed then that stay.
func (s *Store) closedBefore(ctx context.Context, before time.Time) (ids []string, kept int, err error) {
	cut := before.UnixMilli()
	prevOf := map[string]string{} // the cases that may leave -> the case each names as previous
	var page []string
	check := func() error {
		type probe struct {
			f        *redis.SliceCmd
			content  *redis.IntCmd
			followUp *redis.FloatCmd
		}
		probes := make([]probe, len(page))
		pipe := s.rdb.Pipeline()
		for i, id := range page {
			probes[i] = probe{
				f:        pipe.HMGet(ctx, keyCase(id), "state", "resolved_ms", "updated_ms", "prev"),
				content:  pipe.Exists(ctx, keyCasePosts(id), keyCaseNotes(id), keyCasePII(id)),
				followUp: pipe.ZScore(ctx, keyFollowups, id),
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return err
		}
		for i, p := range probes {
			if err := p.followUp.Err(); err != nil && err != redis.Nil {
				return err // a real failure, not "no follow-up"
			}
			f := p.f.Val()
			if len(f) != 4 {
				continue
			}
			state, _ := f[0].(string)
			closedAt := f[1]
			if state == "deleted" {
				closedAt = f[2]
			} else if state != "resolved" {
				continue
			}
			if ms, err := strconv.ParseInt(fmt.Sprint(closedAt), 10, 64); err != nil || ms >= cut {
				continue
			}
			if p.content.Val() > 0 || p.followUp.Err() == nil {
				kept++
				continue
			}
			prev, _ := f[3].(string)
			prevOf[page[i]] = prev
		}
		page = page[:0]
		return nil
	}
	iter := s.rdb.Scan(ctx, 0, tag+"case:*", 500).Iterator()
	for iter.Next(ctx) {
		id := strings.TrimPrefix(iter.Val(), tag+"case:")
		if strings.Contains(id, ":") { // a case's list or content, not its record
			continue
		}
		if page = append(page, id); len(page) == 500 {
			if err := check(); err != nil {
				return nil, 0, fmt.Errorf("archive: %w", err)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return nil, 0, fmt.Errorf("archive: %w", err)
	}
	if err := check(); err != nil {
		return nil, 0, fmt.Errorf("archive: %w", err)
	}
	// A case whose earlier case stays in Redis stays too: an erasure
	// follows an author's cases from the newest, and must reach each.
	pipe := s.rdb.Pipeline()
	exists := map[string]*redis.IntCmd{}
	for _, prev := range prevOf {
		if _, leaving := prevOf[prev]; prev != "" && !leaving && exists[prev] == nil {
			exists[prev] = pipe.Exists(ctx, keyCase(prev))
		}
	}
	if len(exists) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, 0, fmt.Errorf("archive: %w", err)
		}
	}
	staying := func(id string) bool {
		for range len(prevOf) {
			prev := prevOf[id]
			if prev == "" {
				return false
			}
			if _, leaving := prevOf[prev]; !leaving {
				return exists[prev] != nil && exists[prev].Val() == 1
			}
			id = prev
		}
		return true // the links go round: leave them as they are
	}
	for id := range prevOf {
		if staying(id) {
			kept++
		} else {
			ids = append(ids, id)
		}
	}
	return ids, kept, nil
}

// writeCases writes each case's record and audit list, and returns them
// as written.
func (s *Store) writeCases(ctx context.Context, ids []string, enc *json.Encoder) ([]archivedCase, error) {
	out := make([]archivedCase, 0, len(ids))
	const batch = 200
	for i := 0; i < len(ids); i += batch {
		page := ids[i:min(i+batch, len(ids))]
		hashes := make([]*redis.MapStringStringCmd, len(page))
		audits := make([]*redis.StringSliceCmd, len(page))
		pipe := s.rdb.Pipeline()
		for j, id := range page {
			hashes[j] = pipe.HGetAll(ctx, keyCase(id))
			audits[j] = pipe.LRange(ctx, keyCaseAudit(id), 0, -1)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		for j, id := range page {
			m := hashes[j].Val()
			if len(m) == 0 { // gone since it was found
				continue
			}
			rec := caseRecord{Kind: "case", Case: s.parseCase(m), ResolvedBy: m["resolved_by"], Audit: []AuditEvent{}}
			if v, err := strconv.ParseInt(m["resolved_ms"], 10, 64); err == nil {
				at := time.UnixMilli(v).UTC()
				rec.ResolvedAt = &at
			}
			raw := audits[j].Val()
			for _, r := range raw {
				var e AuditEvent
				if json.Unmarshal([]byte(r), &e) == nil {
					rec.Audit = append(rec.Audit, e)
				}
			}
			if err := enc.Encode(rec); err != nil {
				return nil, fmt.Errorf("archive: write: %w", err)
			}
			created, _ := strconv.ParseInt(m["created_ms"], 10, 64)
			out = append(out, archivedCase{id: id, updated: m["updated_ms"], auditLen: len(raw), created: created})
		}
	}
	// Oldest first: an author's earlier case leaves before the later one
	// that names it (lua/archive.lua).
	slices.SortFunc(out, func(a, b archivedCase) int { return cmp.Compare(a.created, b.created) })
	return out, nil
}
