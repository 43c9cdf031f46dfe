package triage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"lookout/classifier"
)

func TestRecordOneCasePerAuthor(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	_, c1, err := s.Record(ctx, Post{ID: "first", AuthorID: "alice", Text: "x", CreatedAt: time.Now()},
		classifier.Result{Level: 6, PHigh: 0.7}, false)
	if err != nil {
		t.Fatal(err)
	}
	c2 := seed(t, s, "alice", 9) // joins and raises the level
	if c1 != c2 {
		t.Fatalf("second post opened case %s, want it to join %s", c2, c1)
	}
	d, err := s.Get(ctx, "sup", c1, true)
	if err != nil {
		t.Fatal(err)
	}
	if d.Level != 9 || d.Posts != 2 || len(d.Timeline) != 2 || d.Author != "alice" {
		t.Fatalf("case after join: level %d posts %d timeline %d author %q", d.Level, d.Posts, len(d.Timeline), d.Author)
	}
	// Redelivery of the same post changes nothing.
	out, id, err := s.Record(ctx, Post{ID: "first", AuthorID: "alice", Text: "x", CreatedAt: time.Now()},
		classifier.Result{Level: 10, PHigh: 1}, false)
	if err != nil || out != OutcomeDuplicate || id != c1 {
		t.Fatalf("redelivery: %v %v %v", out, id, err)
	}
	// A watch-level post opens a watch case, out of the queue, promoted
	// when the same person posts at a queue level.
	w := seed(t, s, "bob", 5)
	if st, _ := s.peek(ctx, w); st.State != "watch" {
		t.Fatalf("level 5 case state %q, want watch", st.State)
	}
	seed(t, s, "bob", 7)
	if st, _ := s.peek(ctx, w); st.State != "pending" || st.Level != 7 {
		t.Fatalf("after a level 7 post: %+v", st)
	}
	// An unflagged post leaves only a score record.
	out, _, err = s.Record(ctx, Post{ID: "calm", AuthorID: "carol", Text: "今天天气不错", CreatedAt: time.Now()},
		classifier.Result{Level: 0, PHigh: 0.01}, false)
	if err != nil || out != OutcomeNotFlagged {
		t.Fatalf("calm post: %v %v", out, err)
	}
	if n, _ := rs.Client.HLen(ctx, keyOpen).Result(); n != 2 {
		t.Fatalf("open cases %d, want 2", n)
	}
	// A classifier failure becomes a case for review, queued.
	out, id, err = s.Record(ctx, Post{ID: "broken", AuthorID: "dave", Text: "?", CreatedAt: time.Now()},
		classifier.Result{}, true)
	if err != nil || out != OutcomeCreated {
		t.Fatalf("unclassified: %v %v", out, err)
	}
	if c, _ := s.peek(ctx, id); !c.Unclassified || c.State != "pending" {
		t.Fatalf("unclassified case %+v", c)
	}
}

func TestResolveLinksHistoryAndExpiresText(t *testing.T) {
	s, rs := newTestStore(t, func(r *Routing) { r.Retention = 2 * time.Second })
	ctx := ctxT()
	c1 := seed(t, s, "erin", 8)
	c1Post := fmt.Sprintf("p%d", postSeq) // the id seed gave c1's post
	l, err := s.Claim(ctx, "vol", RoleVolunteer, "")
	if err != nil || l.CaseID != c1 {
		t.Fatalf("claim: %+v %v", l, err)
	}
	if err := s.AddNote(ctx, "vol", RoleVolunteer, c1, l.Token, "打了电话，她说还好"); err != nil {
		t.Fatal(err)
	}
	if err := s.Resolve(ctx, "vol", c1, l.Token, Resolution{Outcome: "reached_safe"}); err != nil {
		t.Fatal(err)
	}
	// The post index keeps a hash of the resolved case's post ids, not the
	// ids (which lead to the author); the post delivered again is still
	// a duplicate.
	if id := rs.Client.HGet(ctx, keyPostCase, c1Post).Val(); id != "" {
		t.Fatalf("the post index still holds the resolved case's post id (case %s)", id)
	}
	redelivered := Post{ID: c1Post, AuthorID: "erin", Text: "我想死", CreatedAt: time.Now()}
	if out, id, err := s.Record(ctx, redelivered, classifier.Result{Level: 8, PHigh: 0.8}, false); err != nil || out != OutcomeDuplicate || id != c1 {
		t.Fatalf("the resolved case's post delivered again: %v %s %v; want a duplicate of %s", out, id, err, c1)
	}
	c2 := seed(t, s, "erin", 9)
	if c2 == c1 {
		t.Fatal("a post after resolution joined the resolved case")
	}
	if c, _ := s.peek(ctx, c2); c.Previous != c1 {
		t.Fatalf("new case does not link the resolved one: %+v", c)
	}
	// The resolved case's text, identity and notes expire; ids and audit stay.
	for _, k := range []string{keyCasePosts(c1), keyCaseNotes(c1), keyCasePII(c1)} {
		if ttl := rs.Client.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Fatalf("%s has no expiry (ttl %v)", k, ttl)
		}
	}
	for _, k := range []string{keyCase(c2), keyCasePosts(c2), keyCasePII(c2), keyCaseAudit(c1), keyCase(c1)} {
		if ttl := rs.Client.PTTL(ctx, k).Val(); ttl != -1 {
			t.Fatalf("%s should never expire, ttl %v", k, ttl)
		}
	}
	time.Sleep(2100 * time.Millisecond)
	d, err := s.Get(ctx, "sup", c1, true)
	if err != nil || len(d.Timeline) != 0 || len(d.Notes) != 0 || d.Author != "" || d.Outcome != "reached_safe" {
		t.Fatalf("after retention: %+v %v", d, err)
	}
	ev, _ := s.Audit(ctx, c1, 0)
	for _, e := range ev {
		if strings.Contains(e.Detail, "电话") || strings.Contains(e.Detail, "erin") {
			t.Fatalf("audit keeps content: %+v", e)
		}
	}
}

