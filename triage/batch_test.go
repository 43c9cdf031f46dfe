package triage

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"lookout/classifier"
)

// One batch mixes unflagged posts, a new case, a join by the same author
// within the batch, and a redelivered post; the outcomes come back in
// order and the score record holds every post once, ids intact.
func TestRecordBatch(t *testing.T) {
	s, rs := newTestStore(t)
	ctx := ctxT()
	at := time.Now()
	odd := "id with spaces, \"quotes\"\nand a newline 😭"
	batch := []Scored{
		{Post: Post{ID: "b1", AuthorID: "ann", Text: "t", CreatedAt: at}, Result: classifier.Result{Level: 1, PHigh: 0.01}},
		{Post: Post{ID: "b2", AuthorID: "ben", Text: "t", CreatedAt: at}, Result: classifier.Result{Level: 7, PHigh: 0.8}},
		{Post: Post{ID: odd, AuthorID: "cat", Text: "t", CreatedAt: at}, Result: classifier.Result{Level: 0, PHigh: 0}},
		{Post: Post{ID: "b4", AuthorID: "ben", Text: "t", CreatedAt: at}, Result: classifier.Result{Level: 9, PHigh: 0.97}},
		{Post: Post{ID: "b2", AuthorID: "ben", Text: "t", CreatedAt: at}, Result: classifier.Result{Level: 7, PHigh: 0.8}},
	}
	out, err := s.RecordBatch(ctx, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Outcome{OutcomeNotFlagged, OutcomeCreated, OutcomeNotFlagged, OutcomeJoined, OutcomeDuplicate}
	for i, r := range out {
		if r.Outcome != want[i] {
			t.Fatalf("post %d: %s, want %s (all: %+v)", i, r.Outcome, want[i], out)
		}
	}
	if out[1].CaseID == "" || out[3].CaseID != out[1].CaseID || out[4].CaseID != out[1].CaseID {
		t.Fatalf("case ids %+v", out)
	}
	if c, _ := s.peek(ctx, out[1].CaseID); c.Level != 9 || c.Posts != 2 {
		t.Fatalf("case %+v", c)
	}
	var ids []string
	var levels []int
	if err := s.EachScore(ctx, time.Time{}, func(r ScoreRecord) {
		ids = append(ids, r.PostKey)
		levels = append(levels, r.Level)
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{testIDs.ScoreKey("b1"), testIDs.ScoreKey("b2"), testIDs.ScoreKey(odd), testIDs.ScoreKey("b4"), testIDs.ScoreKey("b2")}) || !slices.Equal(levels, []int{1, 7, 0, 9, 7}) {
		t.Fatalf("score record %q %v", ids, levels)
	}

	// Redis lost its script cache (as after a restart): the batch loads
	// the script again and records everything.
	if err := rs.Client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	var again []Scored
	for i := range 3 {
		again = append(again, Scored{Post: Post{ID: fmt.Sprintf("after-flush-%d", i), AuthorID: fmt.Sprintf("flush-%d", i), Text: "t", CreatedAt: at},
			Result: classifier.Result{Level: 6 + i, PHigh: 0.7}})
	}
	out, err = s.RecordBatch(ctx, again, out[:0])
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out {
		if r.Outcome != OutcomeCreated {
			t.Fatalf("after script flush, post %d: %s", i, r.Outcome)
		}
	}
	n := 0
	if err := s.EachScore(ctx, time.Time{}, func(ScoreRecord) { n++ }); err != nil || n != 8 {
		t.Fatalf("score record holds %d posts, want 8 (%v)", n, err)
	}
}

// BenchmarkRecordBatch records batches of 64 posts, one in 20 flagged (a
// new case each), on a real redis-server: the case-creation hot path.
func BenchmarkRecordBatch(b *testing.B) {
	s, _ := newTestStore(b)
	ctx := ctxT()
	batch := make([]Scored, 64)
	out := make([]Recorded, 0, 64)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			n++
			level := 1
			if n%20 == 0 {
				level = 8
			}
			batch[i] = Scored{Post: Post{ID: fmt.Sprintf("bench-%d", n), AuthorID: fmt.Sprintf("bench-author-%d", n), Text: "今天天气不错",
				CreatedAt: time.Now()}, Result: classifier.Result{Level: level, PHigh: 0.1}}
		}
		var err error
		if out, err = s.RecordBatch(ctx, batch, out[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/post")
}
