package triage

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"lookout/classifier"
)

// TestRetentionReleasesContent (R12, scaled down): 2,000 cases with long
// posts are resolved; after the retention period every content key is
// gone, Redis memory falls back to near its level before the posts, the
// audit remains, and no content key ever lacked a TTL after resolution;
// archived, the ids-only records go too. LOOKOUT_R12_CASES=100000 runs
// R12 at full size (about 12 minutes; not in make test).
func TestRetentionReleasesContent(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 2,000 cases")
	}
	n := 2000
	if v := os.Getenv("LOOKOUT_R12_CASES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("LOOKOUT_R12_CASES=%q: want a number of cases", v)
		}
	}
	// The retention outlasts creating and resolving the cases (4 s for
	// 2,000, more on a loaded machine), so that the peak holds all their
	// content: with 2 s, cases expired before the peak was read, and the
	// check below failed whenever the machine was busy.
	retention := max(15*time.Second, time.Duration(n)*4200*time.Microsecond)
	s, rs := newTestStore(t, func(r *Routing) { r.Retention = retention; r.CapTotal = 50 })
	ctx := ctxT()
	mem := func() int64 { return infoInt(rs.Client.Info(ctx, "memory").Val(), "used_memory") }
	base := mem()
	text := strings.Repeat("今天真的撑不下去了，", 100) // ~3 KB a post
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		_, id, err := s.Record(ctx, Post{ID: fmt.Sprintf("ret-%d", i), AuthorID: fmt.Sprintf("ret-a-%d", i), Text: text, CreatedAt: time.Now()},
			classifier.Result{Level: 7, PHigh: 0.8}, false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i, id := range ids {
		actor := fmt.Sprintf("vol-%d", i%40)
		l, err := s.Claim(ctx, actor, RoleVolunteer, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddNote(ctx, actor, RoleVolunteer, id, l.Token, "note "+text[:30]); err != nil {
			t.Fatal(err)
		}
		if err := s.Resolve(ctx, actor, id, l.Token, Resolution{Outcome: "reached_safe"}); err != nil {
			t.Fatal(err)
		}
	}
	peak := mem()
	if ex := rs.Client.Exists(ctx, keyCasePosts(ids[0])).Val(); ex == 0 {
		t.Fatalf("the first case's posts expired before all cases were resolved (over %v): the peak would not hold them", retention)
	}
	// Every content key of a resolved case carries a TTL.
	for _, id := range ids[:50] {
		for _, k := range []string{keyCasePosts(id), keyCaseNotes(id), keyCasePII(id)} {
			// -1: no TTL (a failure); -2: already expired and gone.
			if ttl := rs.Client.PTTL(ctx, k).Val(); ttl.Nanoseconds() == -1 {
				t.Fatalf("%s has no TTL", k)
			}
		}
	}
	deadline := time.Now().Add(retention + 30*time.Second)
	for {
		left := 0
		for _, id := range ids {
			left += int(rs.Client.Exists(ctx, keyCasePosts(id), keyCaseNotes(id), keyCasePII(id)).Val())
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d content keys remain after retention", left)
		}
		time.Sleep(500 * time.Millisecond)
	}
	after := mem()
	content := peak - base
	residue := after - base
	t.Logf("used memory: before %d KB, with %d resolved cases %d KB, after retention %d KB", base/1024, n, peak/1024, after/1024)
	// What stays is the ids-only record (case hash, audit, post index):
	// bounded per case, and far smaller than the text that went.
	if residue > content/2 || residue/int64(n) > 3072 {
		t.Fatalf("after retention %d bytes of %d remain (%d a case): memory did not return near baseline", residue, content, residue/int64(n))
	}
	if ev, _ := s.Audit(ctx, ids[0], 0); len(ev) < 4 {
		t.Fatalf("audit of a resolved case: %d events", len(ev))
	}
	// Archived (lookout archive), the ids-only records, the resolutions
	// and the audit go too, and memory returns to near where it was before
	// the posts. What stays is the post index (a redelivered post must not
	// open a new case; 80 bytes a post here), the capped stream of scores,
	// and what Redis keeps once it has run scripts.
	a, err := s.Archive(ctx, "cli:ops", time.Now().Add(time.Millisecond), io.Discard, func() error { return nil })
	if err != nil || a.Cases != n || a.Outcomes != n {
		t.Fatalf("archive: %+v, %v; want the %d cases and their resolutions", a, err, n)
	}
	archived := mem()
	t.Logf("used memory after the archive: %d KB (%d bytes a case above the start)", archived/1024, (archived-base)/int64(n))
	if archived-base > residue/3 {
		t.Fatalf("after the archive %d bytes remain of the %d retention left: memory did not return near baseline", archived-base, residue)
	}
}
