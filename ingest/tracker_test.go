package ingest

import (
	"hash/fnv"
	"math/rand/v2"
	"testing"
)

func TestTrackerCommitsOnlyContiguousPrefix(t *testing.T) {
	tr := newTracker()
	for o := int64(10); o < 15; o++ {
		tr.fetched(0, o)
	}
	tr.markDone(0, 12)
	tr.markDone(0, 13)
	if got := tr.toCommit(); len(got) != 0 {
		t.Fatalf("committed past an unfinished offset: %v", got)
	}
	tr.markDone(0, 10)
	if got := tr.toCommit()[0]; got != 11 {
		t.Fatalf("commit point %d, want 11 (offset 11 is still in flight)", got)
	}
	tr.markDone(0, 11)
	if got := tr.toCommit()[0]; got != 14 {
		t.Fatalf("commit point %d, want 14", got)
	}
	tr.committed(map[int]int64{0: 14})
	if got := tr.toCommit(); len(got) != 0 {
		t.Fatalf("recommitted an unchanged point: %v", got)
	}
	if n := tr.inFlight(); n != 1 {
		t.Fatalf("in flight %d, want 1", n)
	}
}

// TestTrackerRefetchAfterRebalance: a partition read again from an
// earlier offset (after a rebalance), with every copy still handled: the
// commit point waits for every copy and never passes an unfinished one.
func TestTrackerRefetchAfterRebalance(t *testing.T) {
	tr := newTracker()
	for o := int64(0); o < 5; o++ {
		tr.fetched(1, o)
	}
	tr.markDone(1, 0)
	tr.markDone(1, 3)
	// Rebalance: the partition comes back from its committed offset 1,
	// while the first copies of 1, 2 and 4 are still being handled.
	for o := int64(1); o < 5; o++ {
		tr.fetched(1, o)
	}
	tr.markDone(1, 1) // first copy of 1
	tr.markDone(1, 2)
	if got := tr.toCommit()[1]; got != 1 {
		t.Fatalf("commit point %d, want 1: the second copy of 1 is in flight", got)
	}
	for _, o := range []int64{1, 2, 3, 4} { // second copies
		tr.markDone(1, o)
	}
	if got := tr.toCommit()[1]; got != 4 {
		t.Fatalf("commit point %d, want 4: the first copy of 4 is in flight", got)
	}
	tr.markDone(1, 4)
	if got := tr.toCommit()[1]; got != 5 {
		t.Fatalf("commit point %d, want 5", got)
	}
	// A stale message of the old assignment, delivered late, holds the
	// commit point at itself until it is done.
	tr.committed(map[int]int64{1: 5})
	tr.fetched(1, 3)
	if got, ok := tr.toCommit()[1]; ok {
		t.Fatalf("commit %d while a stale copy is in flight", got)
	}
	tr.markDone(1, 3)
	if n := tr.inFlight(); n != 0 {
		t.Fatalf("in flight %d", n)
	}
}

// TestTrackerRandomOrder: whatever order work finishes in, the commit
// point is always one past the contiguous done prefix.
func TestTrackerRandomOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		tr := newTracker()
		n := 1 + rng.IntN(50)
		for o := 0; o < n; o++ {
			tr.fetched(0, int64(o))
		}
		done := make([]bool, n)
		for _, o := range rng.Perm(n) {
			tr.markDone(0, int64(o))
			done[o] = true
			want := int64(0)
			for want < int64(n) && done[want] {
				want++
			}
			got, ok := tr.toCommit()[0]
			if want == 0 && ok {
				t.Fatalf("commit %d with offset 0 not done", got)
			}
			if want > 0 && got != want {
				t.Fatalf("trial %d: commit %d, want %d", trial, got, want)
			}
		}
	}
}

func TestFNV32aMatchesHashFNV(t *testing.T) {
	for _, k := range []string{"", "a", "author-42", "作者"} {
		h := fnv.New32a()
		h.Write([]byte(k))
		if got, want := fnv32a([]byte(k)), h.Sum32(); got != want {
			t.Errorf("%q: %d, want %d", k, got, want)
		}
	}
}
