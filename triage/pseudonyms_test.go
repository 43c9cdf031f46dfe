package triage

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"lookout/classifier"
)

// TestPseudonymsAreHMACs: with a key each pseudonym is an HMAC-SHA-256
// of the id (as crypto/hmac computes it, for short ids and long ones);
// without one, the plain hashes lookout wrote before keys.
func TestPseudonymsAreHMACs(t *testing.T) {
	const key = "k3y-0f-at-least-thirty-two-characters!"
	p, err := NewPseudonyms(key)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key string, parts ...string) []byte {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(strings.Join(parts, "\x00")))
		return m.Sum(nil)
	}
	long := strings.Repeat("4912345678901234567", 40) // past the hashing buffer
	for _, id := range []string{"", "5012345678", "帖子-1", long} {
		if got, want := p.Author(id), hex.EncodeToString(mac(key, "lookout-author", id)[:16]); got != want {
			t.Fatalf("Author(%.20q) = %s, want %s", id, got, want)
		}
		if got, want := p.Case("a"+id, id), "c"+hex.EncodeToString(mac(key, "lookout-case", "a"+id, id)[:10]); got != want {
			t.Fatalf("Case = %s, want %s", got, want)
		}
		if got, want := p.Post(id), hex.EncodeToString(mac(key, "lookout-post-index", id)[:20]); got != want {
			t.Fatalf("Post = %s, want %s", got, want)
		}
		if got, want := p.ScoreKey(id), hex.EncodeToString(mac(key, "lookout-post", id)[:8]); got != want {
			t.Fatalf("ScoreKey = %s, want %s", got, want)
		}
		// Without a key: the plain hashes of earlier releases.
		var plain Pseudonyms
		a := sha256.Sum256([]byte("lookout-author\x00" + id))
		s := sha256.Sum256([]byte("lookout-post\x00" + id))
		h := sha1.Sum([]byte(id))
		if plain.Author(id) != hex.EncodeToString(a[:16]) || plain.ScoreKey(id) != hex.EncodeToString(s[:8]) ||
			plain.Post(id) != hex.EncodeToString(h[:]) || p.legacyAuthor(id) != plain.Author(id) || plain.legacyAuthor(id) != "" {
			t.Fatalf("the plain hashes of %.20q changed", id)
		}
	}
	// A key longer than SHA-256's block is hashed first, as HMAC does.
	longKey := strings.Repeat("k", 100)
	q, err := NewPseudonyms(longKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := q.Author("x"), hex.EncodeToString(mac(longKey, "lookout-author", "x")[:16]); got != want {
		t.Fatalf("long key: Author = %s, want %s", got, want)
	}
	if q.Author("x") == p.Author("x") || q.check() == p.check() {
		t.Fatal("two keys gave the same pseudonym")
	}
	if _, err := NewPseudonyms("short"); err == nil || !strings.Contains(err.Error(), "32 characters") {
		t.Fatalf("a 5-character key: %v", err)
	}
	// The score record keys every post: no allocation.
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = p.appendScoreKey(buf[:0], "5012345678901234") }); n != 0 {
		t.Fatalf("appendScoreKey: %.0f allocations", n)
	}
}

