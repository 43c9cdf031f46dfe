package triage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// SetShadow puts candidate settings under shadow test: every post
// recorded from now on is also routed by them, without creating
// anything, and the report counts the differences. A new test starts
// the counts again.
func (s *Store) SetShadow(ctx context.Context, actor string, r Routing) error {
	if err := r.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(r)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// Redis's clock, which also times the score record's entries.
	now, err := s.rdb.Time(ctx).Result()
	if err != nil {
		return fmt.Errorf("set shadow: %w", err)
	}
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, keyShadow, b, 0)
		p.Set(ctx, keyShadowSince, now.UnixMilli(), 0)
		s.auditIn(ctx, p, "", actor, "shadow_started", "")
		return nil
	}); err != nil {
		return fmt.Errorf("set shadow: %w", err)
	}
	return nil
}

// ClearShadow ends the shadow test.
func (s *Store) ClearShadow(ctx context.Context, actor string) error {
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, keyShadow, keyShadowSince)
		s.auditIn(ctx, p, "", actor, "shadow_stopped", "")
		return nil
	}); err != nil {
		return fmt.Errorf("clear shadow: %w", err)
	}
	return nil
}

// ShadowReport compares the shadow candidate with the settings in force.
type ShadowReport struct {
	Active    bool      `json:"active"`
	Candidate *Routing  `json:"candidate,omitempty"`
	Since     time.Time `json:"since,omitzero"` // when the test started
	Compared  int64     `json:"compared"`
	Extra     [11]int64 `json:"extra"`   // posts the candidate would queue and the active settings did not, by level
	Missing   [11]int64 `json:"missing"` // posts the active settings queued and the candidate would not, by level
}

// Shadow reports the shadow test: it routes every post recorded since
// the test started by the candidate and compares that with how the
// settings in force then routed it, from the score record, where a post
// recorded twice (a retried batch, a redelivery) counts once. The
// record is capped (maxScoreEntries): a test that outlives it is
// reported over the posts it still holds.
func (s *Store) Shadow(ctx context.Context) (ShadowReport, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var rep ShadowReport
	vals, err := s.rdb.MGet(ctx, keyShadow, keyShadowSince).Result()
	if err != nil {
		return rep, fmt.Errorf("shadow: %w", err)
	}
	raw, _ := vals[0].(string)
	if raw == "" {
		return rep, nil
	}
	cand, err := readStoredRouting([]byte(raw))
	if err != nil {
		return rep, nil
	}
	rep.Active, rep.Candidate = true, &cand
	// A test started by an earlier version has no start time: it is
	// reported over the whole record.
	if since, _ := vals[1].(string); since != "" {
		ms, err := strconv.ParseInt(since, 10, 64)
		if err != nil {
			return rep, fmt.Errorf("shadow: start time %q: %w", since, err)
		}
		rep.Since = time.UnixMilli(ms).UTC()
	}
	err = s.eachScoreOnce(ctx, rep.Since, func(r ScoreRecord) {
		rep.Compared++
		_, q := cand.Flagged(r.Level, r.PHigh)
		switch {
		case q && !r.Queued:
			rep.Extra[r.Level]++
		case !q && r.Queued:
			rep.Missing[r.Level]++
		}
	})
	if err != nil {
		return rep, fmt.Errorf("shadow: %w", err)
	}
	return rep, nil
}

// Preview is what settings would have produced over recorded scores.
type Preview struct {
	Since    time.Time     `json:"since"`
	Posts    int           `json:"posts"`
	ByLevel  [11]int       `json:"posts_by_level"`
	Current  [11]int       `json:"current_queued_by_level"`  // queued under the settings in force
	Proposed [11]int       `json:"proposed_queued_by_level"` // queued under the proposal
	Hours    []PreviewHour `json:"hours"`
}

