package triage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"lookout/classifier"
)

// Durations are read with days as moderators think of retention (30d),
// written without zero units (720h, not 720h0m0s) in a form any Go
// duration parser reads, and shown on the settings page with days.
func TestSettingsDurationsReadAndWrittenPlainly(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"30d", 30 * 24 * time.Hour}, {"1d12h", 36 * time.Hour}, {"2d30m", 48*time.Hour + 30*time.Minute},
		{"0d90m", 90 * time.Minute}, {"15m", 15 * time.Minute}, {"720h0m0s", 720 * time.Hour},
	} {
		got, err := parseSpan(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseSpan(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"d", "1.5d", "-1d", "+1d", "1d-2h", "1dd", "1d2", "36501d", "d5h", "x1d"} {
		if d, err := parseSpan(bad); err == nil {
			t.Errorf("parseSpan(%q) = %v, want an error", bad, d)
		}
	}
	r, err := ParseRouting([]byte(`{"retention": "30d", "lease": "1200s", "hold": "2h", "hold_emergency": "1800s", "claim_targets": {"6": "1d", "7": "1h30m"}}`), DefaultRouting())
	if err != nil {
		t.Fatal(err)
	}
	if r.Retention != 720*time.Hour || r.Lease != 20*time.Minute || r.Hold != 2*time.Hour || r.HoldEmergency != 30*time.Minute ||
		r.ClaimTargets[6] != 24*time.Hour || r.ClaimTargets[7] != 90*time.Minute {
		t.Fatalf("read %+v", r)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Lease, Hold, Retention string
		HoldEmergency          string            `json:"hold_emergency"`
		ClaimTargets           map[string]string `json:"claim_targets"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if j.Lease != "20m" || j.Hold != "2h" || j.HoldEmergency != "30m" || j.Retention != "720h" || j.ClaimTargets["6"] != "24h" || j.ClaimTargets["7"] != "1h30m" {
		t.Fatalf("written as %s", b)
	}
	for _, v := range []string{j.Lease, j.Retention, j.ClaimTargets["6"], j.ClaimTargets["7"]} {
		if _, err := time.ParseDuration(v); err != nil {
			t.Errorf("%q is not a Go duration: an older instance could not read it", v)
		}
	}
	if back, err := ParseRouting(b, DefaultRouting()); err != nil || back != r {
		t.Fatalf("round trip: %+v, %v; want %+v", back, err, r)
	}
	for d, want := range map[time.Duration]string{
		720 * time.Hour: "30d", 48 * time.Hour: "2d", 36 * time.Hour: "36h", 12 * time.Hour: "12h",
		15 * time.Minute: "15m", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s",
	} {
		if got := spanText(d); got != want {
			t.Errorf("spanText(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSettingsValidationNamesTheField(t *testing.T) {
	for _, c := range []struct{ body, field string }{
		{`{"queue_level": 11}`, "queue_level"},
		{`{"watch_level": 7, "queue_level": 6}`, "queue_level"},
		{`{"p_high": 1.5}`, "p_high"},
		{`{"lease": "forever"}`, "lease"},
		{`{"lease": "10s"}`, "lease"},
		{`{"hold": "25h"}`, "hold"},
		{`{"hold": "-1h"}`, "hold"},
		{`{"hold_emergency": "25h"}`, "hold_emergency"},
		{`{"hold_emergency": "soon"}`, "hold_emergency"},
		{`{"cap_high": 9}`, "cap_high"},
		{`{"retention": "5m"}`, "retention"},
		{`{"claim_targets": {"12": "5m"}}`, "claim_targets"},
		{`{"queue_levl": 6}`, "queue_levl"},
		{`{"cap_total": "three"}`, "cap_total"},
	} {
		_, err := ParseRouting([]byte(c.body), DefaultRouting())
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%s: %v, want a validation error on %s", c.body, err, c.field)
		}
	}
	// Through the API: 400 with the field named, nothing saved.
	e := newAPIEnv(t)
	code, body := e.do(t, "moderator", "PUT", "/api/v1/settings", map[string]any{"why": "test", "routing": map[string]any{"p_high": 2}})
	if code != 400 || !strings.Contains(body["error"].(string), "p_high") {
		t.Fatalf("bad settings: %d %v", code, body)
	}
	if _, ok, _ := e.s.CurrentSettings(ctxT()); ok {
		t.Fatal("a rejected change was saved")
	}
	code, body = e.do(t, "moderator", "PUT", "/api/v1/settings", map[string]any{"routing": map[string]any{"p_high": 0.8}})
	if code != 400 || !strings.Contains(body["error"].(string), "why") {
		t.Fatalf("change without why: %d %v", code, body)
	}
}

// TestTwoInstancesPickUpAChange: a change saved through one instance is
// applied by another within its watch interval; rollback restores the
// earlier settings exactly.
func TestTwoInstancesPickUpAChange(t *testing.T) {
	a, rs := newTestStore(t)
	b, err := NewStore(rs.Client, DefaultRouting(), testIDs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT()
	if _, err := a.SeedSettings(ctx, DefaultRouting(), "test"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := contextWithCancel()
	defer cancel()
	go b.WatchSettings(wctx, 50*time.Millisecond, slog.New(slog.DiscardHandler))
	v1 := a.Routing()
	changed := v1
	changed.QueueLevel, changed.PHigh, changed.CapTotal = 7, 0.75, 4
	changed.ClaimTargets[7] = 45 * time.Minute
	sv, err := a.SaveSettings(ctx, "mod", "fewer, surer cases at night", changed)
	if err != nil || sv.Version != 2 {
		t.Fatalf("save: %+v %v", sv, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for b.Routing() != changed && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if b.Routing() != changed {
		t.Fatalf("instance b did not apply the change: %+v", b.Routing())
	}
	if _, err := a.Rollback(ctx, "mod", 1, "too few cases"); err != nil {
		t.Fatal(err)
	}
	for b.Routing() != v1 && time.Now().Before(deadline.Add(2*time.Second)) {
		time.Sleep(20 * time.Millisecond)
	}
	if a.Routing() != v1 || b.Routing() != v1 {
		t.Fatalf("rollback did not restore v1 exactly:\n a %+v\n b %+v\n v1 %+v", a.Routing(), b.Routing(), v1)
	}
	hist, _ := a.SettingsHistory(ctx)
	if len(hist) != 3 || hist[0].Version != 3 || !strings.Contains(hist[0].Why, "rollback to v1") || hist[1].By != "mod" {
		t.Fatalf("history %+v", hist)
	}
	if n := auditCount(t, a, "", 100, isAction("settings_changed")); n != 3 {
		t.Fatalf("%d settings_changed audit events, want 3", n)
	}
}

// TestPreviewEqualsRecount and shadow mode: preview numbers equal a
// recount over the recorded scores; a shadow candidate creates no case
// and counts its differences.
func TestPreviewAndShadow(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	cand := DefaultRouting()
	cand.QueueLevel, cand.WatchLevel, cand.PHigh = 5, 4, 0.6
	if err := s.SetShadow(ctx, "mod", cand); err != nil {
		t.Fatal(err)
	}
	type sc struct {
		level int
		p     float64
	}
	var scores []sc
	for i := 0; i < 300; i++ {
		l, p := i%11, float64(i%10)/10
		scores = append(scores, sc{l, p})
		if _, _, err := s.Record(ctx, Post{ID: fmt.Sprintf("pv%d", i), AuthorID: fmt.Sprintf("pa%d", i), Text: "t", CreatedAt: time.Now()},
			classifier.Result{Level: l, PHigh: p}, false); err != nil {
			t.Fatal(err)
		}
	}
	var wantCur, wantProp, wantExtra, wantMissing [11]int
	cur := s.Routing()
	for _, x := range scores {
		_, q1 := cur.Flagged(x.level, x.p)
		_, q2 := cand.Flagged(x.level, x.p)
		if q1 {
			wantCur[x.level]++
		}
		if q2 {
			wantProp[x.level]++
		}
		if q2 && !q1 {
			wantExtra[x.level]++
		}
		if q1 && !q2 {
			wantMissing[x.level]++
		}
	}
	pv, err := s.Preview(ctx, cand, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if pv.Posts != 300 || pv.Current != wantCur || pv.Proposed != wantProp {
		t.Fatalf("preview %d posts\n current %v want %v\n proposed %v want %v", pv.Posts, pv.Current, wantCur, pv.Proposed, wantProp)
	}
	hourTotal := 0
	for _, h := range pv.Hours {
		hourTotal += h.Proposed
	}
	sumProp := 0
	for _, n := range wantProp {
		sumProp += n
	}
	if hourTotal != sumProp {
		t.Fatalf("hourly proposed %d, total %d", hourTotal, sumProp)
	}
	// Shadow: the candidate's extra cases were counted, not created.
	rep, err := s.Shadow(ctx)
	if err != nil || !rep.Active || rep.Compared != 300 {
		t.Fatalf("shadow %+v %v", rep, err)
	}
	for l := 0; l <= 10; l++ {
		if int(rep.Extra[l]) != wantExtra[l] || int(rep.Missing[l]) != wantMissing[l] {
			t.Fatalf("shadow level %d: extra %d missing %d, want %d %d", l, rep.Extra[l], rep.Missing[l], wantExtra[l], wantMissing[l])
		}
	}
	queued, _ := rs.Client.ZCard(ctx, keyQueue).Result()
	want := 0
	for _, n := range wantCur {
		want += n
	}
	if int(queued) != want {
		t.Fatalf("%d cases queued, want %d: shadow mode must create none", queued, want)
	}
}

// TestPrecisionFromOutcomes: precision per level and week from a seeded
// set of resolutions equals the hand-computed figure.
func TestPrecisionFromOutcomes(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	// Level 7: 4 resolved, 1 false positive (corrected to 2), 1 duplicate (not counted).
	// Level 9: 2 resolved, 0 false positives.
	plan := []struct {
		level   int
		outcome string
		fix     int
	}{{7, "reached_safe", 0}, {7, "false_positive", 2}, {7, "no_response", 0}, {7, "reached_referred", 0},
		{7, "duplicate", 0}, {9, "emergency_confirmed", 0}, {9, "reached_safe", 0}}
	for i, p := range plan {
		id := seed(t, s, fmt.Sprintf("prec-%d", i), p.level)
		l, err := s.Claim(ctx, "vol", RoleVolunteer, id)
		if err != nil {
			t.Fatal(err)
		}
		tries := 3
		res := Resolution{Outcome: p.outcome, Tries: &tries}
		if p.outcome == "false_positive" {
			res.CorrectedLevel = &p.fix
		}
		if err := s.Resolve(ctx, "vol", id, l.Token, res); err != nil {
			t.Fatal(err)
		}
	}
	pr, err := s.Precision(ctx, time.Now().Add(-24*time.Hour), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if r := pr.ByLevel[7]; r.Resolved != 4 || r.FalsePositives != 1 || r.Precision != 0.75 || r.MeanCorrected != 2 {
		t.Fatalf("level 7: %+v, want 4 resolved, 1 false positive, precision 0.75, corrected 2", r)
	}
	// Wilson's 95% interval for 3 of 4 is 0.301-0.954; for 2 of 2,
	// 0.342-1; with nothing resolved, 0-1.
	near := func(x, want float64) bool { return x > want-0.001 && x < want+0.001 }
	if r := pr.ByLevel[7]; !near(r.PrecisionLow, 0.301) || !near(r.PrecisionHigh, 0.954) {
		t.Fatalf("level 7's interval: %.4f-%.4f, want 0.301-0.954", r.PrecisionLow, r.PrecisionHigh)
	}
	if r := pr.ByLevel[9]; !near(r.PrecisionLow, 0.342) || r.PrecisionHigh != 1 {
		t.Fatalf("level 9's interval: %.4f-%.4f, want 0.342-1", r.PrecisionLow, r.PrecisionHigh)
	}
	if r := pr.ByLevel[8]; r.PrecisionLow != 0 || r.PrecisionHigh != 1 {
		t.Fatalf("level 8, nothing resolved: %+v", r)
	}
	if r := pr.ByLevel[9]; r.Resolved != 2 || r.Precision != 1 {
		t.Fatalf("level 9: %+v", r)
	}
	if len(pr.ByWeek) != 1 || pr.ByWeek[0].Resolved != 6 || pr.ByWeek[0].FalsePositives != 1 {
		t.Fatalf("by week: %+v", pr.ByWeek)
	}
	// The export labels every resolved post but duplicates; the false
	// positive carries the corrected level.
	var buf bytes.Buffer
	lines, withText, err := s.ExportLabels(ctx, ExportOptions{Actor: "cli:mod"}, &buf)
	if err != nil || lines != 6 || withText != 6 {
		t.Fatalf("export: %d lines, %d with text, %v", lines, withText, err)
	}
	found := false
	dec := json.NewDecoder(&buf)
	for {
		var rec map[string]any
		if err := dec.Decode(&rec); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if rec["outcome"] == "false_positive" {
			found = rec["level"] == float64(2) && rec["graded_level"] == float64(7) && rec["text"] != nil
		}
	}
	if !found {
		t.Fatal("false positive not exported with its corrected level")
	}
}

// TestPrecisionWeeksInTheZone: the weeks of the precision by week begin
// on Monday in the zone asked for (the pages'): a resolution on Monday
// morning in Shanghai, still Sunday in UTC, counts in Shanghai's new week.
func TestPrecisionWeeksInTheZone(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	sunday := time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC) // Monday 04:00 in Shanghai
	for i, at := range []time.Time{sunday, sunday.Add(6 * time.Hour)} {
		if err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: keyOutcomes, ID: fmt.Sprintf("%d-0", at.UnixMilli()),
			Values: []any{"case", fmt.Sprintf("c%d", i), "level", 7, "outcome", "reached_safe", "corrected", "", "tries", ""}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	weeks := func(loc *time.Location) []string {
		pr, err := s.Precision(ctx, sunday.Add(-time.Hour), loc)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, w := range pr.ByWeek {
			out = append(out, fmt.Sprintf("%s:%d", w.Week, w.Resolved))
		}
		return out
	}
	if got := weeks(time.UTC); !slices.Equal(got, []string{"2026-W48:1", "2026-W49:1"}) {
		t.Fatalf("weeks in UTC: %v", got)
	}
	if got := weeks(shanghai); !slices.Equal(got, []string{"2026-W49:2"}) {
		t.Fatalf("weeks in Shanghai: %v, want both in 2026-W49", got)
	}
}

// TestExportLabelsOncePerCaseAndAudited: a case resolved twice (it came
// back for a follow-up) is labeled once, by its last resolution; a case
// whose text has expired gives its label without text; each case whose
// text is read is audited as exported by whoever ran the export, and no
// other is.
func TestExportLabelsOncePerCaseAndAudited(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	resolve := func(id string, r Resolution) {
		t.Helper()
		l, err := s.Claim(ctx, "vol", RoleVolunteer, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Resolve(ctx, "vol", id, l.Token, r); err != nil {
			t.Fatal(err)
		}
	}
	twice := seed(t, s, "export-twice", 8)
	if seed(t, s, "export-twice", 8) != twice {
		t.Fatal("the second post opened another case")
	}
	fu := time.Now().Add(time.Hour)
	resolve(twice, Resolution{Outcome: "reached_safe", FollowUp: &fu})
	rs.Client.ZAdd(ctx, keyFollowups, redis.Z{Score: float64(time.Now().Add(-time.Minute).UnixMilli()), Member: twice})
	if _, fol, err := s.Sweep(ctx); err != nil || fol != 1 {
		t.Fatalf("follow-up sweep: %d %v", fol, err)
	}
	three := 3
	resolve(twice, Resolution{Outcome: "false_positive", CorrectedLevel: &three})
	expired := seed(t, s, "export-expired", 9)
	resolve(expired, Resolution{Outcome: "emergency_confirmed"})
	rs.Client.Del(ctx, keyCasePosts(expired))

	var buf bytes.Buffer
	lines, withText, err := s.ExportLabels(ctx, ExportOptions{Actor: "cli:mod"}, &buf)
	if err != nil || lines != 3 || withText != 2 {
		t.Fatalf("export: %d lines, %d with text, %v; want 3 and 2", lines, withText, err)
	}
	var got []string
	for dec := json.NewDecoder(&buf); ; {
		var rec map[string]any
		if err := dec.Decode(&rec); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%v %v %v %v", rec["case"] == twice, rec["outcome"], rec["level"], rec["text"] != nil))
	}
	want := []string{"true false_positive 3 true", "true false_positive 3 true", "false emergency_confirmed 9 false"}
	if !slices.Equal(got, want) {
		t.Fatalf("exported %q, want %q", got, want)
	}
	for id, want := range map[string]string{twice: "cli:mod posts=2", expired: ""} {
		events, err := s.Audit(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		exported := ""
		for _, e := range events {
			if e.Action == "exported" {
				exported += e.Actor + " " + e.Detail
			}
		}
		if exported != want {
			t.Fatalf("case %s audited as exported %q, want %q", id, exported, want)
		}
	}

	// Where policy keeps the text in: the labels alone, one line a case,
	// nothing read, nothing audited.
	buf.Reset()
	if lines, withText, err = s.ExportLabels(ctx, ExportOptions{Actor: "cli:mod2", NoText: true}, &buf); err != nil || lines != 2 || withText != 0 ||
		strings.Contains(buf.String(), `"text"`) || !strings.Contains(buf.String(), `"level":3`) {
		t.Fatalf("export without text: %d lines, %d with text, %v:\n%s", lines, withText, err, buf.String())
	}
	if n := auditCount(t, s, twice, 0, func(e AuditEvent) bool { return e.Actor == "cli:mod2" }); n != 0 {
		t.Fatalf("an export without text audited %d reads", n)
	}
	// Since a time: the resolutions from then on. The second case was
	// resolved last.
	msgs, err := rs.Client.XRange(ctx, keyOutcomes, "-", "+").Result()
	if err != nil || len(msgs) != 3 {
		t.Fatalf("%d resolutions recorded, %v", len(msgs), err)
	}
	buf.Reset()
	if lines, _, err = s.ExportLabels(ctx, ExportOptions{Actor: "cli:mod", Since: time.UnixMilli(streamMillis(msgs[2].ID)), NoText: true}, &buf); err != nil ||
		lines != 1 || !strings.Contains(buf.String(), `"outcome":"emergency_confirmed"`) {
		t.Fatalf("export since the last resolution: %d lines, %v:\n%s", lines, err, buf.String())
	}
}

// TestPreviewCountsARetriedPostOnce: a batch recorded again (as after a
// failed write, or a redelivery) leaves its posts twice in the score
// record; the preview counts each once.
func TestPreviewCountsARetriedPostOnce(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	var batch []Scored
	for i := range 10 {
		batch = append(batch, Scored{Post: Post{ID: fmt.Sprintf("rt%d", i), AuthorID: fmt.Sprintf("ra%d", i), Text: "t", CreatedAt: time.Now()},
			Result: classifier.Result{Level: i, PHigh: float64(i) / 10}})
	}
	for range 2 {
		if _, err := s.RecordBatch(ctx, batch, nil); err != nil {
			t.Fatal(err)
		}
	}
	lines := 0
	if err := s.EachScore(ctx, time.Time{}, func(ScoreRecord) { lines++ }); err != nil || lines != 20 {
		t.Fatalf("score record holds %d lines (%v), want 20: each post twice", lines, err)
	}
	pv, err := s.Preview(ctx, s.Routing(), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var want [11]int
	for i := range 10 {
		want[i] = 1
	}
	if pv.Posts != 10 || pv.ByLevel != want {
		t.Fatalf("preview counts %d posts, by level %v; want 10, one at each level 0-9", pv.Posts, pv.ByLevel)
	}
}

// TestRecentIDsForgetsTheOldest: the window remembers the last n ids.
func TestRecentIDsForgetsTheOldest(t *testing.T) {
	r := newRecentIDs(3)
	for _, id := range []string{"a", "b", "c"} {
		if !r.add(id) {
			t.Fatalf("%s reported seen on its first add", id)
		}
	}
	if r.add("b") {
		t.Fatal("b within the window was not reported seen")
	}
	if !r.add("d") || !r.add("a") {
		t.Fatal("d is new, and a had left the window")
	}
	// The window is now d, a, c.
	if r.add("d") || r.add("c") {
		t.Fatal("d and c are in the window")
	}
	if !r.add("b") || r.add("a") {
		t.Fatal("b had left the window; a is still in it")
	}
}

// TestShadowCountsEachPostOnce: the shadow report counts the posts
// recorded since the test started, each once however often it was
// recorded (a batch retried after a failed write), against how the
// settings in force routed it; stopping the test ends the report.
func TestShadowCountsEachPostOnce(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	batch := func(prefix string, n int) []Scored {
		var b []Scored
		for i := 0; i < n; i++ {
			b = append(b, Scored{Post: Post{ID: fmt.Sprintf("%s%d", prefix, i), AuthorID: fmt.Sprintf("%sa%d", prefix, i), Text: "t", CreatedAt: time.Now()},
				Result: classifier.Result{Level: i % 11, PHigh: float64(i%10) / 10}})
		}
		return b
	}
	if _, err := s.RecordBatch(ctx, batch("before", 30), nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the record is timed in milliseconds
	cand := DefaultRouting()
	cand.QueueLevel, cand.WatchLevel, cand.PHigh = 4, 3, 0.5
	if err := s.SetShadow(ctx, "mod", cand); err != nil {
		t.Fatal(err)
	}
	b := batch("during", 44)
	for range 3 { // recorded, then retried twice
		if _, err := s.RecordBatch(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	var wantExtra, wantMissing [11]int64
	cur := s.Routing()
	for _, sp := range b {
		_, q1 := cur.Flagged(sp.Result.Level, sp.Result.PHigh)
		_, q2 := cand.Flagged(sp.Result.Level, sp.Result.PHigh)
		switch {
		case q2 && !q1:
			wantExtra[sp.Result.Level]++
		case q1 && !q2:
			wantMissing[sp.Result.Level]++
		}
	}
	rep, err := s.Shadow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Active || rep.Compared != 44 || rep.Extra != wantExtra || rep.Missing != wantMissing {
		t.Fatalf("shadow: active %v, %d compared (want 44)\n extra %v want %v\n missing %v want %v",
			rep.Active, rep.Compared, rep.Extra, wantExtra, rep.Missing, wantMissing)
	}
	if wantExtra == ([11]int64{}) {
		t.Fatal("the case needs posts the candidate would queue and the settings in force do not")
	}
	if time.Since(rep.Since) > time.Minute || rep.Candidate == nil || rep.Candidate.QueueLevel != 4 {
		t.Errorf("shadow report since %v, candidate %+v", rep.Since, rep.Candidate)
	}
	if err := s.ClearShadow(ctx, "mod"); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Shadow(ctx); err != nil || rep.Active || rep.Compared != 0 {
		t.Errorf("after stopping: %+v %v", rep, err)
	}
	// A test started by an earlier version (a candidate, no start time)
	// is reported over the whole record: 30 + 44 posts.
	raw, _ := json.Marshal(cand)
	rs.Client.Set(ctx, keyShadow, raw, 0)
	if rep, err := s.Shadow(ctx); err != nil || !rep.Active || !rep.Since.IsZero() || rep.Compared != 74 {
		t.Errorf("a test without a start time: active %v since %v, %d compared, want 74 (%v)", rep.Active, rep.Since, rep.Compared, err)
	}
}

// TestSettingsReadAcrossReleases: settings saved by one release must not
// stop another (a rolling upgrade, a rollback). Saved settings name hold
// and hold_emergency, which the releases before them refuse, only when
// they differ from their defaults; a stored version or shadow test naming a setting this release
// does not know is read with the rest, while input (the API, the form, a
// settings file) naming one is refused.
func TestSettingsReadAcrossReleases(t *testing.T) {
	b, err := json.Marshal(DefaultRouting())
	if err != nil || strings.Contains(string(b), "hold") {
		t.Fatalf("default settings written as %s (%v): hold named", b, err)
	}
	r := DefaultRouting()
	r.HoldEmergency = 10 * time.Minute
	if b, err = json.Marshal(r); err != nil || !strings.Contains(string(b), `"hold_emergency":"10m"`) || strings.Contains(string(b), `"hold"`) {
		t.Fatalf("settings with a changed emergency hold written as %s (%v)", b, err)
	}
	stored := `{"version": 7, "by": "moderator", "at": "2026-12-07T10:00:00Z", "why": "newer release",
		"routing": {"lease": "20m", "hold": "2h", "setting_of_a_later_release": 1}}`
	v, err := decodeVersion(stored)
	if err != nil || v.Routing.Lease != 20*time.Minute || v.Routing.Hold != 2*time.Hour || v.Version != 7 {
		t.Fatalf("a stored version naming an unknown setting: %+v, %v", v, err)
	}
	if _, err := decodeVersion(strings.Replace(stored, `"20m"`, `"10s"`, 1)); err == nil {
		t.Fatal("a stored version with a bad lease was read")
	}
	if _, err := ParseRouting([]byte(`{"setting_of_a_later_release": 1}`), DefaultRouting()); err == nil {
		t.Fatal("input naming an unknown setting was accepted")
	}
	e := newAPIEnv(t)
	e.s.rdb.Set(ctxT(), keyShadow, `{"queue_level": 7, "setting_of_a_later_release": 1}`, 0)
	rep, err := e.s.Shadow(ctxT())
	if err != nil || !rep.Active || rep.Candidate == nil || rep.Candidate.QueueLevel != 7 {
		t.Fatalf("a shadow test naming an unknown setting: %+v, %v", rep, err)
	}
}