// TestKeyedRedisHoldsNoIDs: with a key, nothing in Redis is a post id, a
// plain hash of one, or a plain hash of the author, from the first post
// on (the post index never holds the id).
func TestKeyedRedisHoldsNoIDs(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	if err := s.CheckPseudonyms(ctx); err != nil {
		t.Fatal(err)
	}
	const author, postID = "5012345678", "4912345678901234"
	id, err := s.RecordBatch(ctx, []Scored{{Post: Post{ID: postID, AuthorID: author, Text: "我想死", CreatedAt: time.Now()},
		Result: classifier.Result{Level: 8, PHigh: 0.8}}}, nil)
	if err != nil || id[0].Outcome != OutcomeCreated {
		t.Fatalf("record: %+v %v", id, err)
	}
	var plain Pseudonyms
	ph := sha1.Sum([]byte(postID))
	check := func(when string) {
		t.Helper()
		for k, dump := range dumpRedis(t, rs.Client) {
			if k == keyCasePosts(id[0].CaseID) || k == keyCasePII(id[0].CaseID) {
				continue // the case's timeline and identity, shown to volunteers, expire with it
			}
			for _, leak := range []string{postID, hex.EncodeToString(ph[:]), plain.Author(author), plain.ScoreKey(postID), plain.Case(author, postID)} {
				if strings.Contains(k+" "+dump, leak) {
					t.Fatalf("%s: %s holds %s: %s", when, k, leak, dump)
				}
			}
		}
	}
	check("open")
	l := claim(t, s, "vol", RoleVolunteer, id[0].CaseID)
	if err := s.Resolve(ctx, "vol", id[0].CaseID, l.Token, Resolution{Outcome: "reached_safe"}); err != nil {
		t.Fatal(err)
	}
	check("resolved")
	// The index still finds the post delivered again.
	if out, cid, err := s.Record(ctx, Post{ID: postID, AuthorID: author, Text: "我想死"}, classifier.Result{Level: 8, PHigh: 0.8}, false); err != nil || out != OutcomeDuplicate || cid != id[0].CaseID {
		t.Fatalf("redelivered: %v %s %v", out, cid, err)
	}
}