// PreviewHour is one hour of a preview.
type PreviewHour struct {
	Hour            time.Time `json:"hour"`
	Current         int       `json:"current_queued"`
	Proposed        int       `json:"proposed_queued"`
	CurrentByLevel  [11]int   `json:"current_queued_by_level"`
	ProposedByLevel [11]int   `json:"proposed_queued_by_level"`
}

// Preview routes every score recorded since `since` (ids and scores only)
// by the settings in force and by proposed, and counts both. A post the
// record holds twice (a batch recorded again after a failed write, a
// message delivered again after a restart) counts once.
func (s *Store) Preview(ctx context.Context, proposed Routing, since time.Time) (Preview, error) {
	if err := proposed.Validate(); err != nil {
		field, msg, _ := splitField(err)
		return Preview{}, &ValidationError{Field: field, Msg: msg}
	}
	current := s.Routing()
	pv := Preview{Since: since}
	hours := map[int64]*PreviewHour{}
	err := s.eachScoreOnce(ctx, since, func(r ScoreRecord) {
		h := r.At.UTC().Truncate(time.Hour)
		ph := hours[h.Unix()]
		if ph == nil {
			ph = &PreviewHour{Hour: h}
			hours[h.Unix()] = ph
		}
		pv.Posts++
		pv.ByLevel[r.Level]++
		if _, q := current.Flagged(r.Level, r.PHigh); q {
			pv.Current[r.Level]++
			ph.Current++
			ph.CurrentByLevel[r.Level]++
		}
		if _, q := proposed.Flagged(r.Level, r.PHigh); q {
			pv.Proposed[r.Level]++
			ph.Proposed++
			ph.ProposedByLevel[r.Level]++
		}
	})
	if err != nil {
		return pv, fmt.Errorf("preview: %w", err)
	}
	for t := since.UTC().Truncate(time.Hour); !t.After(s.clock().UTC()); t = t.Add(time.Hour) {
		if ph := hours[t.Unix()]; ph != nil {
			pv.Hours = append(pv.Hours, *ph)
		} else {
			pv.Hours = append(pv.Hours, PreviewHour{Hour: t})
		}
	}
	return pv, nil
}

// eachScoreOnce is EachScore calling fn once for a post the record holds
// twice (a batch recorded again after a failed write, a message delivered
// again after a restart), within previewDedupeWindow posts.
func (s *Store) eachScoreOnce(ctx context.Context, since time.Time, fn func(ScoreRecord)) error {
	seen := newRecentIDs(previewDedupeWindow)
	return s.EachScore(ctx, since, func(r ScoreRecord) {
		if seen.add(r.PostKey) {
			fn(r)
		}
	})
}

// previewDedupeWindow is how many of the latest post keys Preview
// remembers to count a post recorded twice once: a post is recorded again
// within seconds of the first time, and the window bounds the memory of
// a long preview (about 11 MB with 20-byte ids, measured; keys are 16).
const previewDedupeWindow = 100_000

// recentIDs remembers the last n ids added.
type recentIDs struct {
	set  map[string]struct{}
	ring []string
	next int // in a full ring, the oldest id
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{set: map[string]struct{}{}, ring: make([]string, 0, n)}
}

// add reports whether id is not among the remembered ids, and remembers
// it in place of the oldest.
func (r *recentIDs) add(id string) bool {
	if _, ok := r.set[id]; ok {
		return false
	}
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, id)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = id
		r.next = (r.next + 1) % len(r.ring)
	}
	r.set[id] = struct{}{}
	return true
}

func splitField(err error) (field, msg string, ok bool) {
	s := err.Error()
	for i := 0; i+1 < len(s); i++ {
		if s[i] == ':' && s[i+1] == ' ' {
			return s[:i], s[i+2:], true
		}
	}
	return "settings", s, false
}

// Precision is how often a level's cases were real, from resolved
// outcomes: a false positive is a miss; a duplicate counts for nothing.
type Precision struct {
	Since   time.Time        `json:"since"`
	ByLevel [11]PrecisionRow `json:"by_level"`
	ByWeek  []PrecisionWeek  `json:"by_week"`
}

