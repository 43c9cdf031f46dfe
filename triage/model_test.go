package triage

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"lookout/classifier"
)

// refCase is the reference model's view of a case.
type refCase struct {
	id, author, state, owner, token string
	level                           int
	from                            string          // where a claimed case waited: it goes back there
	heldBy                          map[string]bool // who has ever held it
	notes                           int
}

type refModel struct {
	cases map[string]*refCase
	open  map[string]string // author -> case
	held  map[string]map[string]bool
}

func (m *refModel) heldBy(actor string) (total, high int) {
	for id := range m.held[actor] {
		total++
		if m.cases[id].level >= 9 {
			high++
		}
	}
	return
}

func (m *refModel) unhold(c *refCase) {
	delete(m.held[c.owner], c.id)
	c.owner, c.token = "", ""
}

// claim gives c to actor; a lease that ran out unswept is taken over, the
// case keeping where it waited before.
func (m *refModel) claim(c *refCase, actor, token string) {
	if c.state != "claimed" {
		c.from = c.state
	}
	delete(m.held[c.owner], c.id)
	c.state, c.owner, c.token = "claimed", actor, token
	m.held[actor][c.id] = true
	if c.heldBy == nil {
		c.heldBy = map[string]bool{}
	}
	c.heldBy[actor] = true
}

// unclaim returns c to the escalations or the watch list if it was
// claimed from there, else to the queue, and returns that state.
func (m *refModel) unclaim(c *refCase) string {
	m.unhold(c)
	c.state = "pending"
	if c.from == "watch" || c.from == "escalated" {
		c.state = c.from
	}
	return c.state
}

