package ingest

import "sync"

// tracker keeps, for each partition, the offsets fetched and not yet done
// (a multiset: after a rebalance kafka-go may deliver an offset again, and
// may still deliver stale messages of the old assignment; every copy is
// handled and counted). The commit point of a partition is its smallest
// outstanding offset, or one past the highest offset fetched when none is
// outstanding: a slow message holds back every later one in its
// partition, so a crash redelivers it and everything after it, never
// skips it. Within one assignment kafka-go delivers a partition's offsets
// in order, so everything below the highest fetched offset was fetched.
type tracker struct {
	mu    sync.Mutex
	parts map[int]*partTrack
}

type partTrack struct {
	outstanding map[int64]int // offset -> copies fetched and not yet done
	maxFetched  int64         // highest offset fetched; -1: none
	low         int64         // lowest offset fetched; a commit must pass it to mean progress
	committed   int64         // last offset committed to the broker; -1: none yet
}

func newTracker() *tracker { return &tracker{parts: make(map[int]*partTrack)} }

// fetched records a fetched offset.
func (t *tracker) fetched(partition int, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[partition]
	if p == nil {
		p = &partTrack{outstanding: make(map[int64]int), maxFetched: -1, low: offset, committed: -1}
		t.parts[partition] = p
	}
	p.outstanding[offset]++
	p.maxFetched = max(p.maxFetched, offset)
	p.low = min(p.low, offset)
}

// markDone records that the outcome of one fetched copy of the message at
// offset is durable.
func (t *tracker) markDone(partition int, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[partition]
	if p == nil {
		return
	}
	if n := p.outstanding[offset]; n > 1 {
		p.outstanding[offset] = n - 1
	} else {
		delete(p.outstanding, offset)
	}
}

// toCommit returns, for each partition whose commit point moved past its
// last commit, the offset to commit.
func (t *tracker) toCommit() map[int]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out map[int]int64
	for part, p := range t.parts {
		point := p.maxFetched + 1
		for o := range p.outstanding {
			point = min(point, o)
		}
		if point > p.committed && point > p.low {
			if out == nil {
				out = make(map[int]int64)
			}
			out[part] = point
		}
	}
	return out
}

// committed records a successful commit.
func (t *tracker) committed(offsets map[int]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for part, o := range offsets {
		if p := t.parts[part]; p != nil && o > p.committed {
			p.committed = o
		}
	}
}

// inFlight counts fetched copies not yet done.
func (t *tracker) inFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.parts {
		for _, c := range p.outstanding {
			n += c
		}
	}
	return n
}