// PrecisionRow counts one level's resolutions.
type PrecisionRow struct {
	Resolved       int     `json:"resolved"` // excluding duplicates
	FalsePositives int     `json:"false_positives"`
	Precision      float64 `json:"precision"` // 0 when nothing resolved
	// PrecisionLow and PrecisionHigh bound Precision's 95% interval
	// (Wilson's): with few resolutions it is wide, and the precision is
	// not yet a reason to move a threshold. 0 and 1 when nothing resolved.
	PrecisionLow  float64 `json:"precision_low"`
	PrecisionHigh float64 `json:"precision_high"`
	// MeanCorrected is the mean level volunteers gave the false positives.
	MeanCorrected float64 `json:"mean_corrected_level"`
}

// PrecisionWeek is one ISO week (Monday to Sunday in the zone asked
// for), all levels together.
type PrecisionWeek struct {
	Week string `json:"week"` // e.g. 2026-W48
	PrecisionRow
}

// PrecisionDays is how far back the precision figures look by default
// (the moderators' page, the metrics, the API without ?days).
const PrecisionDays = 28

// Precision computes precision per level and per week from the
// resolutions recorded since `since`; weeks begin on Mondays in loc, the
// zone the moderators' pages are in.
func (s *Store) Precision(ctx context.Context, since time.Time, loc *time.Location) (Precision, error) {
	out := Precision{Since: since}
	weeks := map[string]*PrecisionRow{}
	var corrected [11]float64
	var weekOrder []string
	start := strconv.FormatInt(since.UnixMilli(), 10)
	for {
		msgs, err := s.rdb.XRangeN(ctx, keyOutcomes, start, "+", 5000).Result()
		if err != nil {
			return out, fmt.Errorf("precision: %w", err)
		}
		for _, m := range msgs {
			level, err := strconv.Atoi(fmt.Sprint(m.Values["level"]))
			if err != nil || level < 0 || level > 10 {
				continue
			}
			outcome := fmt.Sprint(m.Values["outcome"])
			if outcome == "duplicate" {
				continue
			}
			ms := streamMillis(m.ID)
			y, w := time.UnixMilli(ms).In(loc).ISOWeek()
			wk := fmt.Sprintf("%d-W%02d", y, w)
			if weeks[wk] == nil {
				weeks[wk] = &PrecisionRow{}
				weekOrder = append(weekOrder, wk)
			}
			row := &out.ByLevel[level]
			row.Resolved++
			weeks[wk].Resolved++
			if outcome == "false_positive" {
				row.FalsePositives++
				weeks[wk].FalsePositives++
				c, _ := strconv.Atoi(fmt.Sprint(m.Values["corrected"]))
				corrected[level] += float64(c)
			}
		}
		if len(msgs) < 5000 {
			break
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
	fill := func(r *PrecisionRow) {
		r.PrecisionLow, r.PrecisionHigh = wilson(r.Resolved-r.FalsePositives, r.Resolved)
		if r.Resolved > 0 {
			r.Precision = float64(r.Resolved-r.FalsePositives) / float64(r.Resolved)
		}
	}
	for l := range out.ByLevel {
		fill(&out.ByLevel[l])
		if out.ByLevel[l].FalsePositives > 0 {
			out.ByLevel[l].MeanCorrected = corrected[l] / float64(out.ByLevel[l].FalsePositives)
		}
	}
	for _, wk := range weekOrder {
		r := weeks[wk]
		fill(r)
		out.ByWeek = append(out.ByWeek, PrecisionWeek{Week: wk, PrecisionRow: *r})
	}
	return out, nil
}

// wilson is the 95% Wilson score interval of k successes in n trials;
// [0, 1] when n is 0.
func wilson(k, n int) (low, high float64) {
	if n == 0 {
		return 0, 1
	}
	const z2 = 1.959964 * 1.959964
	p, fn := float64(k)/float64(n), float64(n)
	center := (p + z2/(2*fn)) / (1 + z2/fn)
	half := math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn)) * 1.959964 / (1 + z2/fn)
	return max(0, center-half), min(1, center+half)
}