// TestCheckPseudonyms: one key per Redis. A keyed Redis refuses a store
// with another key or none; a Redis written without a key takes one: the
// cases whose author it still knows move to the keyed author key at once,
// the others as their author posts again; a person keeps one case (their
// next post joins their open case, a later case links the resolved one),
// a redelivered post is a duplicate, and a deletion request finds cases
// indexed either way.
func TestCheckPseudonyms(t *testing.T) {
	old, rs := newTestStore(t)
	old.ids = Pseudonyms{} // a deployment from before keys
	ctx := ctxT()
	if err := old.CheckPseudonyms(ctx); err != nil {
		t.Fatal(err)
	}
	if rs.Client.Exists(ctx, keyPseudonym).Val() != 0 {
		t.Fatal("a store without a key wrote a check")
	}
	record := func(s *Store, post, author string, level int) Recorded {
		t.Helper()
		out, err := s.RecordBatch(ctx, []Scored{{Post: Post{ID: post, AuthorID: author, Text: "我想死", CreatedAt: time.Now()},
			Result: classifier.Result{Level: level, PHigh: 0.8}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	open := record(old, "p-open", "author-open", 8).CaseID
	gone := record(old, "p-gone", "author-gone", 8).CaseID
	l := claim(t, old, "vol", RoleVolunteer, gone)
	if err := old.Resolve(ctx, "vol", gone, l.Token, Resolution{Outcome: "reached_safe"}); err != nil {
		t.Fatal(err)
	}
	erased := record(old, "p-erase", "author-erase", 9).CaseID
	waiting := record(old, "p-wait", "author-waiting", 8).CaseID
	late := record(old, "p-late", "author-late", 8).CaseID
	// The resolved case's identity has expired; the others' are as if
	// an instance without the key wrote them after the move (erased, and
	// late): their authors move only when found.
	rs.Client.Del(ctx, keyCasePII(gone), keyCasePII(erased), keyCasePII(late))
	// An open case's post indexed by its id, as releases before keys did.
	rs.Client.HDel(ctx, keyPostHash, old.ids.Post("p-open"))
	rs.Client.HSet(ctx, keyPostCase, "p-open", open)

	keyed, err := NewStore(rs.Client, DefaultRouting(), testIDs)
	if err != nil {
		t.Fatal(err)
	}
	if err := keyed.CheckPseudonyms(ctx); err != nil {
		t.Fatalf("a keyed store on a Redis written without a key: %v", err)
	}
	if rs.Client.HLen(ctx, keyPostCase).Val() != 0 || rs.Client.HGet(ctx, keyPostHash, testIDs.Post("p-open")).Val() != open {
		t.Fatal("the open case's post id was not replaced by its key")
	}
	var plain Pseudonyms
	if rs.Client.HGet(ctx, keyOpen, testIDs.Author("author-waiting")).Val() != waiting || rs.Client.HExists(ctx, keyOpen, plain.Author("author-waiting")).Val() ||
		rs.Client.HGet(ctx, keyCase(waiting), "author_key").Val() != testIDs.Author("author-waiting") {
		t.Fatal("a case whose author Redis knows did not move to the keyed author key")
	}
	if rs.Client.HGet(ctx, keyLast, plain.Author("author-gone")).Val() != gone {
		t.Fatal("a case whose identity expired moved before its author posted")
	}
	if err := old.CheckPseudonyms(ctx); err == nil || !strings.Contains(err.Error(), "set the key") {
		t.Fatalf("a store without a key on a keyed Redis: %v", err)
	}
	other, _ := NewPseudonyms(strings.Repeat("another key ", 4))
	otherStore, _ := NewStore(rs.Client, DefaultRouting(), other)
	if err := otherStore.CheckPseudonyms(ctx); err == nil || !strings.Contains(err.Error(), "same key") {
		t.Fatalf("a store with another key: %v", err)
	}
	if err := keyed.CheckPseudonyms(ctx); err != nil {
		t.Fatalf("the same key again: %v", err)
	}
	// Instances already running without the key, or with another, stall:
	// each flagged post they record is refused (and retried), and writes
	// nothing.
	for _, st := range []*Store{old, otherStore} {
		_, err := st.RecordBatch(ctx, []Scored{{Post: Post{ID: "p-stale", AuthorID: "author-stale", Text: "我想死", CreatedAt: time.Now()},
			Result: classifier.Result{Level: 8, PHigh: 0.8}}}, nil)
		if err == nil || !strings.Contains(err.Error(), "another pseudonym key") {
			t.Fatalf("a running instance with another key recorded a flagged post: %v", err)
		}
	}
	for _, k := range []string{plain.Author("author-stale"), other.Author("author-stale")} {
		if rs.Client.HExists(ctx, keyOpen, k).Val() {
			t.Fatal("a refused post opened a case")
		}
	}

	if r := record(keyed, "p-open", "author-open", 8); r.Outcome != OutcomeDuplicate || r.CaseID != open {
		t.Fatalf("the open case's post delivered again: %+v", r)
	}
	if r := record(keyed, "p-gone", "author-gone", 8); r.Outcome != OutcomeDuplicate || r.CaseID != gone {
		t.Fatalf("the resolved case's post delivered again: %+v", r)
	}
	if r := record(keyed, "p-open-2", "author-open", 9); r.Outcome != OutcomeJoined || r.CaseID != open {
		t.Fatalf("the author's next post: %+v, want it joined to %s", r, open)
	}
	next := record(keyed, "p-gone-2", "author-gone", 8)
	if next.Outcome != OutcomeCreated {
		t.Fatalf("after the resolved case: %+v", next)
	}
	if c, _ := keyed.peek(ctx, next.CaseID); c.Previous != gone {
		t.Fatalf("the new case links %q, want the resolved %s", c.Previous, gone)
	}
	if r := record(keyed, "p-late-2", "author-late", 8); r.Outcome != OutcomeJoined || r.CaseID != late {
		t.Fatalf("the next post of an author indexed by the plain hash: %+v, want it joined to %s", r, late)
	}
	for _, a := range []string{"author-open", "author-gone", "author-late"} {
		for _, k := range []string{keyOpen, keyLast} {
			if rs.Client.HExists(ctx, k, plain.Author(a)).Val() {
				t.Fatalf("%s still indexes %s by the plain hash", k, a)
			}
		}
	}
	if c := rs.Client.HGet(ctx, keyCase(open), "author_key").Val(); c != testIDs.Author("author-open") {
		t.Fatalf("the open case's author key %s stayed the plain hash", c)
	}
	if n, err := keyed.ForgetAuthor(ctx, "admin", "author-erase"); err != nil || n != 1 {
		t.Fatalf("erasing an author indexed by the plain hash: %d, %v", n, err)
	}
	if c, _ := keyed.peek(ctx, erased); c.State != "deleted" {
		t.Fatalf("the erased author's case is %s", c.State)
	}
}
