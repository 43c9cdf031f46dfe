package ingest

import "sync"

// tracker keeps, for each partition, the offsets fetched and not yet
// committed, in fetch order, and which of them are done. The commit point
// of a partition is one past the last offset of its contiguous done
// prefix: a slow message holds back every later one in its partition, so
// a crash redelivers it and everything after it, never skips it.
type tracker struct {
	mu    sync.Mutex
	parts map[int]*partTrack
}

type partTrack struct {
	pending   []int64 // fetched, not yet passed by the commit point, in fetch order
	done      map[int64]struct{}
	commit    int64 // next offset to commit (one past the done prefix); -1: none yet
	committed int64 // last offset committed to the broker; -1: none yet
}

func newTracker() *tracker { return &tracker{parts: make(map[int]*partTrack)} }

// fetched records a fetched offset. An offset at or below the last one
// fetched means the partition was re-assigned and is being read again
// from its committed offset: the partition's pending list starts over.
func (t *tracker) fetched(partition int, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[partition]
	if p == nil {
		p = &partTrack{done: make(map[int64]struct{}), commit: -1, committed: -1}
		t.parts[partition] = p
	}
	if n := len(p.pending); n > 0 && offset <= p.pending[n-1] {
		p.pending = p.pending[:0]
		for o := range p.done {
			if o < offset {
				delete(p.done, o)
			}
		}
	}
	p.pending = append(p.pending, offset)
}

// markDone records that the outcome of the message at offset is durable.
func (t *tracker) markDone(partition int, offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[partition]
	if p == nil {
		return
	}
	p.done[offset] = struct{}{}
	i := 0
	for ; i < len(p.pending); i++ {
		o := p.pending[i]
		if _, ok := p.done[o]; !ok {
			break
		}
		delete(p.done, o)
		p.commit = o + 1
	}
	if i > 0 {
		p.pending = append(p.pending[:0], p.pending[i:]...)
	}
}

// toCommit returns, for each partition whose commit point moved since its
// last commit, the offset to commit.
func (t *tracker) toCommit() map[int]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out map[int]int64
	for part, p := range t.parts {
		if p.commit > p.committed {
			if out == nil {
				out = make(map[int]int64)
			}
			out[part] = p.commit
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

// inFlight counts fetched messages not yet passed by a commit point.
func (t *tracker) inFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.parts {
		n += len(p.pending)
	}
	return n
}