// ParseDateTime reads a bound given by hand (an export's start, an audit
// archive's end): a date (2026-11-01, its midnight in loc) or an RFC 3339
// time.
func ParseDateTime(v string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a date (2026-11-01) nor an RFC 3339 time (2026-11-01T08:00:00+08:00)", v)
}

// ExportOptions selects what ExportLabels writes.
type ExportOptions struct {
	Actor string    // who exports: each case whose text is read is audited as exported by them
	Since time.Time // resolutions from this time on; zero: all
	// NoText writes the labels alone, one line a case at the level it
	// was graded (or corrected to), where policy keeps the text in:
	// nothing is read, so nothing is audited.
	NoText bool
}

// ExportLabels writes one JSON line per post of every resolved case whose
// outcome labels it: false positives carry the volunteer's corrected
// level; confirmed cases the level the post was graded. A case resolved
// more than once (it came back for a follow-up) is labeled by its last
// resolution, once. Text is included only
// while retention keeps it, and each case whose text is read is audited
// as exported by o.Actor before its text is written. Duplicates and
// "other" are left out. Returns the lines written and how many carried
// text.
func (s *Store) ExportLabels(ctx context.Context, o ExportOptions, w io.Writer) (lines, withText int, err error) {
	type resolution struct {
		id, outcome, corrected, level string
	}
	var all []resolution       // in the order resolved
	lastAt := map[string]int{} // a case's last resolution in all
	start := "-"
	if !o.Since.IsZero() {
		start = strconv.FormatInt(o.Since.UnixMilli(), 10)
	}
	for {
		msgs, err := s.rdb.XRangeN(ctx, keyOutcomes, start, "+", 1000).Result()
		if err != nil {
			return 0, 0, fmt.Errorf("export: %w", err)
		}
		for _, m := range msgs {
			id := fmt.Sprint(m.Values["case"])
			lastAt[id] = len(all)
			all = append(all, resolution{id, fmt.Sprint(m.Values["outcome"]), fmt.Sprint(m.Values["corrected"]), fmt.Sprint(m.Values["level"])})
		}
		if len(msgs) < 1000 {
			break
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i, r := range all {
		id := r.id
		if lastAt[id] != i || r.outcome == "duplicate" || r.outcome == "other" {
			continue
		}
		var posts []string
		if !o.NoText {
			if posts, err = s.rdb.LRange(ctx, keyCasePosts(id), 0, -1).Result(); err != nil {
				return lines, withText, fmt.Errorf("export: %w", err)
			}
		}
		if len(posts) == 0 { // text expired or not asked for: the label without it
			level, _ := strconv.Atoi(r.level)
			if err := enc.Encode(map[string]any{"case": id, "outcome": r.outcome, "level": labelLevel(r.outcome, r.corrected, level)}); err != nil {
				return lines, withText, err
			}
			lines++
			continue
		}
		// The read is audited before any text leaves the store.
		if err := s.auditEvent(ctx, id, o.Actor, "exported", "posts="+strconv.Itoa(len(posts))); err != nil {
			return lines, withText, err
		}
		for _, raw := range posts {
			var e postEntry
			if json.Unmarshal([]byte(raw), &e) != nil {
				continue
			}
			rec := map[string]any{"case": id, "post": e.ID, "outcome": r.outcome, "text": e.Text,
				"graded_level": e.Level, "level": labelLevel(r.outcome, r.corrected, e.Level)}
			if err := enc.Encode(rec); err != nil {
				return lines, withText, err
			}
			lines++
			withText++
		}
	}
	return lines, withText, nil
}

func labelLevel(outcome, corrected string, graded int) int {
	if outcome == "false_positive" {
		if c, err := strconv.Atoi(corrected); err == nil {
			return c
		}
	}
	return graded
}
