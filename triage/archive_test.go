package triage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"lookout/classifier"
)

// archiveLine is one line of an archive file, whatever its kind.
type archiveLine struct {
	Kind    string       `json:"kind"`
	ID      string       `json:"id"`
	Actor   string       `json:"actor"`
	Case    string       `json:"case"`
	State   string       `json:"state"`
	Outcome string       `json:"outcome"`
	Level   int          `json:"level"`
	Audit   []AuditEvent `json:"audit"`
}

func readArchive(t *testing.T, b []byte) []archiveLine {
	t.Helper()
	var out []archiveLine
	for dec := json.NewDecoder(bytes.NewReader(b)); ; {
		var l archiveLine
		if err := dec.Decode(&l); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
}

// TestArchive: what lies before the cut-off moves to the archive and
// leaves Redis only once the archive is durable. The global audit log's
// events go, oldest first, but not one of the cut-off's own millisecond;
// the resolutions go; the cases closed before it go with their own audit
// lists and their authors' links to them, once their text has expired
// and unless a follow-up is due. An open case, a case with text left and
// a case read while the archive was written stay (the last goes in a
// later run). Nothing in the file names an author. The move is audited;
// if the archive cannot be made durable, nothing is removed.
func TestArchive(t *testing.T) {
	s, rs := newTestStore(t, func(r *Routing) { r.Retention = 200 * time.Millisecond })
	ctx := ctxT()
	rs.Client.Del(ctx, keyAudit) // the old events go first: a stream's ids only grow
	old := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for i, at := range []time.Time{old.AddDate(0, -2, 0), old.Add(-time.Millisecond)} {
		if err := rs.Client.XAdd(ctx, &redis.XAddArgs{Stream: keyAudit, ID: fmt.Sprintf("%d-0", at.UnixMilli()),
			Values: []any{"ts", at.UnixMilli(), "case", "", "actor", fmt.Sprintf("old-%d", i), "action", "login", "detail", ""}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	resolved := seedResolved(t, s, "archive-resolved", 8)
	erased := seedResolved(t, s, "archive-erased", 7)
	if _, err := s.ForgetAuthor(ctx, "admin", "archive-erased"); err != nil {
		t.Fatal(err)
	}
	readLater := seedResolved(t, s, "archive-read", 6)
	withText := seedResolved(t, s, "archive-text", 6)
	followUp := seed(t, s, "archive-follow", 9)
	l := claim(t, s, "volunteer", RoleVolunteer, followUp)
	in := time.Now().Add(48 * time.Hour)
	if err := s.Resolve(ctx, "volunteer", followUp, l.Token, Resolution{Outcome: "reached_safe", FollowUp: &in}); err != nil {
		t.Fatal(err)
	}
	open := seed(t, s, "archive-open", 7)
	// An author's two cases: the later names the earlier as previous.
	chain1 := seedResolved(t, s, "archive-chain", 8)
	chain2 := seedResolved(t, s, "archive-chain", 9)
	deadline := time.Now().Add(10 * time.Second)
	for rs.Client.Exists(ctx, keyCasePosts(resolved), keyCasePosts(readLater), keyCasePosts(withText), keyCasePosts(followUp),
		keyCasePosts(chain1), keyCasePosts(chain2)).Val() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the resolved cases' text did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Two cases keep text: their retention has not run out.
	rs.Client.RPush(ctx, keyCasePosts(withText), `{"id":"x"}`)
	rs.Client.RPush(ctx, keyCasePosts(chain1), `{"id":"y"}`)
	// A later case of the same author names the resolved one as previous.
	later := seed(t, s, "archive-resolved", 7)
	if c, err := s.Get(ctx, "supervisor", later, false); err != nil || c.Previous != resolved {
		t.Fatalf("the author's next case names %q as previous, %v; want %s", c.Previous, err, resolved)
	}
	// A post id indexed before resolutions hashed them, naming a case the
	// archive removes.
	rs.Client.HSet(ctx, keyPostCase, "old-release-post", resolved)
	time.Sleep(2 * time.Millisecond)
	cut := time.Now()
	time.Sleep(2 * time.Millisecond)
	streams := func() [2]int64 {
		return [2]int64{rs.Client.XLen(ctx, keyAudit).Val(), rs.Client.XLen(ctx, keyOutcomes).Val()}
	}
	before := streams()
	records := []string{resolved, erased, readLater, withText, followUp, open, chain1, chain2, later}
	present := func() (in []string) {
		for _, id := range records {
			if rs.Client.Exists(ctx, keyCase(id)).Val() == 1 {
				in = append(in, id)
			}
		}
		return in
	}

	var buf bytes.Buffer
	if a, err := s.Archive(ctx, "cli:ops", cut, &buf, func() error { return errors.New("disk full") }); err == nil || a != (Archived{}) {
		t.Fatalf("an archive that could not be made durable: %+v, %v", a, err)
	}
	if got := streams(); got != before || len(present()) != len(records) {
		t.Fatalf("after a failed archive: streams %v (were %v), cases %v", got, before, present())
	}

	buf.Reset()
	durable := false
	a, err := s.Archive(ctx, "cli:ops", cut, &buf, func() error {
		durable = true
		_, err := s.Get(ctx, "supervisor", readLater, false) // a read, audited, while the archive is written
		return err
	})
	if err != nil || !durable {
		t.Fatalf("archive: %+v (durable %v), %v", a, durable, err)
	}
	// Resolutions: seven cases; closed and gone: resolved and erased;
	// kept: text left (twice), a follow-up due, read meanwhile, and the
	// case whose author's earlier case keeps its text (an erasure must
	// still reach that one through it).
	if a.Outcomes != 7 || a.Cases != 2 || a.Kept != 5 || a.Events != int(before[0]) {
		t.Fatalf("archived %+v; want every %d audit event, 7 resolutions, 2 cases, 5 kept", a, before[0])
	}
	if got := present(); !slices.Equal(got, []string{readLater, withText, followUp, open, chain1, chain2, later}) {
		t.Fatalf("cases left %v", got)
	}
	if rs.Client.Exists(ctx, keyCaseAudit(resolved), keyCaseAudit(erased)).Val() != 0 {
		t.Fatal("an archived case's audit list stayed")
	}
	if rs.Client.HGet(ctx, keyLast, testIDs.Author("archive-resolved")).Val() == resolved {
		t.Fatal("the author is still linked to the archived case")
	}
	if rs.Client.HExists(ctx, keyPostCase, "old-release-post").Val() {
		t.Fatal("a post id still names the archived case")
	}
	if out, id, err := s.Record(ctx, Post{ID: "old-release-post", AuthorID: "archive-resolved", Text: "t", CreatedAt: time.Now()},
		classifier.Result{Level: 8, PHigh: 0.8}, false); err != nil || out != OutcomeDuplicate || id != resolved {
		t.Fatalf("the archived case's post delivered again: %v %s %v; want a duplicate", out, id, err)
	}
	if n := rs.Client.XLen(ctx, keyOutcomes).Val(); n != 0 {
		t.Fatalf("%d resolutions left", n)
	}
	lines := readArchive(t, buf.Bytes())
	var kinds, actors, cases, outcomes []string
	for _, l := range lines {
		kinds = append(kinds, l.Kind)
		switch l.Kind {
		case "audit":
			actors = append(actors, l.Actor)
		case "outcome":
			outcomes = append(outcomes, fmt.Sprintf("%s:%d:%s", l.Case, l.Level, l.Outcome))
		case "case":
			cases = append(cases, l.ID+":"+l.State)
			if len(l.Audit) < 3 || l.Audit[0].Action != "created" {
				t.Fatalf("case %s archived with its audit %+v", l.ID, l.Audit)
			}
		}
	}
	if !slices.Contains(outcomes, resolved+":8:reached_safe") || !slices.Contains(outcomes, chain2+":9:reached_safe") {
		t.Fatalf("archived resolutions %v", outcomes)
	}
	if actors[0] != "old-0" || actors[1] != "old-1" || len(actors) != a.Events {
		t.Fatalf("audit events %v, want the old ones first", actors[:2])
	}
	// The case read meanwhile was written too, and stays: a later run
	// writes it again.
	slices.Sort(cases)
	want := []string{resolved + ":resolved", erased + ":deleted", readLater + ":resolved"}
	slices.Sort(want)
	if !slices.Equal(cases, want) || len(kinds) != a.Events+a.Outcomes+3 {
		t.Fatalf("archived cases %v, want %v; %d lines", cases, want, len(kinds))
	}
	for _, author := range []string{"archive-resolved", "archive-erased", testIDs.Author("archive-resolved"), testIDs.Author("archive-erased")} {
		if bytes.Contains(buf.Bytes(), []byte(author)) {
			t.Fatalf("the archive names the author (%s)", author)
		}
	}
	if n := auditCount(t, s, "", 10, func(e AuditEvent) bool {
		return e.Action == "archived" && e.Actor == "cli:ops" && strings.Contains(e.Detail, " cases=2 kept=5 ")
	}); n != 1 {
		t.Fatal("the archive is not audited")
	}
	if c, err := s.Get(ctx, "supervisor", later, false); err != nil || c.Level != 7 {
		t.Fatalf("the author's open case after the archive: %+v, %v", c, err)
	}
	// The open case still names the archived one as previous; an
	// erasure of the author erases the one case left, and counts one.
	if n, err := s.ForgetAuthor(ctx, "admin", "archive-resolved"); err != nil || n != 1 {
		t.Fatalf("an erasure after the archive: %d cases, %v; want 1", n, err)
	}

	// Again, once the earlier case's text has expired: the case read
	// meanwhile goes now, and the author's two cases (removed oldest
	// first, or the later would stay behind the earlier).
	rs.Client.Del(ctx, keyCasePosts(chain1))
	buf.Reset()
	if a, err = s.Archive(ctx, "cli:ops", cut, &buf, func() error { return nil }); err != nil || a.Cases != 3 || a.Kept != 2 || a.Outcomes != 0 || a.Events != 0 {
		t.Fatalf("a second archive: %+v, %v; want the case read meanwhile and the author's two", a, err)
	}
	lines = readArchive(t, buf.Bytes())
	var ids []string
	for _, l := range lines {
		ids = append(ids, l.ID)
	}
	slices.Sort(ids)
	want = []string{readLater, chain1, chain2}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("a second archive wrote %v; want %v", ids, want)
	}
	if got := present(); !slices.Equal(got, []string{withText, followUp, open, later}) {
		t.Fatalf("cases left after the second archive %v", got)
	}
	if _, err := s.Get(ctx, "supervisor", readLater, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an archived case's page: %v, want not found", err)
	}
}