// TestZombieLease (R9): A's lease expires, B claims, A's resolve with the
// old token is rejected and audited; the state is B's.
func TestZombieLease(t *testing.T) {
	s, _ := newTestStore(t, func(r *Routing) { r.Lease = time.Second })
	ctx := ctxT()
	c := seed(t, s, "frank", 9)
	a, err := s.Claim(ctx, "alice", RoleVolunteer, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "bob", RoleVolunteer, c); !errors.Is(err, ErrTaken) {
		t.Fatalf("claim of a held case: %v, want ErrTaken", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if exp, _, err := s.Sweep(ctx); err != nil || exp != 1 {
		t.Fatalf("sweep: %d expired, %v", exp, err)
	}
	if exp, _, _ := s.Sweep(ctx); exp != 0 {
		t.Fatal("a second sweep expired again")
	}
	b, err := s.Claim(ctx, "bob", RoleVolunteer, c)
	if err != nil {
		t.Fatal(err)
	}
	if b.Token == a.Token {
		t.Fatal("fencing token not bumped")
	}
	err = s.Resolve(ctx, "alice", c, a.Token, Resolution{Outcome: "reached_safe"})
	if !errors.Is(err, ErrStaleToken) {
		t.Fatalf("zombie resolve: %v, want ErrStaleToken", err)
	}
	cs, _ := s.peek(ctx, c)
	if cs.State != "claimed" || cs.Owner != "bob" {
		t.Fatalf("state after zombie: %+v", cs)
	}
	ev, _ := s.Audit(ctx, c, 0)
	found := false
	for _, e := range ev {
		found = found || (e.Action == "rejected" && e.Actor == "alice")
	}
	if !found {
		t.Fatalf("rejection not audited: %+v", ev)
	}
	// An expired lease nobody swept can be claimed directly.
	r := s.Routing()
	r.Lease = time.Second
	s.setRouting(r)
	time.Sleep(1100 * time.Millisecond)
	if _, err := s.Claim(ctx, "carol", RoleVolunteer, c); err != nil {
		t.Fatalf("claim of an expired, unswept lease: %v", err)
	}
	if held, _ := s.Held(ctx, "bob"); len(held) != 0 {
		t.Fatalf("bob still holds %v", held)
	}
}

// TestClockSkew (R10): the app clock ±5 min changes no lease: deadlines
// come from Redis TIME.
func TestClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{-5 * time.Minute, 5 * time.Minute} {
		s, rs := newTestStore(t)
		s.now = func() time.Time { return time.Now().Add(skew) }
		ctx := ctxT()
		c := seed(t, s, "gina", 7)
		l, err := s.Claim(ctx, "vol", RoleVolunteer, c)
		if err != nil {
			t.Fatal(err)
		}
		redisNow, _ := rs.Client.Time(ctx).Result()
		if d := l.Deadline.Sub(redisNow); d < 15*time.Minute-5*time.Second || d > 15*time.Minute+time.Second {
			t.Fatalf("skew %v: lease of %v from Redis time, want 15m", skew, d)
		}
		if exp, _, _ := s.Sweep(ctx); exp != 0 {
			t.Fatalf("skew %v: sweep expired a fresh lease", skew)
		}
		if err := s.AddNote(ctx, "vol", RoleVolunteer, c, l.Token, "note"); err != nil {
			t.Fatal(err)
		}
		tries := 4
		if err := s.Resolve(ctx, "vol", c, l.Token, Resolution{Outcome: "no_response", Tries: &tries}); err != nil {
			t.Fatalf("skew %v: resolve: %v", skew, err)
		}
		// What the app compares with Redis's times reads Redis's clock, as
		// the sweep measured it: a level-10 case (claim target 5 minutes)
		// that has just come is not overdue, one that has waited 6 minutes
		// is, and each waited as long as it did.
		fresh, late := seed(t, s, "fresh-10", 10), seed(t, s, "late-10", 10)
		redisNow, _ = rs.Client.Time(ctx).Result()
		rs.Client.HSet(ctx, keyCase(late), "pending_ms", redisNow.Add(-6*time.Minute).UnixMilli())
		if _, _, err := s.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if d := s.clock().Sub(redisNow); d < -time.Second || d > time.Second {
			t.Fatalf("skew %v: the store's clock is %v off Redis's", skew, d)
		}
		for id, want := range map[string]bool{fresh: false, late: true} {
			c, err := s.peek(ctx, id)
			if err != nil || c.Overdue != want {
				t.Fatalf("skew %v: case %s overdue %v (%v), want %v", skew, id, c.Overdue, err, want)
			}
			if waited := sinceText(LangEN, s.clock().Sub(c.PendingSince)); (id == fresh) != (waited == "0 min") || (id == late) != (waited == "6 min") {
				t.Fatalf("skew %v: case %s waited %s", skew, id, waited)
			}
		}
	}
}

// TestSweeperReadsRedisClockAtOnce: an instance's sweeper measures
// Redis's clock as it starts, not an interval later, so the first
// minutes' overdue marks and waits already read Redis's clock.
func TestSweeperReadsRedisClockAtOnce(t *testing.T) {
	s, rs := newTestStore(t)
	s.now = func() time.Time { return time.Now().Add(5 * time.Minute) }
	ctx, cancel := context.WithCancel(ctxT())
	defer cancel()
	go NewSweeper(s, time.Hour, slog.New(slog.DiscardHandler), nil).Run(ctx)
	var d time.Duration
	for range 100 {
		redisNow, err := rs.Client.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if d = s.clock().Sub(redisNow); d > -time.Second && d < time.Second {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("5 s after the sweeper started, the store's clock is %v off Redis's", d)
}

func TestClaimCapsAndPriority(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	var ids []string
	for i, lvl := range []int{6, 10, 7, 9, 10, 8} {
		ids = append(ids, seed(t, s, fmt.Sprintf("author%d", i), lvl))
	}
	// next: highest level first, then longest waited.
	want := []string{ids[1], ids[4], ids[5]} // 10, 10 (later), then 8 since the cap at 9-10 is 2
	for i, w := range want {
		l, err := s.Claim(ctx, "vol", RoleVolunteer, "")
		if err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
		if l.CaseID != w {
			c, _ := s.peek(ctx, l.CaseID)
			t.Fatalf("claim %d got %s (level %d), want %s", i, l.CaseID, c.Level, w)
		}
	}
	if _, err := s.Claim(ctx, "vol", RoleVolunteer, ""); !errors.Is(err, ErrCap) {
		t.Fatalf("fourth claim: %v, want ErrCap", err)
	}
	if _, err := s.Claim(ctx, "vol2", RoleVolunteer, ids[3]); err != nil {
		t.Fatalf("another volunteer takes the 9: %v", err)
	}
	l, err := s.Claim(ctx, "vol2", RoleVolunteer, "")
	if err != nil || l.CaseID != ids[2] {
		t.Fatalf("next for vol2: %+v %v", l, err)
	}
	if l, err := s.Claim(ctx, "vol2", RoleVolunteer, ""); err != nil || l.CaseID != ids[0] {
		t.Fatalf("last case for vol2: %+v %v", l, err)
	}
	if _, err := s.Claim(ctx, "vol3", RoleVolunteer, ""); !errors.Is(err, ErrNone) {
		t.Fatalf("empty queue: %v", err)
	}
}

func TestResolveValidation(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	c := seed(t, s, "hank", 6)
	l, _ := s.Claim(ctx, "vol", RoleVolunteer, c)
	three, zero, many := 3, 0, 51
	past := time.Now().Add(-time.Hour)
	for _, r := range []struct {
		res   Resolution
		field string
	}{
		{Resolution{Outcome: "fine"}, "outcome"},
		{Resolution{Outcome: "false_positive"}, "corrected_level"},
		{Resolution{Outcome: "other"}, "note"},
		{Resolution{Outcome: "reached_safe", FollowUp: &past}, "follow_up"},
		{Resolution{Outcome: "no_response"}, "tries"},
		{Resolution{Outcome: "no_response", Tries: &zero}, "tries"},
		{Resolution{Outcome: "reached_safe", Tries: &many}, "tries"},
	} {
		err := s.Resolve(ctx, "vol", c, l.Token, r.res)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != r.field {
			t.Errorf("%+v: %v, want a validation error on %s", r.res, err, r.field)
		}
	}
	fu := time.Now().Add(1500 * time.Millisecond)
	if err := s.Resolve(ctx, "vol", c, l.Token, Resolution{Outcome: "false_positive", CorrectedLevel: &three, FollowUp: &fu}); err != nil {
		t.Fatal(err)
	}
	// The follow-up brings the case back.
	time.Sleep(1600 * time.Millisecond)
	if _, fol, err := s.Sweep(ctx); err != nil || fol != 1 {
		t.Fatalf("follow-up sweep: %d %v", fol, err)
	}
	if cs, _ := s.peek(ctx, c); cs.State != "pending" || !cs.FollowUp {
		t.Fatalf("after follow-up: %+v", cs)
	}
	// A follow-up that falls due while the person has another open case
	// (they posted again) is due on that case, not dropped.
	l, _ = s.Claim(ctx, "vol", RoleVolunteer, c)
	fu = time.Now().Add(1500 * time.Millisecond)
	if err := s.Resolve(ctx, "vol", c, l.Token, Resolution{Outcome: "reached_safe", FollowUp: &fu}); err != nil {
		t.Fatal(err)
	}
	open := seed(t, s, "hank", 7)
	if open == c {
		t.Fatal("a post after the resolution joined the resolved case")
	}
	time.Sleep(1600 * time.Millisecond)
	if _, fol, err := s.Sweep(ctx); err != nil || fol != 1 {
		t.Fatalf("follow-up sweep with an open case: %d %v", fol, err)
	}
	if cs, _ := s.peek(ctx, open); cs.State != "pending" || !cs.FollowUp {
		t.Fatalf("the open case after the follow-up: %+v", cs)
	}
	if cs, _ := s.peek(ctx, c); cs.State != "resolved" {
		t.Fatalf("the resolved case reopened beside the open one: %+v", cs)
	}
	ev, _ := s.Audit(ctx, open, 0)
	if last := ev[len(ev)-1]; last.Action != "follow_up_due" || last.Detail != "from="+c {
		t.Fatalf("the open case's last event: %+v", last)
	}
}

// TestConcurrentClaims (R8): 40 volunteers claim "next" and specific
// cases for 30 s: never two owners, caps respected, and every contested
// case has exactly one winner.
func TestConcurrentClaims(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	var idsMu sync.Mutex
	var ids []string
	for i := 0; i < 80; i++ {
		ids = append(ids, seed(t, s, fmt.Sprintf("w%d", i), 6+i%5))
	}
	duration := 30 * time.Second
	if testing.Short() {
		duration = 5 * time.Second
	}
	var mu sync.Mutex
	owner := map[string]string{}
	var violations []string
	var claims, contested int
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	// A feeder keeps new cases coming.
	wg.Go(func() {
		for i := 0; time.Now().Before(deadline); i++ {
			postSeq++
			_, id, err := s.Record(ctx, Post{ID: fmt.Sprintf("feed-%d", i), AuthorID: fmt.Sprintf("feed-author-%d", i),
				Text: "x", CreatedAt: time.Now()}, classifier.Result{Level: 6 + i%5, PHigh: 0.9}, false)
			if err == nil {
				idsMu.Lock()
				ids = append(ids, id)
				idsMu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	for v := 0; v < 40; v++ {
		name := fmt.Sprintf("vol%02d", v)
		wg.Go(func() {
			held := map[string]Lease{}
			high := 0
			step := 0
			for time.Now().Before(deadline) {
				step++
				var l Lease
				var err error
				if step%2 == 0 {
					l, err = s.Claim(ctx, name, RoleVolunteer, "")
				} else {
					idsMu.Lock()
					id := ids[(step*7+len(name)*13+int(time.Now().UnixNano()))%len(ids)]
					idsMu.Unlock()
					l, err = s.Claim(ctx, name, RoleVolunteer, id)
				}
				if err == nil {
					c, _ := s.peek(ctx, l.CaseID)
					mu.Lock()
					claims++
					if o := owner[l.CaseID]; o != "" {
						violations = append(violations, fmt.Sprintf("%s claimed %s held by %s", name, l.CaseID, o))
					}
					owner[l.CaseID] = name
					mu.Unlock()
					held[l.CaseID] = l
					if c.Level >= 9 {
						high++
					}
					if len(held) > 3 || high > 2 {
						mu.Lock()
						violations = append(violations, fmt.Sprintf("%s holds %d cases, %d at 9-10", name, len(held), high))
						mu.Unlock()
					}
				} else if !errors.Is(err, ErrTaken) && !errors.Is(err, ErrCap) && !errors.Is(err, ErrNone) &&
					!errors.Is(err, ErrNotClaimable) && !errors.Is(err, ErrAlreadyYours) {
					t.Errorf("claim: %v", err)
					return
				}
				// Let go of a case now and then: give up ownership before
				// the release so a winner after it is not a false alarm.
				if len(held) > 0 && step%3 == 0 {
					for id, hl := range held {
						c, _ := s.peek(ctx, id)
						mu.Lock()
						delete(owner, id)
						mu.Unlock()
						if step%2 == 0 {
							_, err = s.Release(ctx, name, id, hl.Token)
						} else {
							err = s.Resolve(ctx, name, id, hl.Token, Resolution{Outcome: "reached_safe"})
						}
						if err != nil {
							t.Errorf("%s let go of %s: %v", name, id, err)
						}
						if c.Level >= 9 {
							high--
						}
						delete(held, id)
						break
					}
				}
			}
		})
	}
	wg.Wait()
	// Contested: all 40 go for the same case at once, ten times.
	for round := 0; round < 10; round++ {
		c := seed(t, s, fmt.Sprintf("contested-%d", round), 7)
		var winners int
		var wmu sync.Mutex
		var cw sync.WaitGroup
		start := make(chan struct{})
		for v := 0; v < 40; v++ {
			name := fmt.Sprintf("fresh%02d-%d", v, round)
			cw.Go(func() {
				<-start
				if _, err := s.Claim(ctx, name, RoleVolunteer, c); err == nil {
					wmu.Lock()
					winners++
					wmu.Unlock()
				} else if !errors.Is(err, ErrTaken) {
					t.Errorf("contested claim: %v", err)
				}
			})
		}
		close(start)
		cw.Wait()
		contested++
		if winners != 1 {
			t.Fatalf("contested case %s: %d winners", c, winners)
		}
	}
	if len(violations) > 0 {
		t.Fatalf("%d violations, first: %s", len(violations), violations[0])
	}
	if claims < 100 {
		t.Fatalf("only %d successful claims in %v: the test did not exercise contention", claims, duration)
	}
	t.Logf("%d claims by 40 volunteers in %v; %d contested cases, one winner each", claims, duration, contested)
}

// TestRepair: a claimed case missing from the lease index is put back, so
// it can expire; a held entry that no longer matches its case is dropped.
// Running it twice changes nothing more.
func TestRepair(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	c := seed(t, s, "repair-author", 8)
	if _, err := s.Claim(ctx, "vol", RoleVolunteer, c); err != nil {
		t.Fatal(err)
	}
	rs.Client.ZRem(ctx, keyLeases, c)
	rs.Client.HSet(ctx, keyCase(c), "lease_ms", 1) // and its lease ran out
	rs.Client.SAdd(ctx, keyHeld("vol"), "c-gone")
	if n, err := s.Repair(ctx); err != nil || n != 2 {
		t.Fatalf("repair: %d fixed, %v; want 2", n, err)
	}
	if n, _ := s.Repair(ctx); n != 0 {
		t.Fatalf("second repair fixed %d", n)
	}
	if exp, _, err := s.Sweep(ctx); err != nil || exp != 1 {
		t.Fatalf("sweep after repair: %d expired, %v", exp, err)
	}
	if cs, _ := s.peek(ctx, c); cs.State != "pending" {
		t.Fatalf("case %+v, want pending", cs)
	}
}

// TestForgetAuthor (S8): a deletion request removes every record of the
// author from Redis (text, identity, notes) across their open and
// resolved cases, is audited without content, and leaves other people's
// cases alone. Retention never touches an open case.
func TestForgetAuthor(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	const author = "weibo-uid-FORGETME"
	old := seed(t, s, author, 7)
	l, _ := s.Claim(ctx, "vol", RoleVolunteer, old)
	if err := s.AddNote(ctx, "vol", RoleVolunteer, old, l.Token, "called FORGETME"); err != nil {
		t.Fatal(err)
	}
	if err := s.Resolve(ctx, "vol", old, l.Token, Resolution{Outcome: "reached_safe"}); err != nil {
		t.Fatal(err)
	}
	open := seed(t, s, author, 9)
	// A post whose id names the author (the dump below finds it if it
	// stays), joined to the open case.
	post := Post{ID: "post-FORGETME-1", AuthorID: author, Text: "还是想死", CreatedAt: time.Now()}
	if out, _, err := s.Record(ctx, post, classifier.Result{Level: 7, PHigh: 0.8}, false); err != nil || out != OutcomeJoined {
		t.Fatalf("the author's next post: %v, %v", out, err)
	}
	other := seed(t, s, "someone-else", 8)
	// Retention: the resolved case's text expires, the open ones never.
	for _, id := range []string{open, other} {
		if ttl := rs.Client.PTTL(ctx, keyCasePosts(id)).Val(); ttl != -1 {
			t.Fatalf("open case %s has a TTL %v", id, ttl)
		}
	}
	n, err := s.ForgetAuthor(ctx, "admin", author)
	if err != nil || n != 2 {
		t.Fatalf("forget: %d cases, %v; want 2", n, err)
	}
	for k, dump := range dumpRedis(t, rs.Client) {
		if strings.Contains(dump, "FORGETME") || strings.Contains(dump, testIDs.Author(author)) {
			t.Fatalf("%s still holds the author: %s", k, dump)
		}
	}
	for _, id := range []string{old, open} {
		c, _ := s.peek(ctx, id)
		if c.State != "deleted" {
			t.Fatalf("case %s state %s", id, c.State)
		}
	}
	if c, _ := s.peek(ctx, other); c.State != "pending" {
		t.Fatal("another person's case was touched")
	}
	if ids, _ := s.rdb.ZRange(ctx, keyQueue, 0, -1).Result(); len(ids) != 1 || ids[0] != other {
		t.Fatalf("queue %v", ids)
	}
	ev, _ := s.Audit(ctx, open, 0)
	if last := ev[len(ev)-1]; last.Action != "author_erased" || last.Actor != "admin" {
		t.Fatalf("erasure not audited: %+v", last)
	}
	// The post delivered again (a consumer group reset) opens nothing;
	// a new post of the author opens a new case.
	if out, _, err := s.Record(ctx, post, classifier.Result{Level: 7, PHigh: 0.8}, false); err != nil || out != OutcomeDuplicate {
		t.Fatalf("an erased post delivered again: %v, %v; want a duplicate", out, err)
	}
	if id, _ := s.rdb.HGet(ctx, keyOpen, testIDs.Author(author)).Result(); id != "" {
		t.Fatalf("an erased post delivered again opened case %s", id)
	}
	post.ID = "post-after-the-erasure"
	if out, _, err := s.Record(ctx, post, classifier.Result{Level: 7, PHigh: 0.8}, false); err != nil || out != OutcomeCreated {
		t.Fatalf("a new post of the author: %v, %v; want a new case", out, err)
	}
}

// TestOverdueMovesUp: a pending case past its claim target moves up,
// once, audited, and stays there when its author posts again: before every
// case of its tier that is not past its target, the tiers being the cases
// at the emergency level and up, then all others. A flood of overdue
// level-6 cases never holds back an emergency. The emergency level also
// sets where the high-risk cap applies.
func TestOverdueMovesUp(t *testing.T) {
	s, _ := newTestStore(t, func(r *Routing) {
		r.ClaimTargets[6] = 500 * time.Millisecond
		r.ClaimTargets[8] = 500 * time.Millisecond
		r.EmergencyLevel = 8
		r.CapHigh = 1
	})
	ctx := ctxT()
	low := seed(t, s, "overdue-low", 6)
	e8 := seed(t, s, "overdue-e8", 8)
	time.Sleep(600 * time.Millisecond)
	if _, _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	mid := seed(t, s, "overdue-mid", 7)
	high := seed(t, s, "overdue-high", 9)
	seed(t, s, "overdue-low", 6) // a new post by the same person
	if _, _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	ids, _ := s.rdb.ZRange(ctx, keyQueue, 0, -1).Result()
	// The overdue emergency case, the fresh one, the overdue level 6 ahead
	// of the fresh level 7.
	if want := []string{e8, high, low, mid}; !slices.Equal(ids, want) {
		t.Fatalf("queue %v, want %v", ids, want)
	}
	// "Next" takes them in that order.
	for i, want := range []string{e8, low} {
		l, err := s.Claim(ctx, fmt.Sprintf("next%d", i), RoleVolunteer, "")
		if err != nil || l.CaseID != want {
			t.Fatalf("next #%d: %+v %v, want %s", i, l, err, want)
		}
		if i == 0 {
			ids, _ = s.rdb.ZRange(ctx, keyQueue, 0, -1).Result()
			if ids[0] != high {
				t.Fatalf("after the overdue emergency, %v: want %s next", ids, high)
			}
			if _, err := s.Claim(ctx, "next-high", RoleVolunteer, high); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := auditCount(t, s, low, 0, isAction("overdue")); n != 1 {
		t.Fatalf("%d overdue audit events, want 1", n)
	}
	// A queue scored otherwise (by an earlier release, or under another
	// emergency level) is put right by the next sweep.
	stale := seed(t, s, "overdue-stale", 6)
	s.rdb.ZAdd(ctx, keyQueue, redisZ(0, stale))
	fresh := seed(t, s, "overdue-fresh", 9)
	if _, _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if ids, _ = s.rdb.ZRange(ctx, keyQueue, 0, -1).Result(); !slices.Equal(ids, []string{fresh, mid, stale}) {
		t.Fatalf("after a sweep, queue %v, want %v", ids, []string{fresh, mid, stale})
	}
	// Emergency level 8, cap 1: after one case at 9, a second at 8 is capped.
	if _, err := s.Claim(ctx, "vol", RoleVolunteer, seed(t, s, "cap-e9", 9)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "vol", RoleVolunteer, seed(t, s, "cap-e8", 8)); !errors.Is(err, ErrCap) {
		t.Fatalf("second emergency case: %v, want ErrCap", err)
	}
}

// TestWatchCaseGoesBackToTheWatchList: a watch-list case (level 5: no
// outreach) that a volunteer claims to review and lets go (released, taken
// back by a supervisor, its lease run out) goes back to the watch list,
// not into the volunteer queue, where its 24 h target would soon put it
// above every emergency. A post that raises it to the queue's level while
// it is held sends it to the queue instead.
func TestWatchCaseGoesBackToTheWatchList(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	id := seed(t, s, "watch-author", 5)
	state := func() string {
		c, err := s.peek(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c.State
	}
	inWatch := func() bool { _, err := s.rdb.ZScore(ctx, keyWatch, id).Result(); return err == nil }
	inQueue := func() bool { _, err := s.rdb.ZScore(ctx, keyQueue, id).Result(); return err == nil }
	if state() != "watch" {
		t.Fatalf("a level 5 case is %s", state())
	}
	for _, let := range []string{"release", "reassign", "expire"} {
		l, err := s.Claim(ctx, "volunteer", RoleVolunteer, id)
		if err != nil {
			t.Fatalf("%s: claim: %v", let, err)
		}
		switch let {
		case "release":
			_, err = s.Release(ctx, "volunteer", id, l.Token)
		case "reassign":
			_, err = s.Reassign(ctx, "supervisor", id)
		case "expire":
			runOutLease(rs, id)
			_, _, err = s.Sweep(ctx)
		}
		if err != nil {
			t.Fatalf("%s: %v", let, err)
		}
		if state() != "watch" || !inWatch() || inQueue() {
			t.Fatalf("after %s: %s, in the watch list %v, in the queue %v", let, state(), inWatch(), inQueue())
		}
	}
	// A lease run out and not yet swept is taken over by another claim:
	// the case still goes back to the watch list afterwards.
	if _, err := s.Claim(ctx, "volunteer", RoleVolunteer, id); err != nil {
		t.Fatal(err)
	}
	rs.Client.HSet(ctx, keyCase(id), "lease_ms", 1)
	l, err := s.Claim(ctx, "volunteer2", RoleVolunteer, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Release(ctx, "volunteer2", id, l.Token); err != nil || state() != "watch" {
		t.Fatalf("after a take-over and a release: %s, %v", state(), err)
	}
	// Raised to the queue's level while held: released into the queue.
	if l, err = s.Claim(ctx, "volunteer", RoleVolunteer, id); err != nil {
		t.Fatal(err)
	}
	if again := seed(t, s, "watch-author", 7); again != id {
		t.Fatalf("the level 7 post opened %s", again)
	}
	if _, err := s.Release(ctx, "volunteer", id, l.Token); err != nil || state() != "pending" || !inQueue() || inWatch() {
		t.Fatalf("raised while held, then released: %s (queue %v, watch %v), %v", state(), inQueue(), inWatch(), err)
	}
}

// TestEscalationGoesBackToTheSupervisors: an escalated case that a
// supervisor took, or handed to a volunteer, and that is then let go
// (released, taken back, its lease run out) is still an escalation: it
// goes back to the supervisors' list in its place, not to the volunteer
// queue, where "next case" would hand a case escalated for imminent
// danger to any volunteer. A post that raises it while held changes
// nothing of that.
func TestEscalationGoesBackToTheSupervisors(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	addUser(t, s, "vol", RoleVolunteer)
	addUser(t, s, "vol2", RoleVolunteer)
	addUser(t, s, "sup", RoleSupervisor)
	id := seed(t, s, "escalated-author", 8)
	l, err := s.Claim(ctx, "vol", RoleVolunteer, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Escalate(ctx, "vol", id, l.Token, "imminent_danger", ""); err != nil {
		t.Fatal(err)
	}
	escalatedAt, err := s.rdb.ZScore(ctx, keyEscalated, id).Result()
	if err != nil {
		t.Fatal(err)
	}
	check := func(how string) {
		t.Helper()
		c, err := s.peek(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		score, err := s.rdb.ZScore(ctx, keyEscalated, id).Result()
		_, qerr := s.rdb.ZScore(ctx, keyQueue, id).Result()
		if c.State != "escalated" || err != nil || score != escalatedAt || qerr == nil || c.EscalateReason != "imminent_danger" {
			t.Fatalf("after %s: %s (reason %q), in the escalations at %v (want %v; %v), in the queue %v",
				how, c.State, c.EscalateReason, score, escalatedAt, err, qerr == nil)
		}
		if _, err := s.Claim(ctx, "vol2", RoleVolunteer, ""); !errors.Is(err, ErrNone) {
			t.Fatalf("after %s: a volunteer's next case: %v, want none", how, err)
		}
	}
	for _, let := range []string{"release", "reassign", "expire", "assigned and released"} {
		var l Lease
		if let == "assigned and released" {
			l, err = s.Assign(ctx, "sup", id, "vol2")
		} else {
			l, err = s.Claim(ctx, "sup", RoleSupervisor, id)
		}
		if err != nil {
			t.Fatalf("%s: take: %v", let, err)
		}
		var back string
		switch let {
		case "release":
			back, err = s.Release(ctx, "sup", id, l.Token)
		case "assigned and released":
			back, err = s.Release(ctx, "vol2", id, l.Token)
		case "reassign":
			back, err = s.Reassign(ctx, "sup", id)
		case "expire":
			runOutLease(rs, id)
			back = "escalated"
			_, _, err = s.Sweep(ctx)
		}
		if err != nil || back != "escalated" {
			t.Fatalf("%s: went back to %q, %v", let, back, err)
		}
		check(let)
	}
	// Raised by a new post while a supervisor holds it: still an escalation.
	if l, err = s.Claim(ctx, "sup", RoleSupervisor, id); err != nil {
		t.Fatal(err)
	}
	if again := seed(t, s, "escalated-author", 10); again != id {
		t.Fatalf("the level 10 post opened %s", again)
	}
	if _, err := s.Release(ctx, "sup", id, l.Token); err != nil {
		t.Fatal(err)
	}
	check("a new post while held")
	// A supervisor's lease run out and not yet swept: no volunteer may take
	// the case over; a supervisor may, and it is still an escalation.
	if _, err = s.Claim(ctx, "sup", RoleSupervisor, id); err != nil {
		t.Fatal(err)
	}
	rs.Client.HSet(ctx, keyCase(id), "lease_ms", 1)
	if _, err := s.Claim(ctx, "vol2", RoleVolunteer, id); !errors.Is(err, ErrNotClaimable) {
		t.Fatalf("a volunteer took over an escalation whose lease ran out: %v", err)
	}
	addUser(t, s, "sup2", RoleSupervisor)
	if l, err = s.Claim(ctx, "sup2", RoleSupervisor, id); err != nil {
		t.Fatal(err)
	}
	if back, err := s.Release(ctx, "sup2", id, l.Token); err != nil || back != "escalated" {
		t.Fatalf("taken over and released: %q, %v", back, err)
	}
	check("a take-over and a release")
	// Every return is in the case's activity, and says where it went (the
	// lease taken over went to the new holder, not back).
	events, err := s.Audit(ctx, id, 100)
	if err != nil {
		t.Fatal(err)
	}
	var back []string
	for _, a := range caseActivity(events) {
		if a.Action == "act_released" || a.Action == "act_reassigned" || a.Action == "act_lease_expired" {
			back = append(back, a.Action+" "+a.Detail)
		}
	}
	want := []string{"act_released to_escalated", "act_lease_expired ", "act_released to_escalated",
		"act_released to_escalated", "act_lease_expired to_escalated", "act_reassigned to_escalated", "act_released to_escalated"}
	if !slices.Equal(back, want) {
		t.Fatalf("the activity lists the returns as\n%q, want\n%q", back, want)
	}
}

// TestQueueStatsCountEveryCase: the queue figures behind the metrics
// count every queued case by level, however long the queue (a flood is
// when they matter: they once stopped at the first 1,000), with the
// overdue ones and the age of the oldest, through the Prometheus
// collector too.
func TestQueueStatsCountEveryCase(t *testing.T) {
	s, _ := newTestStore(t, func(r *Routing) { r.ClaimTargets[7] = 300 * time.Millisecond })
	ctx := ctxT()
	want := [11]int{}
	first := seed(t, s, "stats-first", 7)
	want[7]++
	time.Sleep(400 * time.Millisecond)
	if _, _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1200; i++ {
		l := 6 + i%5
		seed(t, s, fmt.Sprintf("stats-%d", i), l)
		want[l]++
	}
	seed(t, s, "stats-watch", 5) // the watch list is not the queue
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.PendingByLevel != want {
		t.Fatalf("pending by level %v, want %v", st.PendingByLevel, want)
	}
	if st.OverdueByLevel != [11]int{7: 1} || st.Watch != 1 {
		t.Fatalf("overdue by level %v (want one at 7), watch %d", st.OverdueByLevel, st.Watch)
	}
	c, _ := s.peek(ctx, first)
	if age := time.Since(c.PendingSince); st.OldestPendingAge[7] < age-time.Second || st.OldestPendingAge[7] > age+time.Second {
		t.Fatalf("oldest level 7 age %v, want about %v", st.OldestPendingAge[7], age)
	}
	if st.OldestPendingAge[6] <= 0 || st.OldestPendingAge[6] >= st.OldestPendingAge[7] || st.OldestPendingAge[5] != 0 {
		t.Fatalf("oldest ages %v", st.OldestPendingAge)
	}
	got := gauges(t, s)
	if got["lookout_triage_pending_cases{8}"] != float64(want[8]) || got["lookout_triage_overdue_cases{7}"] != 1 {
		t.Fatalf("pending at 8 %v (want %d), overdue at 7 %v (want 1)", got["lookout_triage_pending_cases{8}"], want[8], got["lookout_triage_overdue_cases{7}"])
	}
}

// TestNextPastManyEmergencies: a volunteer at the cap of emergency cases
// gets the most urgent case below the emergency level by "next" even when
// more than a hundred emergency cases wait before it (it once looked at
// the first hundred only, and said there was nothing).
func TestNextPastManyEmergencies(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	for i := 0; i < 2; i++ {
		if _, err := s.Claim(ctx, "vol", RoleVolunteer, seed(t, s, fmt.Sprintf("held-%d", i), 10)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 150; i++ {
		seed(t, s, fmt.Sprintf("flood-%d", i), 9)
	}
	low := seed(t, s, "below", 7)
	l, err := s.Claim(ctx, "vol", RoleVolunteer, "")
	if err != nil || l.CaseID != low {
		t.Fatalf("next at the emergency cap: %+v %v, want %s", l, err, low)
	}
	if l, err := s.Claim(ctx, "vol2", RoleVolunteer, ""); err != nil || l.CaseID == low {
		t.Fatalf("next for a volunteer under the cap: %+v %v, want an emergency", l, err)
	}
}

// TestAssign: a supervisor hands a case to a named user, from the queue,
// from the escalated cases, or from whoever holds it (whose token goes
// stale, and whose held set lets go of it), within the assignee's caps
// (refused, the holder keeps it); a watch-list case assigned and let go
// returns to the watch list. Each hand-over is audited as the
// supervisor's.
func TestAssign(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	for _, u := range []string{"vol", "vol2"} {
		addUser(t, s, u, RoleVolunteer)
	}
	addUser(t, s, "gone", RoleVolunteer)
	if _, err := s.DisableUser(ctx, "test", "gone"); err != nil {
		t.Fatal(err)
	}
	owner := func(id string) (string, string) {
		c, err := s.peek(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c.State, c.Owner
	}
	// From the queue.
	queued := seed(t, s, "assign-queued", 7)
	if _, err := s.Assign(ctx, "sup", queued, "vol2"); err != nil {
		t.Fatal(err)
	}
	if st, o := owner(queued); st != "claimed" || o != "vol2" {
		t.Fatalf("assigned from the queue: %s by %q", st, o)
	}
	ev, _ := s.Audit(ctx, queued, 0)
	if last := ev[len(ev)-1]; last.Action != "assigned" || last.Actor != "sup" || last.Detail != "to=vol2 from=pending" {
		t.Fatalf("audit: %+v", last)
	}
	// From a holder with a live lease.
	held := seed(t, s, "assign-held", 8)
	l, err := s.Claim(ctx, "vol", RoleVolunteer, held)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Assign(ctx, "sup", held, "vol2"); err != nil {
		t.Fatal(err)
	}
	if st, o := owner(held); st != "claimed" || o != "vol2" {
		t.Fatalf("handed on: %s by %q", st, o)
	}
	if _, err := s.Renew(ctx, "vol", held, l.Token); !errors.Is(err, ErrStaleToken) {
		t.Fatalf("the old holder renews: %v, want ErrStaleToken", err)
	}
	if ids, _ := s.Held(ctx, "vol"); slices.Contains(ids, held) {
		t.Fatalf("the old holder still holds it: %v", ids)
	}
	// From the escalated cases, to a volunteer.
	esc := seed(t, s, "assign-esc", 9)
	l, _ = s.Claim(ctx, "vol", RoleVolunteer, esc)
	if err := s.Escalate(ctx, "vol", esc, l.Token, "needs_handover", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Assign(ctx, "sup", esc, "vol2"); err != nil {
		t.Fatalf("assign an escalated case: %v", err)
	}
	// vol2 now holds three: a fourth is refused, and its holder keeps it.
	fourth := seed(t, s, "assign-fourth", 6)
	l, _ = s.Claim(ctx, "vol", RoleVolunteer, fourth)
	if _, err := s.Assign(ctx, "sup", fourth, "vol2"); !errors.Is(err, ErrCap) {
		t.Fatalf("assign over the cap: %v, want ErrCap", err)
	}
	if st, o := owner(fourth); st != "claimed" || o != "vol" {
		t.Fatalf("after a refused hand-over: %s by %q", st, o)
	}
	if ids, _ := s.Held(ctx, "vol"); !slices.Contains(ids, fourth) {
		t.Fatalf("the holder lost a case a refused hand-over left them: %v", ids)
	}
	if _, err := s.Assign(ctx, "sup", fourth, "vol"); !errors.Is(err, ErrAlreadyYours) {
		t.Fatalf("assign to the holder: %v", err)
	}
	var ve *ValidationError
	for _, to := range []string{"nobody", "gone", ""} {
		if _, err := s.Assign(ctx, "sup", fourth, to); !errors.As(err, &ve) || ve.Field != "to" {
			t.Fatalf("assign to %q: %v, want a validation error on to", to, err)
		}
	}
	// A watch-list case, assigned and let go, goes back to the watch list.
	if _, err := s.Release(ctx, "vol", fourth, l.Token); err != nil {
		t.Fatal(err)
	}
	watch := seed(t, s, "assign-watch", 5)
	l, err = s.Assign(ctx, "sup", watch, "vol")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Release(ctx, "vol", watch, l.Token); err != nil {
		t.Fatal(err)
	}
	if st, _ := owner(watch); st != "watch" {
		t.Fatalf("an assigned watch case let go: %s", st)
	}
}

// TestOverdueMarkedBeyondTheFirstThousand: the sweep finds every case past
// its target, however long the queue (it once looked at the first 1,000,
// so in a flood the level-6 cases behind 960 others were never moved up
// nor counted as overdue), once each.
func TestOverdueMarkedBeyondTheFirstThousand(t *testing.T) {
	s, _ := newTestStore(t, func(r *Routing) { r.ClaimTargets[6] = 300 * time.Millisecond })
	ctx := ctxT()
	for i := 0; i < 1200; i++ {
		seed(t, s, fmt.Sprintf("late-%d", i), 6+i%5)
	}
	time.Sleep(400 * time.Millisecond)
	for i := 0; i < 2; i++ {
		if _, _, err := s.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.OverdueByLevel != [11]int{6: 240} {
		t.Fatalf("overdue by level %v, want all 240 level-6 cases", st.OverdueByLevel)
	}
	if n := auditCount(t, s, "", 5000, isAction("overdue")); n != 240 {
		t.Fatalf("%d overdue audit events, want 240 (once each)", n)
	}
	// Moved up within their tier: after the emergencies, before the 7s.
	ids, _ := s.rdb.ZRange(ctx, keyQueue, 480, 480).Result()
	if c, _ := s.peek(ctx, ids[0]); c.Level != 6 || !c.Overdue {
		t.Fatalf("the first case after the emergencies: %+v", c)
	}
}

// TestNotesFromWhoeverHeldTheCase: a volunteer whose lease ran out while
// they wrote to the person must still be able to write down what they
// learned, and a supervisor may note any open case, while a volunteer who
// never held the case may not; the holder hears of the note at their next
// renewal. A note that goes with an escalation is the holder's alone,
// and a resolved case takes no note (its text expires).
func TestNotesFromWhoeverHeldTheCase(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := ctxT()
	for _, name := range []string{"vol", "vol2", "vol3"} {
		addUser(t, s, name, RoleVolunteer)
	}
	addUser(t, s, "sup", RoleSupervisor)
	id := seed(t, s, "noted-author", 8)
	notes := func() int {
		t.Helper()
		n, err := s.rdb.LLen(ctx, keyCaseNotes(id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	l := claim(t, s, "vol", RoleVolunteer, id)
	if err := s.AddNote(ctx, "vol", RoleVolunteer, id, l.Token, "私信了"); err != nil {
		t.Fatalf("the holder's note: %v", err)
	}
	// The lease is lost (taken back by a supervisor); the case waits again.
	if _, err := s.Reassign(ctx, "sup", id); err != nil {
		t.Fatal(err)
	}
	if err := s.AddNote(ctx, "vol", RoleVolunteer, id, l.Token, "她回复了，在@江边 https://map.example/1"); err != nil {
		t.Fatalf("a note by whoever held the case, with its old token: %v", err)
	}
	if err := s.AddNote(ctx, "vol3", RoleVolunteer, id, "", "我也想说一句"); !errors.Is(err, ErrNeverHeld) {
		t.Fatalf("a volunteer who never held the case: %v, want %v", err, ErrNeverHeld)
	}
	// Another volunteer reading the waiting case sees the notes without
	// the handle and the link written in them.
	d, err := s.Get(ctx, "vol3", id, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Notes) != 2 || strings.Contains(d.Notes[1].Text, "江边") || strings.Contains(d.Notes[1].Text, "map.example") ||
		!strings.HasPrefix(d.Notes[1].Text, "她回复了") || d.HeldBefore {
		t.Fatalf("notes read by a volunteer who does not hold the case: %+v, held before %v", d.Notes, d.HeldBefore)
	}
	if d, err = s.Get(ctx, "vol", id, false); err != nil || !d.HeldBefore {
		t.Fatalf("the former holder's read: held before %v, %v", d.HeldBefore, err)
	}

	l2 := claim(t, s, "vol2", RoleVolunteer, id)
	if err := s.AddNote(ctx, "vol", RoleVolunteer, id, "", "她说她在桥上"); err != nil {
		t.Fatalf("a former holder's note while someone else holds the case: %v", err)
	}
	if err := s.AddNote(ctx, "sup", RoleSupervisor, id, "", "已报警"); err != nil {
		t.Fatalf("a supervisor's note on a case they do not hold: %v", err)
	}
	r, err := s.Renew(ctx, "vol2", id, l2.Token)
	if err != nil || r.Notes != 4 || r.Posts != 1 {
		t.Fatalf("the holder's renewal: %+v, %v; want 4 notes and 1 post", r, err)
	}
	// A note that goes with an escalation is the holder's and is added in
	// the same step: the former holder's escalation is refused, note and
	// all, and the holder's resolution adds its note.
	if err := s.Escalate(ctx, "vol", id, l.Token, "imminent_danger", "快"); !errors.Is(err, ErrStaleToken) || notes() != 4 {
		t.Fatalf("an escalation with a note by a former holder: %v, %d notes", err, notes())
	}
	if err := s.Resolve(ctx, "vol2", id, l2.Token, Resolution{Outcome: "reached_safe", Note: "家人陪着她"}); err != nil || notes() != 5 {
		t.Fatalf("a resolution with a note: %v, %d notes", err, notes())
	}
	for _, who := range []struct {
		name string
		role Role
	}{{"vol", RoleVolunteer}, {"sup", RoleSupervisor}} {
		if err := s.AddNote(ctx, who.name, who.role, id, "", "之后"); !errors.Is(err, ErrNotClaimed) {
			t.Fatalf("%s notes a resolved case: %v", who.name, err)
		}
	}
	if ttl := s.rdb.PTTL(ctx, keyCaseNotes(id)).Val(); ttl <= 0 || notes() != 5 {
		t.Fatalf("a resolved case's notes: %d, expiring in %v", notes(), ttl)
	}
	added := map[string]int{}
	events, err := s.Audit(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Action == "note_added" {
			added[e.Actor+" "+e.Detail]++
		}
		if e.Action == "rejected" {
			added[e.Actor+" rejected "+e.Detail]++
		}
	}
	want := map[string]int{"vol ": 1, "vol as=former_holder": 2, "sup as=supervisor": 1, "vol2 ": 1,
		"vol3 rejected note: never_held": 1, "vol rejected escalate: stale_token": 1,
		"vol rejected note: not_claimed": 1, "sup rejected note: not_claimed": 1}
	if fmt.Sprint(added) != fmt.Sprint(want) {
		t.Fatalf("audited notes: %v, want %v", added, want)
	}
}

// TestAwaitingAReplyKeepsTheCase: a volunteer who has written to the
// person and waits for the reply in another app (where a phone suspends
// the page, and nothing renews the lease) keeps the case for the hold, not
// the lease; the page's renewals afterwards never shorten it, a lapsed
// hold still returns the case, and a hold under the lease adds nothing.
func TestAwaitingAReplyKeepsTheCase(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	addUser(t, s, "vol", RoleVolunteer)
	id := seed(t, s, "awaiting-author", 8)
	l := claim(t, s, "vol", RoleVolunteer, id)
	redisNow := func() time.Time { return rs.Client.Time(ctx).Val() }
	lease := func() time.Time {
		t.Helper()
		score, err := s.rdb.ZScore(ctx, keyLeases, id).Result()
		c, perr := s.peek(ctx, id)
		if err != nil || perr != nil || c.LeaseDeadline == nil || c.LeaseDeadline.UnixMilli() != int64(score) {
			t.Fatalf("lease index %v (%v) and case %+v (%v) disagree", score, err, c.LeaseDeadline, perr)
		}
		return *c.LeaseDeadline
	}
	until, err := s.AwaitReply(ctx, "vol", id, l.Token)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(until); left < 59*time.Minute || left > 61*time.Minute || !until.Equal(lease()) {
		t.Fatalf("awaiting a reply: the lease ends in %v (case: %v), want the hour of the hold", left, lease())
	}
	if c, _ := s.peek(ctx, id); !c.AwaitingReply {
		t.Fatal("the case does not say that its holder awaits a reply")
	}
	r, err := s.Renew(ctx, "vol", id, l.Token)
	if err != nil || !r.Deadline.Equal(until) || !lease().Equal(until) {
		t.Fatalf("a renewal during the hold: %v, %v; want the hold's end %v kept", r.Deadline, err, until)
	}
	// The sweeper leaves the case where it is: the lease index holds the
	// hold's end.
	if exp, _, err := s.Sweep(ctx); err != nil || exp != 0 {
		t.Fatalf("sweep during the hold: %d expired, %v", exp, err)
	}
	if _, err := s.AwaitReply(ctx, "vol", id, "999999"); !errors.Is(err, ErrStaleToken) {
		t.Fatalf("a stale token: %v", err)
	}
	// The hold runs out unanswered: the case goes back to the queue.
	runOutLease(rs, id)
	if exp, _, err := s.Sweep(ctx); err != nil || exp != 1 {
		t.Fatalf("sweep after the hold: %d expired, %v", exp, err)
	}
	if c, _ := s.peek(ctx, id); c.State != "pending" {
		t.Fatalf("after the hold ran out: %s", c.State)
	}
	// A hold shorter than the lease gives the lease.
	r2 := s.Routing()
	r2.Hold = 5 * time.Minute
	s.setRouting(r2)
	l = claim(t, s, "vol", RoleVolunteer, id)
	if c, _ := s.peek(ctx, id); c.AwaitingReply {
		t.Fatal("claimed again, the case still says its holder awaits a reply")
	}
	if until, err = s.AwaitReply(ctx, "vol", id, l.Token); err != nil || until.Sub(redisNow()) < 14*time.Minute {
		t.Fatalf("a hold under the lease: ends in %v, %v; want the lease's 15 minutes", until.Sub(redisNow()), err)
	}
	if n := auditCount(t, s, id, 0, isAction("awaiting_reply")); n != 2 {
		t.Fatalf("%d holds audited, want 2", n)
	}
}

// TestAwaitingAReplyAtTheEmergencyLevel: at the emergency level awaiting a
// reply keeps the case for the shorter emergency hold (a life may be at
// stake); and a case held for the ordinary hour whose person posts again
// at the emergency level is kept no longer than the emergency hold from
// then, audited, so that it returns to the top of the queue if its
// holder, away in another app, does not come back.
func TestAwaitingAReplyAtTheEmergencyLevel(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	addUser(t, s, "vol", RoleVolunteer)
	redisNow := func() time.Time { return rs.Client.Time(ctx).Val() }
	leaseLeft := func(id string) time.Duration {
		t.Helper()
		score, err := s.rdb.ZScore(ctx, keyLeases, id).Result()
		c, perr := s.peek(ctx, id)
		if err != nil || perr != nil || c.LeaseDeadline == nil || c.LeaseDeadline.UnixMilli() != int64(score) {
			t.Fatalf("lease index %v (%v) and case %+v (%v) disagree", score, err, c.LeaseDeadline, perr)
		}
		return c.LeaseDeadline.Sub(redisNow())
	}
	near := func(d, want time.Duration) bool { return d > want-time.Minute && d <= want }

	urgent := seed(t, s, "awaiting-emergency", 10)
	l := claim(t, s, "vol", RoleVolunteer, urgent)
	if until, err := s.AwaitReply(ctx, "vol", urgent, l.Token); err != nil || !near(until.Sub(redisNow()), 20*time.Minute) || !near(leaseLeft(urgent), 20*time.Minute) {
		t.Fatalf("awaiting a reply at level 10: the lease ends in %v (%v), want the emergency hold's 20 minutes", until.Sub(redisNow()), err)
	}

	id := seed(t, s, "awaiting-rises", 7)
	l = claim(t, s, "vol", RoleVolunteer, id)
	if _, err := s.AwaitReply(ctx, "vol", id, l.Token); err != nil || !near(leaseLeft(id), time.Hour) {
		t.Fatalf("awaiting a reply at level 7: the lease ends in %v (%v), want the hour", leaseLeft(id), err)
	}
	seed(t, s, "awaiting-rises", 8) // below the emergency level: the hold stays
	if !near(leaseLeft(id), time.Hour) {
		t.Fatalf("after a level-8 post the lease ends in %v, want the hour kept", leaseLeft(id))
	}
	seed(t, s, "awaiting-rises", 9)
	if left := leaseLeft(id); !near(left, 20*time.Minute) {
		t.Fatalf("after a level-9 post the lease ends in %v, want the emergency hold's 20 minutes", left)
	}
	if c, _ := s.peek(ctx, id); c.State != "claimed" || c.Owner != "vol" || c.Level != 9 {
		t.Fatalf("after a level-9 post: %s by %q at %d, want still held by vol at 9", c.State, c.Owner, c.Level)
	}
	seed(t, s, "awaiting-rises", 10) // within the shorter hold already: nothing to shorten
	if n := auditCount(t, s, id, 0, isAction("hold_shortened")); n != 1 {
		t.Fatalf("%d shortened holds audited, want 1", n)
	}
	// Unanswered, the case returns to the queue, first in it.
	runOutLease(rs, id)
	if exp, _, err := s.Sweep(ctx); err != nil || exp != 1 {
		t.Fatalf("sweep after the emergency hold: %d expired, %v", exp, err)
	}
	if first, err := s.rdb.ZRange(ctx, keyQueue, 0, 0).Result(); err != nil || len(first) != 1 || first[0] != id {
		t.Fatalf("the queue begins with %v (%v), want %s", first, err, id)
	}

	// An emergency hold longer than the hold gives the hold; one under
	// the lease gives the lease.
	r := s.Routing()
	r.Hold, r.HoldEmergency = 30*time.Minute, 45*time.Minute
	s.setRouting(r)
	other := seed(t, s, "awaiting-emergency-2", 9)
	l = claim(t, s, "vol", RoleVolunteer, other)
	if _, err := s.AwaitReply(ctx, "vol", other, l.Token); err != nil || !near(leaseLeft(other), 30*time.Minute) {
		t.Fatalf("an emergency hold over the hold: the lease ends in %v (%v), want the hold's 30 minutes", leaseLeft(other), err)
	}
	if _, err := s.Release(ctx, "vol", other, l.Token); err != nil {
		t.Fatal(err)
	}
	r.HoldEmergency = 0
	s.setRouting(r)
	l = claim(t, s, "vol", RoleVolunteer, other)
	if _, err := s.AwaitReply(ctx, "vol", other, l.Token); err != nil || !near(leaseLeft(other), 15*time.Minute) {
		t.Fatalf("an emergency hold of 0: the lease ends in %v (%v), want the lease's 15 minutes", leaseLeft(other), err)
	}
}