// TestRandomOperationsMatchModel (R17): seeded random sequences of
// ingest, claim, renew, await a reply, release, escalate, resolve (with
// and without a note), a note, expire, sweep, a supervisor's hand-over and
// a supervisor's take-back against the real scripts give the same results
// as an in-memory model, and every index and note list agrees with the
// cases after every step.
func TestRandomOperationsMatchModel(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	rng := rand.New(rand.NewPCG(17, 17))
	m := &refModel{cases: map[string]*refCase{}, open: map[string]string{}, held: map[string]map[string]bool{}}
	actors := []string{"v1", "v2", "v3", "sup"}
	role := func(a string) Role {
		if a == "sup" {
			return RoleSupervisor
		}
		return RoleVolunteer
	}
	for _, a := range actors {
		m.held[a] = map[string]bool{}
		addUser(t, s, a, role(a))
	}
	var posts []string
	tokens := map[string]string{} // every token ever issued, case -> last seen (possibly stale)
	steps := 3000
	if testing.Short() {
		steps = 600
	}
	pick := func() *refCase {
		if len(m.cases) == 0 {
			return nil
		}
		ids := make([]string, 0, len(m.cases))
		for id := range m.cases {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		return m.cases[ids[rng.IntN(len(ids))]]
	}
	for step := 0; step < steps; step++ {
		op := rng.IntN(13)
		actor := actors[rng.IntN(len(actors))]
		where := fmt.Sprintf("step %d op %d actor %s", step, op, actor)
		switch op {
		case 0, 1: // ingest, sometimes redelivering an old post
			author := fmt.Sprintf("a%d", rng.IntN(8))
			level := 5 + rng.IntN(6)
			pid := fmt.Sprintf("post%d", step)
			if len(posts) > 0 && rng.IntN(5) == 0 {
				pid = posts[rng.IntN(len(posts))]
			}
			out, id, err := s.Record(ctx, Post{ID: pid, AuthorID: author, Text: "t", CreatedAt: time.Now()},
				classifier.Result{Level: level, PHigh: 0.5}, false)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			switch {
			case slices.Contains(posts, pid):
				if out != OutcomeDuplicate {
					t.Fatalf("%s: redelivered post gave %s", where, out)
				}
			case m.open[author] != "":
				c := m.cases[m.open[author]]
				if out != OutcomeJoined || id != c.id {
					t.Fatalf("%s: want joined %s, got %s %s", where, c.id, out, id)
				}
				c.level = max(c.level, level)
				if c.state == "watch" && c.level >= 6 {
					c.state = "pending"
				}
				if c.state == "claimed" && c.level >= 6 && c.from == "watch" {
					c.from = "pending"
				}
			default:
				if out != OutcomeCreated {
					t.Fatalf("%s: want created, got %s", where, out)
				}
				st := "watch"
				if level >= 6 {
					st = "pending"
				}
				m.cases[id] = &refCase{id: id, author: author, state: st, level: level}
				m.open[author] = id
			}
			if !slices.Contains(posts, pid) {
				posts = append(posts, pid)
			}
		case 2: // claim next
			total, high := m.heldBy(actor)
			bestLevel := -1
			for _, c := range m.cases {
				if c.state == "pending" && (c.level < 9 || high < 2) && c.level > bestLevel {
					bestLevel = c.level
				}
			}
			l, err := s.Claim(ctx, actor, role(actor), "")
			switch {
			case total >= 3:
				if !errors.Is(err, ErrCap) {
					t.Fatalf("%s: over cap, got %v", where, err)
				}
			case bestLevel < 0:
				if !errors.Is(err, ErrNone) {
					t.Fatalf("%s: nothing claimable, got %+v %v", where, l, err)
				}
			default:
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				c := m.cases[l.CaseID]
				if c == nil || c.state != "pending" || c.level != bestLevel {
					t.Fatalf("%s: claimed %+v, want a pending case at level %d", where, c, bestLevel)
				}
				m.claim(c, actor, l.Token)
				tokens[c.id] = l.Token
			}
		case 3, 10: // claim a specific case, or a supervisor hands it to actor
			c := pick()
			if c == nil {
				continue
			}
			assign := op == 10
			total, high := m.heldBy(actor)
			var l Lease
			var err error
			if assign {
				l, err = s.Assign(ctx, "sup", c.id, actor)
			} else {
				l, err = s.Claim(ctx, actor, role(actor), c.id)
			}
			var want error
			switch {
			case total >= 3:
				want = ErrCap
			case c.state == "claimed" && c.owner == actor:
				want = ErrAlreadyYours
			case c.state == "claimed" && !assign:
				want = ErrTaken
			case c.state == "resolved" || (c.state == "escalated" && !assign && actor != "sup"):
				want = ErrNotClaimable
			case c.level >= 9 && high >= 2:
				want = ErrCap
			}
			if !errors.Is(err, want) && !(want == nil && err == nil) {
				t.Fatalf("%s: claim %s (%s by %q; assigned %v): got %v, want %v", where, c.id, c.state, c.owner, assign, err, want)
			}
			if err == nil {
				m.claim(c, actor, l.Token)
				tokens[c.id] = l.Token
			}
		case 4, 5, 6, 7: // a holder's action, with the right or a stale token
			c := pick()
			if c == nil {
				continue
			}
			token := tokens[c.id]
			if rng.IntN(4) == 0 {
				token = "999999"
			}
			var err error
			var back string // where a released case went
			note := []string{"", "已转交"}[rng.IntN(2)]
			action := []string{"renew", "release", "escalate", "resolve"}[op-4]
			if action == "renew" && rng.IntN(2) == 0 {
				action = "await" // a longer lease, no other change
			}
			switch action {
			case "renew":
				_, err = s.Renew(ctx, actor, c.id, token)
			case "await":
				_, err = s.AwaitReply(ctx, actor, c.id, token)
			case "release":
				back, err = s.Release(ctx, actor, c.id, token)
			case "escalate":
				err = s.Escalate(ctx, actor, c.id, token, "needs_handover", note)
			case "resolve":
				err = s.Resolve(ctx, actor, c.id, token, Resolution{Outcome: "reached_safe", Note: note})
			}
			var want error
			switch {
			case c.state != "claimed":
				want = ErrNotClaimed
			case c.owner != actor || c.token != token:
				want = ErrStaleToken
			}
			if !errors.Is(err, want) && !(want == nil && err == nil) {
				t.Fatalf("%s: %s %s (%s by %s): got %v, want %v", where, action, c.id, c.state, c.owner, err, want)
			}
			if err != nil {
				continue
			}
			if note != "" && (action == "escalate" || action == "resolve") {
				c.notes++
			}
			switch action {
			case "release":
				if want := m.unclaim(c); back != want {
					t.Fatalf("%s: released %s went back to %s, want %s", where, c.id, back, want)
				}
			case "escalate":
				m.unhold(c)
				c.state = "escalated"
			case "resolve":
				m.unhold(c)
				c.state = "resolved"
				delete(m.open, c.author)
			}
		case 8: // a lease runs out, and the sweeper runs (twice: harmless)
			c := pick()
			if c == nil || c.state != "claimed" {
				continue
			}
			runOutLease(rs, c.id)
			for i := 0; i < 2; i++ {
				exp, _, err := s.Sweep(ctx)
				if err != nil || exp != 1-i {
					t.Fatalf("%s: sweep %d expired %d, %v", where, i, exp, err)
				}
			}
			m.unclaim(c)
		case 9:
			if _, _, err := s.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		case 12: // a note: by the holder, whoever held the case before, or a supervisor
			c := pick()
			if c == nil {
				continue
			}
			token := tokens[c.id]
			if rng.IntN(3) == 0 {
				token = ""
			}
			err := s.AddNote(ctx, actor, role(actor), c.id, token, "备注")
			var want error
			open := c.state != "resolved"
			switch {
			case c.state == "claimed" && c.owner == actor && c.token == token:
			case open && (c.heldBy[actor] || role(actor) == RoleSupervisor):
			case open:
				want = ErrNeverHeld
			default:
				want = ErrNotClaimed
			}
			if !errors.Is(err, want) && !(want == nil && err == nil) {
				t.Fatalf("%s: note on %s (%s by %q, held before %v): got %v, want %v", where, c.id, c.state, c.owner, c.heldBy[actor], err, want)
			}
			if err == nil {
				c.notes++
			}
		case 11: // a supervisor takes a case back from its holder
			c := pick()
			if c == nil {
				continue
			}
			back, err := s.Reassign(ctx, "sup", c.id)
			if c.state != "claimed" {
				if !errors.Is(err, ErrNotClaimed) {
					t.Fatalf("%s: take back %s (%s): got %v, want not claimed", where, c.id, c.state, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: take back %s: %v", where, c.id, err)
			}
			if want := m.unclaim(c); back != want {
				t.Fatalf("%s: taken back %s went to %s, want %s", where, c.id, back, want)
			}
		}
		checkAgainstModel(t, s, m, where)
	}
}

// checkAgainstModel compares every case and index in Redis with the model.
func checkAgainstModel(t *testing.T, s *Store, m *refModel, where string) {
	t.Helper()
	ctx := ctxT()
	want := map[string][]string{}
	for _, c := range m.cases {
		got, err := s.peek(ctx, c.id)
		if err != nil {
			t.Fatalf("%s: case %s: %v", where, c.id, err)
		}
		if got.State != c.state || got.Owner != c.owner || got.Level != c.level {
			t.Fatalf("%s: case %s is %s/%q/%d in Redis, %s/%q/%d in the model", where, c.id,
				got.State, got.Owner, got.Level, c.state, c.owner, c.level)
		}
		if n, err := s.rdb.LLen(ctx, keyCaseNotes(c.id)).Result(); err != nil || int(n) != c.notes {
			t.Fatalf("%s: case %s has %d notes in Redis (%v), %d in the model", where, c.id, n, err, c.notes)
		}
		want[c.state] = append(want[c.state], c.id)
	}
	for state, key := range map[string]string{"pending": keyQueue, "claimed": keyLeases, "escalated": keyEscalated, "watch": keyWatch} {
		got, _ := s.rdb.ZRange(ctx, key, 0, -1).Result()
		sort.Strings(got)
		w := want[state]
		sort.Strings(w)
		if !slices.Equal(got, w) {
			t.Fatalf("%s: %s index %v, model %v", where, state, got, w)
		}
	}
	for actor, set := range m.held {
		got, _ := s.Held(ctx, actor)
		sort.Strings(got)
		var w []string
		for id := range set {
			w = append(w, id)
		}
		sort.Strings(w)
		if !slices.Equal(got, w) && !(len(got) == 0 && len(w) == 0) {
			t.Fatalf("%s: %s holds %v in Redis, %v in the model", where, actor, got, w)
		}
	}
	open, _ := s.rdb.HGetAll(ctx, keyOpen).Result()
	if len(open) != len(m.open) {
		t.Fatalf("%s: %d open authors in Redis, %d in the model", where, len(open), len(m.open))
	}
	for author, id := range m.open {
		if open[testIDs.Author(author)] != id {
			t.Fatalf("%s: open case of %s is %s, model %s", where, author, open[testIDs.Author(author)], id)
		}
	}
}
